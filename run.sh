#!/usr/bin/env bash
# Set up the course environment in ./.venv (once; again whenever pyproject.toml,
# constraints.txt or constraints-colab.txt change) and run one task:
#
#   ./run.sh demo    the main job: train the reference net on offline data, build, release, grade samples
#   ./run.sh test    the full test suite, notebooks included; with arguments, just
#                    `pytest ARGS` (e.g. ./run.sh test tests/dl -k adam)
#
# Needs only Python >= 3.11 with the venv module. PYTHON picks the interpreter.
# TORCH_INDEX is the extra package index torch is installed from: by default PyTorch's CPU index,
# whose wheels are a few hundred MB where PyPI's Linux build pulls gigabytes of CUDA libraries;
# TORCH_INDEX= (empty) installs from the usual indexes only (for a GPU machine, say).
# DL_TEST_WORKERS sets how many processes run the tests (default: one per core, at most 4).
set -euo pipefail
cd "$(dirname "$0")"

venv=.venv
python=${PYTHON:-python3}
stamp="$venv/.installed-$(cat pyproject.toml constraints.txt constraints-colab.txt | sha256sum | cut -c1-16)"

set_up_venv() {
    echo "== setting up $venv (pinned versions from constraints.txt) =="
    local start=$SECONDS
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: the course needs Python >= 3.11; '$python' is $("$python" -V 2>&1 || echo missing)." >&2
        echo "       Install a newer one and point PYTHON at it: PYTHON=python3.12 ./run.sh ..." >&2
        exit 1
    fi
    "$python" -m venv "$venv"
    local pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    local extra=() torch_index=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}
    if [ -n "$torch_index" ] && ! "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' \
            "${torch_index%/}/torch/" >/dev/null 2>&1; then
        # pip would retry it for every package torch needs; say it once and go on without it.
        echo "note: $torch_index cannot be reached; torch comes from the usual package indexes" >&2
        torch_index=
    fi
    if [ -n "$torch_index" ]; then extra=(--extra-index-url "$torch_index"); fi
    # The installer first, at its pinned version: an old pip (Debian 12 ships 23.0) backtracks
    # for a quarter of an hour through a full lock that a current one resolves in seconds.
    "${pip[@]}" -c constraints.txt pip
    # torch next and alone, from its pin, so nothing else can pull a CUDA build. Its CPU build
    # by name: `torch==X` also matches the CUDA builds an index may serve (X+cu130 sorts first).
    local torch_pin
    torch_pin=$(sed -n 's/^torch==\([^ #]*\).*/\1/p' constraints.txt)
    if ! "${pip[@]}" "${extra[@]}" -c constraints.txt "torch==$torch_pin+cpu" 2>/dev/null; then
        echo "note: no CPU build of torch $torch_pin can be had here; installing the default build (with CUDA libraries)" >&2
        "${pip[@]}" "${extra[@]}" -c constraints.txt torch
    fi
    "${pip[@]}" -c constraints.txt -e '.[dev]'
    # Colab's ipywidgets 7, apart: tests/test_colab.py runs a notebook with it (constraints-colab.txt).
    rm -rf "$venv/colab-widgets"
    "${pip[@]}" --no-deps --target "$venv/colab-widgets" -r constraints-colab.txt
    rm -f "$venv"/.installed-*
    touch "$stamp"
    echo "== $venv ready in $((SECONDS - start)) s =="
}

# Debian packages some tests need, as "command:package" pairs: installed with apt-get when we
# are root (or have password-less sudo); otherwise the tests that need them are skipped, and
# pytest's summary prints why.
install_system_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
    fi
    if [ "${sudo[0]:-}" = none ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: ${missing[*]} missing and cannot be installed here (needs root and apt-get); the tests that need them will be skipped" >&2
        return 0
    fi
    echo "== installing ${missing[*]} (Debian packages some tests need) =="
    local log
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update -qq &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        echo "warning: could not install ${missing[*]}; the tests that need them will be skipped:" >&2
        tail -5 "$log" >&2 || true
    fi
    rm -f "$log"
}

if [ ! -f "$stamp" ]; then set_up_venv; fi

task=${1:-}
shift || true
case "$task" in
    demo) exec "$venv/bin/dl-course" demo "$@" ;;
    test)
        # bubblewrap: the autograder's sandbox (README, "Sandbox"); Chromium and its driver: the
        # browser test (tests/browser/).
        install_system_packages bwrap:bubblewrap chromium:chromium chromedriver:chromium-driver
        if [ $# -gt 0 ]; then exec "$venv/bin/python" -m pytest "$@"; fi
        # Every released notebook is executed once, filled in with the reference (the generated
        # `correct` sample), in smoke mode, by nbmake, in parallel with the unit tests.
        rm -rf .nbmake
        for released in release/*/; do
            "$venv/bin/dl-course" samples "$(basename "$released")" --out .nbmake >/dev/null
        done
        cores=$(nproc 2>/dev/null || echo 2)
        workers=${DL_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}
        start=$SECONDS
        status=0
        DL_SMOKE=1 "$venv/bin/python" -m pytest -n "$workers" --dist loadfile --durations=15 \
            tests --nbmake .nbmake/*/correct || status=$?
        echo "== tests took $((SECONDS - start)) s with $workers workers =="
        exit $status ;;
    *) echo "usage: ./run.sh demo | test [pytest args]" >&2; exit 2 ;;
esac
