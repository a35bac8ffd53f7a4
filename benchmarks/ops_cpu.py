"""CPU speed of the ops a diffusion U-Net spends its time in: minidiff against PyTorch (when
installed) in the same run and process, forward and forward+backward, median of several repeats
after warm-up; and matmul's GFLOP/s against the sgemm rate NumPy's BLAS reaches here.

    python benchmarks/ops_cpu.py [--repeats 7] [--threads 2] [--only conv2d,matmul] [--stat median|min]
                                 [--precision fp32|bf16]

Shapes (float32): conv2d 3x3 64->64 on (32, 64, 28, 28), 128->128 on (32, 128, 14, 14) and
256->128 on (32, 256, 7, 7) (the U-Net's three resolutions), padding 1, with bias; group_norm with 32
groups, affine, on the same tensor; attention as scaled_dot_product_attention over (32, 4, 49, 32):
batch 32, 49 tokens, 128 channels split into 4 heads of 32; linear 512->512 on 4096 rows with bias;
matmul 1024 x 1024 x 1024. Backward passes a fixed random upstream gradient and clears .grad before
each repeat, in both frameworks. Within each repeat the minidiff and torch runs alternate, so a
load spike from another job on the machine hits both; --stat min shows the unloaded speed.
--precision bf16 runs minidiff with ``md.set_float32_matmul_precision("medium")`` (bf16 operands
for every matrix product) and torch's forward under ``torch.autocast("cpu", torch.bfloat16)``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

# torch first: importing minidiff sets GOMP_SPINCOUNT for the OpenMP runtime it loads, and
# torch's own runtime should keep its defaults, as users run it
try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the minidiff columns still run
    torch = None

import minidiff as md  # noqa: E402
import minidiff.functional as F  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns, repeats: int, stat, warmup: int = 2):
    """stat (median or min) of each function's time, the functions run in turn within each repeat
    so that all of them see the same machine load (others' jobs share this machine's cores)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for t, fn in zip(times, fns):
            t.append(timed(fn))
    return [stat(t) for t in times]


def make_cases(rng):
    """name -> (input arrays, minidiff fn, torch fn)."""
    r = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)  # noqa: E731
    return {
        "conv2d 3x3 64->64 28x28 b32": (
            [r(32, 64, 28, 28), r(64, 64, 3, 3, scale=0.05), r(64)],
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            lambda x, w, b: TF.conv2d(x, w, b, padding=1),
        ),
        "conv2d 3x3 128->128 14x14 b32": (
            [r(32, 128, 14, 14), r(128, 128, 3, 3, scale=0.03), r(128)],
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            lambda x, w, b: TF.conv2d(x, w, b, padding=1),
        ),
        "conv2d 3x3 256->128 7x7 b32": (
            [r(32, 256, 7, 7), r(128, 256, 3, 3, scale=0.02), r(128)],
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            lambda x, w, b: TF.conv2d(x, w, b, padding=1),
        ),
        "group_norm 32g (32,64,28,28)": (
            [r(32, 64, 28, 28), r(64), r(64)],
            lambda x, w, b: F.group_norm(x, 32, w, b),
            lambda x, w, b: TF.group_norm(x, 32, w, b),
        ),
        "attention b32 49tok 4x32": (
            [r(32, 4, 49, 32), r(32, 4, 49, 32), r(32, 4, 49, 32)],
            F.scaled_dot_product_attention,
            lambda q, k, v: TF.scaled_dot_product_attention(q, k, v),
        ),
        "linear 512->512 4096 rows": (
            [r(4096, 512), r(512, 512, scale=0.05), r(512)],
            F.linear,
            TF.linear,
        ),
        "matmul 1024^3": (
            [r(1024, 1024), r(1024, 1024)],
            lambda a, b: a @ b,
            lambda a, b: a @ b,
        ),
    }


def minidiff_fns(arrays, fn, grad):
    xs = [md.tensor(a, requires_grad=True) for a in arrays]
    g = md.tensor(grad)

    def fwd():
        with md.no_grad():
            fn(*xs)

    def fwd_bwd():
        for x in xs:
            x.grad = None
        fn(*xs).backward(g)

    return fwd, fwd_bwd


def torch_fns(arrays, fn, grad):
    xs = [torch.from_numpy(a).requires_grad_() for a in arrays]
    g = torch.from_numpy(grad)

    def fwd():
        with torch.no_grad():
            fn(*xs)

    def fwd_bwd():
        for x in xs:
            x.grad = None
        fn(*xs).backward(g)

    return fwd, fwd_bwd


