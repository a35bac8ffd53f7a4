"""Two builds of minidiff timed in one process, their training steps alternating: a speed change
measured against the machine's drift (a shared 2-core VM moves by 10-30% between runs, which
hides a 3-5% change when each build runs in its own process). The ratio reported is the median
of the per-round ratios B/A, each round timing one step of each build back to back.

Both builds must be importable packages (a folder holding minidiff/ with its _core module), and
their pybind11 type registries must differ, or the second import fails ("type is already
registered"): build B with another pybind11 ABI tag, e.g.

    cmake -S . -B build/ab -G Ninja -DMINIDIFF_BUILD_TESTS=OFF \\
          '-DCMAKE_CXX_FLAGS=-DPYBIND11_BUILD_ABI=\\"_abtest\\"' [the -D options of your build]
    ninja -C build/ab
    mkdir -p /tmp/b && cp -r python/minidiff /tmp/b/ && cp build/ab/_core*.so /tmp/b/minidiff/

    python tools/ab_step.py /tmp/a /tmp/b --config digits --batch 128 --rounds 60
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))

import train_step  # noqa: E402
from configs import CONFIGS  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="folder holding build A's minidiff/ package")
    p.add_argument("b", help="folder holding build B's minidiff/ package (another pybind11 ABI tag)")
    p.add_argument("--config", choices=sorted(CONFIGS), default="digits")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()

    root = tempfile.mkdtemp(prefix="minidiff-ab-")
    try:
        steps = {}
        for name, src in (("minidiff_a", args.a), ("minidiff_b", args.b)):
            shutil.copytree(os.path.join(src, "minidiff"), os.path.join(root, name))
        sys.path.insert(0, root)
        for name in ("minidiff_a", "minidiff_b"):
            module = importlib.import_module(name)
            sys.modules["minidiff"] = module  # train_step builds its step with `import minidiff`
            steps[name] = train_step.minidiff_step(CONFIGS[args.config], args.batch, "cpu", 0, "fp32")
            for _ in range(args.warmup):
                steps[name]()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.rounds):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    a, b = times["minidiff_a"], times["minidiff_b"]
    pairwise = statistics.median(tb / ta for ta, tb in zip(a, b))
    print(
        f"{args.config} b{args.batch}, {args.rounds} rounds: B/A {pairwise:.3f} (median of per-round ratios); "
        f"A {statistics.median(a) * 1e3:.1f} ms, B {statistics.median(b) * 1e3:.1f} ms (medians)"
    )


if __name__ == "__main__":
    main()
