"""Every distinct convolution of a UNet2DModel config, timed forward+backward in minidiff and in
PyTorch on the same device, with how often the U-Net runs it: where the convolution time of a
training step goes, shape by shape (convolutions are most of a step on both devices).

    python benchmarks/conv_shapes.py --config fmnist --batch 32
    python benchmarks/conv_shapes.py --device cuda --config fmnist --batch 128
    python benchmarks/conv_shapes.py --device cuda --batch 128 --layouts batched wide
    python benchmarks/conv_shapes.py --winograd-tiles 2 4            # CPU: F(2x2) against F(4x4)

The shapes come from diffusers' UNet2DModel (forward hooks on its Conv2d modules), so torch and
diffusers must be installed. Times are medians over --repeats runs of conv2d + backward of a fixed
upstream gradient (input, weight and bias all require grad), the two frameworks alternating; on
CUDA each run is synchronised. "step share" is count x time over the sum for all shapes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from configs import CONFIGS  # noqa: E402
from diffusers import UNet2DModel  # noqa: E402

import minidiff as md  # noqa: E402
import minidiff.functional as F  # noqa: E402


def conv_geometries(cfg: dict, batch: int) -> Counter:
    """(input shape, out channels, kernel, stride, padding) -> how many times one forward runs it."""
    model = UNet2DModel(**cfg)
    seen: Counter = Counter()

    def hook(mod, inputs, _out):
        seen[(tuple(inputs[0].shape), mod.out_channels, mod.kernel_size, mod.stride, mod.padding)] += 1

    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d):
            mod.register_forward_hook(hook)
    s, c = cfg["sample_size"], cfg["in_channels"]
    with torch.no_grad():
        model(torch.zeros(batch, c, s, s), torch.zeros(batch, dtype=torch.long))
    return seen


def time_shape(shape, K, ks, st, pd, dev, median_ms, rng, variants) -> tuple[list[float], float]:
    """Median ms of conv2d + backward for one geometry: ([minidiff in each variant], torch). A
    variant is a function that sets minidiff's switches (a conv layout, a Winograd tile), or None."""
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((K, shape[1], *ks)) * 0.05).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    xm, wm, bm = (md.tensor(a, device=dev, requires_grad=True) for a in (x, w, b))
    xt, wt, bt = (torch.tensor(a, device=dev, requires_grad=True) for a in (x, w, b))
    out_shape = tuple(torch.nn.functional.conv2d(xt, wt, bt, stride=st, padding=pd).shape)
    g = rng.standard_normal(out_shape).astype(np.float32)
    gm, gt = md.tensor(g, device=dev), torch.tensor(g, device=dev)

    def run_md():
        F.conv2d(xm, wm, bm, stride=st, padding=pd).backward(gm)

    def run_torch():
        torch.nn.functional.conv2d(xt, wt, bt, stride=st, padding=pd).backward(gt)

    t_md: list[list[float]] = [[] for _ in variants]
    t_torch = []
    for rnd in range(5):  # 2 warm-up rounds (allocator caches, cuBLAS/cuDNN plans), then 3 timed
        for j, variant in enumerate(variants):  # alternate, so a load spike hits all
            if variant:
                variant()
            if rnd < 2:
                run_md()
            else:
                t_md[j].append(median_ms(run_md))
        if rnd < 2:
            run_torch()
        else:
            t_torch.append(median_ms(run_torch))
    return [statistics.median(t) for t in t_md], statistics.median(t_torch)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="fmnist", choices=list(CONFIGS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for both frameworks")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--layouts",
        nargs="+",
        default=None,
        choices=["auto", "batched", "wide", "implicit"],
        help="CUDA: time minidiff in each of these conv layouts (default: the current one)",
    )
    p.add_argument(
        "--winograd-tiles",
        nargs="+",
        default=None,
        choices=["auto", "2", "4"],
        help="CPU: time minidiff with each of these Winograd tiles (default: the current rule)",
    )
    args = p.parse_args()
    if args.layouts and args.winograd_tiles:
        p.error("--layouts and --winograd-tiles: one at a time")
    names, variants = ["minidiff"], [None]
    if args.layouts:
        names = [f"md {layout}" for layout in args.layouts]
        variants = [lambda v=layout: md._core.set_cuda_conv_layout(v) for layout in args.layouts]
    elif args.winograd_tiles:
        names = [f"md {'auto' if t == 'auto' else f'F({t}x{t})'}" for t in args.winograd_tiles]
        tiles = [0 if t == "auto" else int(t) for t in args.winograd_tiles]
        variants = [lambda v=tile: md._core.set_cpu_winograd_tile(v) for tile in tiles]
    dev = args.device
    cuda = dev.startswith("cuda")
    if not cuda:
        torch.set_num_threads(args.threads)
        md.set_num_threads(args.threads)
    else:  # TF32 for both, as train_step.py compares them
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        md.backends.allow_tf32 = True

    def sync():
        if cuda:
            torch.cuda.synchronize()
            md.cuda.synchronize()

    def median_ms(fn) -> float:
        ts = []
        for _ in range(args.repeats):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) * 1e3

    rows = []
    rng = np.random.default_rng(0)
    for (shape, K, ks, st, pd), count in conv_geometries(CONFIGS[args.config], args.batch).items():
        t_md, t_torch = time_shape(shape, K, ks, st, pd, dev, median_ms, rng, variants)
        rows.append((shape, K, ks, st, pd, count, t_md, t_torch))

    # the first variant's times give the ratio and the step share; the others get a column each
    totals_md = [sum(r[5] * r[6][j] for r in rows) for j in range(len(variants))]
    total_torch = sum(r[5] * r[7] for r in rows)
    print(f"{args.config} batch {args.batch} on {dev}: conv2d forward+backward per distinct shape, ms")
    print(
        f"{'input':22s} {'K':>4s} {'kernel':>6s} {'stride':>6s} {'n':>3s} "
        + " ".join(f"{n:>10s}" for n in names)
        + f" {'torch':>8s} {'ratio':>6s} {'step share':>10s}"
    )
    for shape, K, ks, st, _pd, count, a, c in sorted(rows, key=lambda r: -r[5] * r[6][0]):
        print(
            f"{str(shape):22s} {K:4d} {ks[0]}x{ks[1]:<4d} {st[0]}x{st[1]:<4d} {count:3d} "
            + " ".join(f"{v:10.2f}" for v in a)
            + f" {c:8.2f} {a[0] / c:6.2f} {100 * count * a[0] / totals_md[0]:9.1f}%"
        )
    for name, total in zip(names, totals_md):
        print(
            f"all convolutions of one step: {name} {total:.1f} ms, torch {total_torch:.1f} ms, "
            f"ratio {total / total_torch:.2f}"
        )


if __name__ == "__main__":
    main()
