#!/usr/bin/env bash
# One script for the GPU machine (Python 3.12 in /opt/torch/.venv, CUDA 13 with cuBLAS under
# /usr/local/cuda, no package index): installs the wheels carried in .whl/ (scipy-openblas32,
# diffusers, build tools) into /tmp/site, builds minidiff with the CUDA backend for sm_90, prints
# the device, runs the C++ kernel twin tests and tests/test_cuda.py, then the training-step
# benchmark (float32, and bf16 at batch 512), the per-op profile and the per-shape convolution times (benchmarks/conv_shapes.py). Logs go to $OUT/ when $OUT is set.
#
# Env: PYTEST_ARGS (default "-q -x"), TEST_TIMEOUT (seconds per test stage, default 300),
#      BENCH_FRAMEWORKS (default "minidiff torch"; add torch-compile for the batch-512 target,
#      which costs minutes of compilation), BENCH_BF16=0 to skip the bf16 benchmark,
#      BUILD_DIR (default build/gpu; kept between runs on a warm machine, so reruns are incremental),
#      MINIDIFF_KEEP_CXX=1 to build with the image's CXX instead of the system g++ (see below).
# A kernel fault is reported at the next synchronising call; rerun with MINIDIFF_CUDA_SYNC=1 to
# have every launch checked synchronously, which names the faulting kernel.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOG_DIR=${OUT:-$ROOT/build/gpu-logs}
mkdir -p "$LOG_DIR"
BUILD_DIR=${BUILD_DIR:-$ROOT/build/gpu}
PYTEST_ARGS=${PYTEST_ARGS:--q -x}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
status=0
step() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)" | tee -a "$LOG_DIR/summary.log"; }
note() { echo "$*" | tee -a "$LOG_DIR/summary.log"; }

if [ -f /opt/torch/.venv/bin/activate ]; then
  # shellcheck disable=SC1091
  . /opt/torch/.venv/bin/activate
fi
export PATH=/usr/local/cuda/bin:$PATH
PY=$(command -v python)
# The image sets CXX=/opt/gcc/bin/g++, which links libstdc++ statically into _core. In a Python
# process that also holds the system's libstdc++ (numpy loads it), every C++ exception that
# pybind11 turns into a Python one then crashes the interpreter (seen on the H200 image,
# 2026-11-26: a shape error gave SIGSEGV; with LD_PRELOAD of the system libstdc++ it raised). The
# system g++ (also GCC 13) links libstdc++ dynamically, so build with that.
if [ -z "${MINIDIFF_KEEP_CXX:-}" ] && [ -x /usr/bin/g++ ] && [ -x /usr/bin/gcc ]; then
  export CC=/usr/bin/gcc CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++
fi

step "environment"
note "python: $PY ($("$PY" --version 2>&1))"
nvidia-smi 2>&1 | tee "$LOG_DIR/nvidia-smi.log"
nvcc --version 2>&1 | tail -n 2 | tee -a "$LOG_DIR/summary.log"

if compgen -G ".whl/*.whl" >/dev/null; then
  step "carried wheels -> /tmp/site"
  python -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl 2>&1 | tail -n 3
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  export PATH=/tmp/site/bin:$PATH
fi
missing=$("$PY" - <<'EOF'
import importlib.util
need = ["numpy", "pybind11", "scikit_build_core", "scipy_openblas32"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
EOF
)
if [ -n "$missing" ]; then
  note "missing Python modules (carry their wheels in .whl/): $missing"
  exit 1
fi

step "build (CUDA, sm_90)"
start=$(date +%s)
target=()
site=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ ! -w "$site" ]; then
  target=(--target /tmp/site)
  note "$site is read-only: installing into /tmp/site"
fi
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
if ! python -m pip install -v --no-build-isolation --no-deps --no-index "${target[@]}" . \
  -Cbuild-dir="$BUILD_DIR" \
  -Ccmake.define.MINIDIFF_CUDA=ON \
  -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 \
  -Ccmake.define.MINIDIFF_BUILD_TESTS=ON \
  -Cbuild.verbose=true >"$LOG_DIR/build.log" 2>&1; then
  tail -n 60 "$LOG_DIR/build.log"
  note "BUILD FAILED (full log: $LOG_DIR/build.log)"
  exit 1
fi
grep -E "minidiff: (CUDA|OpenBLAS)" "$LOG_DIR/build.log" | tee -a "$LOG_DIR/summary.log"
note "built in $(($(date +%s) - start)) s with CXX=${CXX:-default}"
(cd /tmp && "$PY" -c "import minidiff as md; print('minidiff', md.__version__, md._core.build_info()); \
print('cuda available:', md.cuda.is_available(), md.cuda.device_count(), md.cuda.get_device_name(0))") \
  2>&1 | tee -a "$LOG_DIR/summary.log"
