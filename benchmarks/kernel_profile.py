"""GPU kernel time of one DDPM training step, kernel by kernel, for minidiff and for diffusers +
PyTorch on the same UNet2DModel config: where the device time goes, and how much of the wall time
the device is busy at all (the rest is launch and host overhead).

    python benchmarks/kernel_profile.py --config fmnist --batch 128
    MINIDIFF_CUDA_CONV=wide python benchmarks/kernel_profile.py --frameworks minidiff

The kernels are recorded by PyTorch's profiler (CUPTI), which sees every kernel the process
launches, minidiff's and cuBLAS's included, so torch must be installed; diffusers only for the
torch rows. The trace is read from its Chrome-trace export (events of category "kernel",
"gpu_memcpy" and "gpu_memset"). Times are per step, averaged over --steps steps after --warmup.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from configs import CONFIGS  # noqa: E402
from train_step import minidiff_step, torch_step  # noqa: E402

DEVICE_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
GEMM_NAME = re.compile(r"gemm|xmma|cutlass|fmha|cublas", re.IGNORECASE)


def short_name(name: str, width: int) -> str:
    """A kernel's name without its parameter list and namespaces, cut to width."""
    name = name.replace("(anonymous namespace)::", "").replace("md::cuda::", "")
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"\(.*$", "", name)  # the parameter list
    return name if len(name) <= width else name[: width - 3] + "..."


def profile_steps(step, sync, steps: int) -> tuple[list[dict], float]:
    """Run `steps` steps under the profiler; returns the device events and the wall time per step."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        wall = (time.perf_counter() - t0) / steps
    torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    events = [e for e in trace.get("traceEvents", []) if e.get("cat") in DEVICE_CATEGORIES and "dur" in e]
    return events, wall


def report(label: str, events: list[dict], wall: float, steps: int, limit: int) -> None:
    per_name: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for e in events:
        row = per_name[short_name(e["name"], 200)]
        row[0] += 1
        row[1] += float(e["dur"])  # microseconds
    busy = sum(r[1] for r in per_name.values()) / steps / 1e3  # ms per step
    launches = sum(r[0] for r in per_name.values()) / steps
    print(
        f"\n== {label}: wall {wall * 1e3:.2f} ms/step, device busy {busy:.2f} ms/step "
        f"({100 * busy / (wall * 1e3):.0f}%), {launches:.0f} kernels/step"
    )
    if not events:
        print("   no device events were recorded (CUPTI could not see this process's kernels)")
        return
    gemm = sum(us for name, (_, us) in per_name.items() if GEMM_NAME.search(name)) / steps / 1e3
    print(f"   matrix-product kernels (cuBLAS, cuDNN, CUTLASS): {gemm:.2f} ms/step; the rest {busy - gemm:.2f} ms/step")
    print(f"   {'ms/step':>8} {'share':>6} {'calls':>6} {'us/call':>8}  kernel")
    rows = sorted(per_name.items(), key=lambda kv: -kv[1][1])
    for name, (calls, us) in rows[:limit]:
        ms = us / steps / 1e3
        print(f"   {ms:8.3f} {100 * ms / busy:5.1f}% {calls / steps:6.0f} {us / calls:8.1f}  {short_name(name, 100)}")
    rest = sum(r[1] for _, r in rows[limit:]) / steps / 1e3
    if rest:
        print(f"   {rest:8.3f} {100 * rest / busy:5.1f}%         ({len(rows) - limit} other kernels)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="fmnist", choices=list(CONFIGS))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--frameworks", nargs="+", default=["minidiff", "torch"], choices=["minidiff", "torch"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--limit", type=int, default=25)
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("kernel_profile.py needs a CUDA device (it profiles GPU kernels)")
    cfg = CONFIGS[args.config]
    for fw in args.frameworks:
        if fw == "minidiff":
            import minidiff as md

            step = minidiff_step(cfg, args.batch, "cuda", 0, args.precision)
            sync = md.cuda.synchronize
            label = f"minidiff (conv layout {md._core.cuda_conv_layout()})"
        else:
            step = torch_step(cfg, args.batch, "cuda", 0, False, args.precision)
            sync = torch.cuda.synchronize
            label = f"torch {torch.__version__} eager"
        for _ in range(args.warmup):
            step()
        sync()
        events, wall = profile_steps(step, sync, args.steps)
        report(f"{label}, {args.config} batch {args.batch} {args.precision}", events, wall, args.steps, args.limit)


if __name__ == "__main__":
    main()
