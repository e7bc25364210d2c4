"""Time naive loops, the numpy fast layers and torch (CPU) on convolution and max pooling.

Usage (from the repository root):

    python benchmarks/conv_benchmark.py            # naive loops on the full batch, best of 2
    python benchmarks/conv_benchmark.py --quick    # naive loops on a few samples, scaled to N

For each layer it prints a table of best-of-R wall-clock seconds (R split over 3 rounds, see
``best_of_rounds``) for the forward pass, the backward pass and both together, for: the naive
loops (float64), ``dl.fast_layers`` (float64 and float32) and ``torch.nn.functional`` on the CPU
(float64 and float32), followed by the ratios fast / torch-float64 and naive / fast. The
course's targets (CURRICULUM §10 and the fast-layers issue): fast conv forward+backward within 2x
of torch float64, and at least 300x faster than the naive loops. Nothing here is asserted;
timings depend on the machine and on its load.

The naive layers are the reference library's ``dl.layers.conv_forward_naive`` and friends. Their
running time is linear in the batch size, so ``--quick`` times them on the first
``--naive-samples`` examples and scales the time by N / samples (the table marks such entries
with ``~``). "naive fwd+bwd" is always the sum of the two passes.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from dl.fast_layers import (  # noqa: E402
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)

NAIVE_NAMES = ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive")


def load_naive():
    """The four naive layers of the reference library (``dl.layers``)."""
    from dl import layers

    return tuple(getattr(layers, name) for name in NAIVE_NAMES), "dl.layers"


# --------------------------------------------------------------------------------------------
# Timing


def time_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of_rounds(families: list, repeats: int, rounds: int = 3, settle: float = 0.2) -> dict:
    """Best-of-``repeats`` seconds of every callable in ``families`` (a list of name -> fn dicts).

    The repeats are split over ``rounds`` rounds so that a burst of load from other processes
    does not spoil all the repeats of one implementation. Within a round each callable runs its
    share back to back, and the script sleeps ``settle`` seconds before each family (numpy, then
    torch): BLAS and OpenMP worker threads keep spinning for a while after a call, and on a
    machine with few cores the threads of one library would otherwise slow down the other's.
    Every callable gets one untimed warm-up call first.
    """
    per_round = -(-repeats // rounds)  # ceil
    best = {}
    for family in families:
        for name, fn in family.items():
            fn()
            best[name] = float("inf")
    for _ in range(rounds):
        for family in families:
            time.sleep(settle)
            for name, fn in family.items():
                for _ in range(per_round):
                    best[name] = min(best[name], time_once(fn))
    return best


def layer_timers(forward, backward, inputs, dout):
    """Callables for forward, backward (on a fixed cache) and forward then backward."""
    _, cache = forward(*inputs)
    return (
        lambda: forward(*inputs),
        lambda: backward(dout, cache),
        lambda: backward(dout, forward(*inputs)[1]),
    )


def torch_timers(op, arrays, dout, dtype):
    """Callables for a torch.nn.functional op: no-grad forward, autograd backward, both."""
    tensors = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    grad_out = torch.tensor(dout, dtype=dtype)
    out = op(*tensors)

    def forward():
        with torch.no_grad():
            op(*tensors)

    return (
        forward,
        lambda: torch.autograd.grad(out, tensors, grad_out, retain_graph=True),
        lambda: torch.autograd.grad(op(*tensors), tensors, grad_out),
    )


def time_naive(forward, backward, inputs, dout, repeats, samples):
    """Best-of times of the naive loops on the first ``samples`` examples, scaled to the batch.

    The loops run once per example, so time is linear in the batch size. Returns the three
    times (fwd+bwd is the sum) and whether they were scaled.
    """
    N = inputs[0].shape[0]
    samples = min(samples, N)
    sliced = (inputs[0][:samples],) + tuple(inputs[1:])
    dout_s = dout[:samples]
    _, cache = forward(*sliced)
    t_fwd = min(time_once(lambda: forward(*sliced)) for _ in range(repeats))
    t_bwd = min(time_once(lambda: backward(dout_s, cache)) for _ in range(repeats))
    scale = N / samples
    return (t_fwd * scale, t_bwd * scale, (t_fwd + t_bwd) * scale), samples < N


# --------------------------------------------------------------------------------------------
# Cases


def conv_case(name, x_shape, w_shape, stride, pad, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    out, _ = conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    title = f"{name}: x {x_shape}, w {w_shape}, stride {stride}, pad {pad}"
    return dict(
        title=title,
        kind="conv",
        arrays=(x, w, b),
        extra=(conv_param,),
        dout=dout,
        torch_op=lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad),
    )


def pool_case(name, x_shape, size, stride, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    pool_param = {"pool_height": size, "pool_width": size, "stride": stride}
    out, _ = max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape)
    title = f"{name}: x {x_shape}, {size}x{size} windows, stride {stride}"
    return dict(
        title=title,
        kind="pool",
        arrays=(x,),
        extra=(pool_param,),
        dout=dout,
        torch_op=lambda x: F.max_pool2d(x, size, stride),
    )


def run_case(case, naive_fns, args):
    kind, arrays, extra, dout = case["kind"], case["arrays"], case["extra"], case["dout"]
    if kind == "conv":
        fast = (conv_forward_fast, conv_backward_fast)
        naive = naive_fns[:2]
    else:
        fast = (max_pool_forward_fast, max_pool_backward_fast)
        naive = naive_fns[2:]
    inputs64 = tuple(arrays) + extra
    inputs32 = tuple(a.astype(np.float32) for a in arrays) + extra
    dout32 = dout.astype(np.float32)

    samples = args.naive_samples if args.quick else arrays[0].shape[0]
    naive_t, scaled = time_naive(*naive, inputs64, dout, args.naive_repeats, samples)
    numpy_impls = {"fast64": layer_timers(*fast, inputs64, dout), "fast32": layer_timers(*fast, inputs32, dout32)}
    torch_impls = {
        "torch64": torch_timers(case["torch_op"], arrays, dout, torch.float64),
        "torch32": torch_timers(case["torch_op"], arrays, dout, torch.float32),
    }
    families = [
        {(impl, i): fn for impl, fns in impls.items() for i, fn in enumerate(fns)}
        for impls in (numpy_impls, torch_impls)
    ]
    best = best_of_rounds(families, args.repeats)
    fast64, fast32, torch64, torch32 = (
        tuple(best[impl, i] for i in range(3)) for impl in (*numpy_impls, *torch_impls)
    )

    # agreement of naive and fast on the examples the naive loops ran on
    n = min(samples, arrays[0].shape[0])
    sliced = (arrays[0][:n],) + tuple(arrays[1:]) + extra
    out_n, cache_n = naive[0](*sliced)
    out_f, cache_f = fast[0](*sliced)
    grads_n, grads_f = naive[1](dout[:n], cache_n), fast[1](dout[:n], cache_f)
    if kind == "pool":
        grads_n, grads_f = (grads_n,), (grads_f,)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip((out_n, *grads_n), (out_f, *grads_f)))

    print(f"\n{case['title']}")
    header = (
        f"{'pass':<9}{'naive f64':>12}{'fast f64':>11}{'fast f32':>11}{'torch f64':>11}"
        f"{'torch f32':>11}{'fast/torch64':>14}{'naive/fast':>12}"
    )
    print(header)
    print("-" * len(header))
    mark = "~" if scaled else " "
    rows = []
    for i, label in enumerate(("forward", "backward", "fwd+bwd")):
        ratio_torch = fast64[i] / torch64[i]
        ratio_naive = naive_t[i] / fast64[i]
        rows.append((label, ratio_torch, ratio_naive))
        print(
            f"{label:<9}{mark}{naive_t[i]:>10.4f} {fast64[i]:>10.5f} {fast32[i]:>10.5f} "
            f"{torch64[i]:>10.5f} {torch32[i]:>10.5f}{ratio_torch:>13.2f}x{ratio_naive:>11.0f}x"
        )
    print(f"max |naive - fast| over out and gradients ({n} examples): {diff:.2e}")
    return rows


def machine_summary() -> str:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    blas = "numpy BLAS: unknown (install threadpoolctl to see it)"
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
                blas = (
                    f"numpy BLAS: {pool['internal_api']} {pool.get('version')} "
                    f"({pool.get('architecture', '?')} kernels, {pool['num_threads']} threads)"
                )
                break
    except ImportError:
        pass
    return (
        f"machine: {cores} usable cores, CPU {model!r}; python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)\n{blas}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="time the naive loops on a few examples and scale")
    parser.add_argument("--repeats", type=int, default=None, help="best of this many runs (fast and torch)")
    parser.add_argument("--naive-samples", type=int, default=8, help="examples the naive loops run on with --quick")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 9 if args.quick else 21
    args.naive_repeats = 1 if args.quick else 2
    if args.repeats < 1 or args.naive_samples < 1:
        parser.error("--repeats and --naive-samples must be >= 1")

    naive_fns, naive_source = load_naive()
    print(machine_summary())
    print(
        f"naive layers: {naive_source}; best of {args.naive_repeats} "
        f"(naive) and {args.repeats} (fast, torch) runs, seconds"
    )
    if args.quick:
        print(f"~ : naive timed on {args.naive_samples} examples and scaled to the batch (--quick)")

    cases = [
        conv_case("conv A (course shape)", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1, seed=231),
        conv_case("conv B (larger layer)", (64, 64, 16, 16), (64, 64, 3, 3), 1, 1, seed=232),
        pool_case("max pool (course shape)", (100, 3, 32, 32), 2, 2, seed=233),
        pool_case("max pool, overlapping windows", (100, 3, 31, 31), 3, 2, seed=234),
    ]
    summary = []
    for case in cases:
        rows = run_case(case, naive_fns, args)
        if case["kind"] == "conv":
            _, ratio_torch, ratio_naive = rows[2]
            summary.append((case["title"].split(":")[0], ratio_torch, ratio_naive))

    print("\ntargets for conv forward+backward (float64): fast/torch <= 2, naive/fast >= 300")
    for name, ratio_torch, ratio_naive in summary:
        torch_ok = "met" if ratio_torch <= 2 else "NOT met"
        naive_ok = "met" if ratio_naive >= 300 else "NOT met"
        print(
            f"  {name}: fast/torch {ratio_torch:.2f}x ({torch_ok}), "
            f"naive/fast {ratio_naive:.0f}x ({naive_ok})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