def bf16_autocast(fn):
    """fn's forward under CPU bf16 autocast, its output back in float32 for the float32 gradient."""

    def run(*xs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fn(*xs).float()

    return run


def limit_numpy_blas(threads: int) -> str:
    """Gives NumPy's own BLAS (a separate OpenBLAS) the same thread count, where threadpoolctl
    (a scikit-learn dependency) is there to do it; returns what NumPy's BLAS uses."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return "NumPy BLAS threads: library default (threadpoolctl not installed)"
    libs = [lib for lib in ThreadpoolController().lib_controllers if "numpy" in lib.filepath]
    for lib in libs:
        lib.set_num_threads(threads)
    return f"NumPy BLAS threads: {', '.join(str(lib.num_threads) for lib in libs) or 'not found'}"


def gemm_rates(n: int, repeats: int, stat):
    """GFLOP/s of one n^3 float32 product: minidiff's matmul and NumPy's (its BLAS sgemm)."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    ta, tb = md.tensor(a), md.tensor(b)
    flops = 2.0 * n**3
    # Not interleaved: NumPy's OpenBLAS threads busy-wait for a while after each call, and would
    # take the cores from minidiff's threads (minidiff's own OpenMP waiters sleep). minidiff first.
    (t_md,) = interleaved([lambda: ta @ tb], repeats, stat)
    (t_np,) = interleaved([lambda: a @ b], repeats, stat)
    return flops / t_md / 1e9, flops / t_np / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="threads for minidiff and torch")
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    ap.add_argument("--stat", choices=["median", "min"], default="median", help="statistic over the repeats")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    stat = statistics.median if args.stat == "median" else min
    if args.precision == "bf16":
        md.set_float32_matmul_precision("medium")

    md.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    info = md._core.build_info()
    print(f"minidiff {info['version']}  {info['blas']}  threads={args.threads}  precision={args.precision}")
    print(f"torch {torch.__version__ if torch is not None else 'not installed'}  numpy {np.__version__}")
    print(limit_numpy_blas(args.threads))
    print(
        f"{args.stat} of {args.repeats} repeats after 2 warm-up runs, frameworks interleaved; "
        f"times in ms; ratio = minidiff / torch\n"
    )

    rng = np.random.default_rng(0)
    cases = make_cases(rng)
    cols = ("md fwd", "torch fwd", "ratio", "md f+b", "torch f+b", "ratio")
    header = f"{'op':30s} " + " ".join(f"{c:>{6 if c == 'ratio' else 9}s}" for c in cols)
    print(header)
    print("-" * len(header))
    only = [s for s in args.only.split(",") if s]
    for name, (arrays, fn_md, fn_torch) in cases.items():
        if only and not any(s in name for s in only):
            continue
        with md.no_grad():
            out_shape = fn_md(*[md.tensor(a) for a in arrays]).shape
        grad = rng.standard_normal(out_shape).astype(np.float32)
        fns = list(minidiff_fns(arrays, fn_md, grad))
        if torch is not None:
            fns += torch_fns(arrays, bf16_autocast(fn_torch) if args.precision == "bf16" else fn_torch, grad)
        t = interleaved(fns, args.repeats, stat)
        f_md, fb_md = t[0], t[1]
        row = f"{name:30s} {f_md * 1e3:9.2f}"
        if torch is not None:
            f_t, fb_t = t[2], t[3]
            row += f" {f_t * 1e3:9.2f} {f_md / f_t:6.2f} {fb_md * 1e3:9.2f}"
            row += f" {fb_t * 1e3:9.2f} {fb_md / fb_t:6.2f}"
        else:
            row += f" {'-':>9s} {'-':>6s} {fb_md * 1e3:9.2f} {'-':>9s} {'-':>6s}"
        print(row, flush=True)

    if not only or any(s in "matmul" for s in only):
        g_md, g_np = gemm_rates(1024, args.repeats, stat)
        print(
            f"\nmatmul 1024^3 forward: minidiff ({args.precision}) {g_md:.1f} GFLOP/s, NumPy float32 sgemm "
            f"{g_np:.1f} GFLOP/s ({100 * g_md / g_np:.0f}% of NumPy)"
        )


if __name__ == "__main__":
    main()
