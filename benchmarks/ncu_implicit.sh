#!/usr/bin/env bash
# Why the implicit-GEMM conv2d kernel (cpp/cuda/conv2d_implicit.cu) runs at 25-41 TFLOP/s: one call
# for the GPU machine that builds minidiff (benchmarks/gpu_check.sh with its tests and benchmarks
# off), then profiles one launch of the kernel with Nsight Compute, beside the cuBLAS GEMM that the
# default (wide) layout runs for the same convolution. Reports go to $OUT/ncu_implicit.txt and
# $OUT/ncu_cublas.txt, the summary of both to stdout.
#
#   OUT=/tmp/ncu bash benchmarks/ncu_implicit.sh        # env: NCU_SHAPE="N C H W K" (default 512 128 14 14 128)
#
# The clocks are left alone (--clock-control none), as the device notes ask.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(pwd)/build/ncu}
mkdir -p "$OUT"
SKIP_BENCH=1 SKIP_CLI=1 PYTEST_FILES="tests/test_cuda.py" PYTEST_ARGS="-q -x -k implicit" \
  bash benchmarks/gpu_check.sh >"$OUT/build_and_tests.log" 2>&1 || {
  tail -n 30 "$OUT/build_and_tests.log"
  exit 1
}
. /opt/torch/.venv/bin/activate 2>/dev/null || true
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
[ -n "$NCU" ] || {
  echo "ncu not found"
  exit 1
}
read -r N C H W K <<<"${NCU_SHAPE:-512 128 14 14 128}"
cat >"$OUT/one_conv.py" <<EOF
import sys
import numpy as np
import minidiff as md
import minidiff.functional as F
md.backends.allow_tf32 = True
md._core.set_cuda_conv_layout(sys.argv[1])
r = np.random.default_rng(0)
x = md.tensor(r.standard_normal(($N, $C, $H, $W)).astype(np.float32), device="cuda")
w = md.tensor((r.standard_normal(($K, $C, 3, 3)) * 0.05).astype(np.float32), device="cuda")
for _ in range(3):  # warm-up launches first; ncu profiles the one it is told to
    y = F.conv2d(x, w, padding=1)
md.cuda.synchronize()
print("conv2d", y.shape, "layout", md._core.cuda_conv_layout())
EOF
sections=(--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats
  --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section InstructionStats)
"$NCU" --clock-control none --kernel-name regex:implicit_gemm --launch-skip 2 --launch-count 1 "${sections[@]}" \
  python "$OUT/one_conv.py" implicit >"$OUT/ncu_implicit.txt" 2>&1
"$NCU" --clock-control none --kernel-name regex:"gemm|xmma|nvjet" --launch-skip 2 --launch-count 1 "${sections[@]}" \
  python "$OUT/one_conv.py" wide >"$OUT/ncu_cublas.txt" 2>&1
for f in ncu_implicit ncu_cublas; do
  echo "==== $f (shape N C H W K = $N $C $H $W $K)"
  grep -E "^\s+(Duration|Compute \(SM\) Throughput|Memory Throughput|Registers Per Thread|Achieved Occupancy|Theoretical Occupancy|Block Limit|Dynamic Shared|Executed Ipc|Issue Slots Busy|Warp Cycles Per Issued|Stall|L1/TEX Hit|Mem Busy|Max Bandwidth)" "$OUT/$f.txt" | head -n 40
  grep -iE "^\s+(OPT|WRN) " "$OUT/$f.txt" | head -n 12
done
