#!/usr/bin/env bash
# Set up the course environment in ./.venv (once; again whenever pyproject.toml or
# constraints.txt change) and run one task:
#
#   ./run.sh demo    the main job: train the reference net on offline data, print curves
#   ./run.sh test    the full test suite, notebooks included; with arguments, just
#                    `pytest ARGS` (e.g. ./run.sh test tests/dl -k adam)
#
# Needs only Python >= 3.10 with the venv module. PYTHON picks the interpreter.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu pins the CPU torch wheel on machines
# whose package index would otherwise serve the CUDA build.
set -euo pipefail
cd "$(dirname "$0")"

venv=.venv
python=${PYTHON:-python3}
stamp="$venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"

if [ ! -f "$stamp" ]; then
    echo "== setting up $venv (pinned versions from constraints.txt) =="
    "$python" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    extra=()
    if [ -n "${TORCH_INDEX:-}" ]; then extra=(--extra-index-url "$TORCH_INDEX"); fi
    # torch first and alone, from its pin, so nothing else can pull a CUDA build.
    "${pip[@]}" "${extra[@]}" -c constraints.txt torch
    "${pip[@]}" -c constraints.txt -e '.[dev]'
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi

task=${1:-}
shift || true
case "$task" in
    demo) exec "$venv/bin/dl-course" demo "$@" ;;
    test)
        if [ $# -gt 0 ]; then exec "$venv/bin/python" -m pytest "$@"; fi
        # Notebook CI in smoke mode: every source notebook (solutions in place) and every release
        # with the reference filled in (the generated `correct` sample), run by nbmake.
        rm -rf .nbmake
        for released in release/*/; do
            "$venv/bin/dl-course" samples "$(basename "$released")" --out .nbmake >/dev/null
        done
        DL_SMOKE=1 exec "$venv/bin/python" -m pytest tests --nbmake source_notebooks .nbmake/*/correct ;;
    *) echo "usage: ./run.sh demo | test [pytest args]" >&2; exit 2 ;;
esac
