"""One full DDPM training step (noise, forward, MSE, backward, Adam) for minidiff and for
diffusers + PyTorch on the same UNet2DModel config and batch, each framework in its own
subprocess so that peak memory is measured per framework.

    python benchmarks/train_step.py                                   # CPU: fmnist b32, digits b128
    python benchmarks/train_step.py --device cuda --config fmnist --batch 128 512
    python benchmarks/train_step.py --frameworks minidiff torch torch-compile --device cuda ...
    python benchmarks/train_step.py --rounds 3                        # alternate, pool 3 runs each

Prints time per step (median of the timed steps, pooled over rounds), images/s, peak memory (CPU:
the process's peak RSS; CUDA: the framework's peak allocated device memory) and minidiff's ratio
to each reference, with the range of the per-round ratios when there are several rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from configs import CONFIGS  # noqa: E402

DEFAULT_BATCH = {"fmnist": 32, "digits": 128}


def _schedule(num_steps=1000):
    import numpy as np

    betas = np.linspace(1e-4, 0.02, num_steps, dtype=np.float64)
    ac = np.cumprod(1.0 - betas)
    return np.sqrt(ac).astype(np.float32), np.sqrt(1.0 - ac).astype(np.float32)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def minidiff_step(cfg, batch, device, threads, precision):
    """A function running one DDPM training step of a minidiff UNet2DModel, returning the loss."""
    import numpy as np

    import minidiff as md

    if threads:
        md.set_num_threads(threads)
    if precision == "bf16":  # bf16 operands for every matrix product, as TrainingConfig.mixed_precision
        md.set_float32_matmul_precision("medium")
    md.manual_seed(0)
    sa, sb = _schedule()
    model = md.UNet2DModel(**cfg).to(device)
    opt = md.optim.Adam(model.parameters(), lr=1e-4)
    size, ch = cfg["sample_size"], cfg["in_channels"]
    x0 = md.tensor(np.random.default_rng(0).uniform(-1, 1, (batch, ch, size, size)).astype(np.float32), device=device)
    sa_t, sb_t = md.tensor(sa, device=device), md.tensor(sb, device=device)

    def step():
        noise = md.randn(batch, ch, size, size, device=device)
        t = md.randint(0, 1000, (batch,), device=device)
        a = md.F.embedding(t, sa_t.reshape(-1, 1)).reshape(batch, 1, 1, 1)
        b = md.F.embedding(t, sb_t.reshape(-1, 1)).reshape(batch, 1, 1, 1)
        noisy = x0 * a + noise * b
        loss = md.F.mse_loss(model(noisy, t), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def run_minidiff(cfg, batch, device, steps, warmup, threads, precision):
    import minidiff as md

    step = minidiff_step(cfg, batch, device, threads, precision)
    sync = md.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        step().item()
    if device.startswith("cuda"):
        md.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        sync()
        t0 = time.perf_counter()
        loss = step()
        loss.item()
        times.append(time.perf_counter() - t0)
    peak = md.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else _peak_rss_mb()
    return times, peak


def torch_step(cfg, batch, device, threads, compile_model, precision):
    """A function running one DDPM training step of a diffusers UNet2DModel, returning the loss."""
    import numpy as np
    import torch
    from diffusers import UNet2DModel

    if threads and device == "cpu":
        torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    sa, sb = _schedule()
    model = UNet2DModel(**cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    size, ch = cfg["sample_size"], cfg["in_channels"]
    x0 = torch.tensor(
        np.random.default_rng(0).uniform(-1, 1, (batch, ch, size, size)).astype(np.float32), device=device
    )
    sa_t, sb_t = torch.tensor(sa, device=device), torch.tensor(sb, device=device)
    forward = torch.compile(model) if compile_model else model
    autocast = precision == "bf16"

    def step():
        noise = torch.randn(batch, ch, size, size, device=device)
        t = torch.randint(0, 1000, (batch,), device=device)
        noisy = x0 * sa_t[t].view(-1, 1, 1, 1) + noise * sb_t[t].view(-1, 1, 1, 1)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
            pred = forward(noisy, t).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def run_torch(cfg, batch, device, steps, warmup, threads, compile_model, precision):
    import torch

    step = torch_step(cfg, batch, device, threads, compile_model, precision)
    for _ in range(warmup):
        step().item()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step().item()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else _peak_rss_mb()
    return times, peak


def worker(args):
    cfg = CONFIGS[args.config]
    if args.framework == "minidiff":
        times, peak = run_minidiff(
            cfg, args.batch[0], args.device, args.steps, args.warmup, args.threads, args.precision
        )
    else:
        times, peak = run_torch(
            cfg,
            args.batch[0],
            args.device,
            args.steps,
            args.warmup,
            args.threads,
            args.framework == "torch-compile",
            args.precision,
        )
    print(json.dumps({"times": times, "peak_mb": peak}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--config", nargs="*", default=None, choices=list(CONFIGS))
    p.add_argument("--batch", nargs="*", type=int, default=None)
    p.add_argument(
        "--frameworks", nargs="*", default=["minidiff", "torch"], choices=["minidiff", "torch", "torch-compile"]
    )
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 10 on CPU, 30 on CUDA)")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the frameworks alternately this many times each and pool their steps (a shared, "
        "noisy machine changes speed over a minute; alternating puts both under the same conditions)",
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads for both frameworks (0: leave as is)")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16"],
        help="bf16: minidiff with bf16 matrix products (set_float32_matmul_precision('medium')), torch "
        "under bf16 autocast; compare these only with each other, not with fp32 runs",
    )
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--worker", dest="framework", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    cuda = args.device.startswith("cuda")
    args.steps = args.steps or (30 if cuda else 10)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 2)
    if args.framework:
        args.config = args.config[0]
        return worker(args)

    configs = args.config or (["fmnist"] if cuda else ["fmnist", "digits"])
    rows = []
    for config in configs:
        batches = args.batch or [DEFAULT_BATCH[config]]
        for batch in batches:
            times = {fw: [] for fw in args.frameworks}  # every timed step of every round
            round_medians = {fw: [] for fw in args.frameworks}
            peaks = {fw: 0.0 for fw in args.frameworks}
            for _ in range(args.rounds):
                for fw in args.frameworks:
                    cmd = [
                        sys.executable,
                        __file__,
                        "--worker",
                        fw,
                        "--device",
                        args.device,
                        "--config",
                        config,
                        "--batch",
                        str(batch),
                        "--steps",
                        str(args.steps),
                        "--warmup",
                        str(args.warmup),
                        "--threads",
                        str(args.threads),
                        "--precision",
                        args.precision,
                    ]
                    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
                    if out.returncode != 0:
                        print(f"[{fw} {config} b{batch}] failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                        continue
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    times[fw].extend(r["times"])
                    round_medians[fw].append(statistics.median(r["times"]))
                    peaks[fw] = max(peaks[fw], r["peak_mb"])
            results = {}
            for fw in args.frameworks:
                if not times[fw]:
                    continue
                med = statistics.median(times[fw])
                results[fw] = (med, peaks[fw])
                rows.append(
                    dict(
                        config=config,
                        batch=batch,
                        framework=fw,
                        s_per_step=med,
                        img_per_s=batch / med,
                        peak_mb=peaks[fw],
                        device=args.device,
                        precision=args.precision,
                        round_medians=round_medians[fw],
                    )
                )
            base = results.get("minidiff")
            for fw, (med, peak) in results.items():
                if fw != "minidiff" and base:
                    rows.append(
                        dict(
                            config=config,
                            batch=batch,
                            framework=f"ratio minidiff/{fw}",
                            s_per_step=base[0] / med,
                            img_per_s=None,
                            peak_mb=base[1] / peak,
                            device=args.device,
                            precision=args.precision,
                            # per round: minidiff's median over the reference's of the same round
                            round_ratios=[a / b for a, b in zip(round_medians["minidiff"], round_medians[fw])],
                        )
                    )
    print(f"\n{'config':8} {'batch':>5} {'framework':26} {'time/step':>11} {'img/s':>9} {'peak MB':>9}")
    for r in rows:
        if r["framework"].startswith("ratio"):
            spread = r["round_ratios"]
            rounds = f"  (rounds {min(spread):.2f}-{max(spread):.2f}x)" if len(spread) > 1 else ""
            print(
                f"{r['config']:8} {r['batch']:>5} {r['framework']:26} {r['s_per_step']:>10.2f}x {'':>9} "
                f"{r['peak_mb']:>8.2f}x{rounds}"
            )
        else:
            print(
                f"{r['config']:8} {r['batch']:>5} {r['framework']:26} {r['s_per_step'] * 1e3:>9.1f}ms "
                f"{r['img_per_s']:>9.0f} {r['peak_mb']:>9.0f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
