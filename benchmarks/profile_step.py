"""Per-op time of one DDPM training step of a UNet2DModel config (md.profiler), to see where time
goes. On CUDA every op is synchronised, so the total is larger than an unprofiled step.

    python benchmarks/profile_step.py --config fmnist --batch 32
    python benchmarks/profile_step.py --device cuda --config fmnist --batch 128
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from configs import CONFIGS  # noqa: E402

import minidiff as md  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="fmnist", choices=list(CONFIGS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--limit", type=int, default=25)
    args = p.parse_args()
    if args.threads:
        md.set_num_threads(args.threads)
    cfg = CONFIGS[args.config]
    md.manual_seed(0)
    model = md.UNet2DModel(**cfg).to(args.device)
    opt = md.optim.Adam(model.parameters(), lr=1e-4)
    s, c, b = cfg["sample_size"], cfg["in_channels"], args.batch
    x0 = md.randn(b, c, s, s, device=args.device)

    def step():
        noise = md.randn(b, c, s, s, device=args.device)
        t = md.randint(0, 1000, (b,), device=args.device)
        loss = md.F.mse_loss(model(x0 * 0.9 + noise * 0.1, t), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    step()
    plain = time.perf_counter() - t0
    with md.profiler.profile() as prof:
        step()
    print(f"{args.config} batch {b} on {args.device}: unprofiled step {plain * 1e3:.1f} ms")
    print(prof.table(limit=args.limit))


if __name__ == "__main__":
    main()