MODULE=$(cd /tmp && "$PY" -c "import minidiff._core as c; print(c.__file__)" 2>/dev/null)
[ -n "$MODULE" ] && ldd "$MODULE" | grep -E "libstdc|libcublas" | tee -a "$LOG_DIR/summary.log"
# A C++ exception must arrive in Python as an exception, not a crash (see CXX above).
if ! (cd /tmp && "$PY" -c "
import minidiff as md
try:
    md.ones((2, 3)) + md.ones((4, 5))
except ValueError:
    print('C++ exceptions reach Python: ok')
else:
    raise SystemExit('a shape mismatch did not raise ValueError')
") 2>&1 | tee -a "$LOG_DIR/summary.log"; then
  note "C++ EXCEPTIONS CRASH THE INTERPRETER: check 'ldd' of _core for libstdc++ (it must be the shared one)"
  status=1
fi

step "C++ kernel twin tests (ctest)"
if ! timeout "$TEST_TIMEOUT" ctest --test-dir "$BUILD_DIR" --output-on-failure 2>&1 | tee "$LOG_DIR/ctest.log"; then
  note "CTEST FAILED"
  status=1
fi

step "pytest ${PYTEST_FILES:-tests/test_cuda.py} $PYTEST_ARGS"
# shellcheck disable=SC2086
if ! timeout "$TEST_TIMEOUT" python -m pytest ${PYTEST_FILES:-tests/test_cuda.py} $PYTEST_ARGS -rs -p no:cacheprovider 2>&1 |
  tee "$LOG_DIR/pytest.log"; then
  note "PYTEST FAILED (or timed out after $TEST_TIMEOUT s)"
  status=1
fi
tail -n 1 "$LOG_DIR/pytest.log" >>"$LOG_DIR/summary.log"

if [ -z "${SKIP_BENCH:-}" ] && [ -f benchmarks/train_step.py ]; then
  step "benchmark: train_step.py --device cuda --config fmnist --batch 128 512 (${BENCH_FRAMEWORKS:-minidiff torch})"
  # shellcheck disable=SC2086
  if ! timeout "$TEST_TIMEOUT" python benchmarks/train_step.py --device cuda --config fmnist --batch 128 512 \
    --frameworks ${BENCH_FRAMEWORKS:-minidiff torch} \
    --steps "${BENCH_STEPS:-20}" --warmup 3 --json "$LOG_DIR/bench.json" 2>&1 |
    tee "$LOG_DIR/bench.log"; then
    note "BENCHMARK FAILED"
    status=1
  fi
  if [ "${BENCH_BF16:-1}" != 0 ]; then
    step "benchmark, bf16: train_step.py --device cuda --config fmnist --batch 512 --precision bf16"
    if ! timeout "$TEST_TIMEOUT" python benchmarks/train_step.py --device cuda --config fmnist --batch 512 \
      --frameworks minidiff torch --precision bf16 \
      --steps "${BENCH_STEPS:-20}" --warmup 3 --json "$LOG_DIR/bench_bf16.json" 2>&1 |
      tee "$LOG_DIR/bench_bf16.log"; then
      note "BF16 BENCHMARK FAILED"
      status=1
    fi
  fi
else
  note "(benchmarks/train_step.py not present: benchmark skipped)"
fi

if [ -z "${SKIP_BENCH:-}" ] && [ -f benchmarks/profile_step.py ]; then
  step "profile: where a CUDA training step spends its time (fmnist, batch 128)"
  timeout "$TEST_TIMEOUT" python benchmarks/profile_step.py --device cuda --config fmnist --batch 128 --limit 30 2>&1 |
    tee "$LOG_DIR/profile.log" || note "PROFILE FAILED"
fi

if [ -z "${SKIP_BENCH:-}" ] && [ -f benchmarks/conv_shapes.py ]; then
  step "conv shapes: each distinct convolution of the fmnist U-Net at batch 128, minidiff vs torch"
  timeout "$TEST_TIMEOUT" python benchmarks/conv_shapes.py --device cuda --config fmnist --batch 128 2>&1 |
    tee "$LOG_DIR/conv_shapes.log" || note "CONV SHAPES FAILED"
fi

step "command line on CUDA: minidiff train (2 epochs of the digits preset) and minidiff sample"
if ! (cd /tmp && timeout "$TEST_TIMEOUT" python -m minidiff train --device cuda --epochs 2 --out /tmp/run-cuda \
  --overwrite --no-progress && timeout "$TEST_TIMEOUT" python -m minidiff sample --model /tmp/run-cuda/model \
  --device cuda --n 16 --steps 10 --out /tmp/run-cuda/grid.png) 2>&1 | tail -n 8 | tee "$LOG_DIR/cli.log"; then
  note "CLI ON CUDA FAILED"
  status=1
fi

step "done (status $status)"
exit $status
