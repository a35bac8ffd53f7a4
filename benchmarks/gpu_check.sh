#!/usr/bin/env bash
# One script for the GPU machine (Python 3.12 in /opt/torch/.venv, CUDA 13 with cuBLAS under
# /usr/local/cuda, no package index): installs the wheels carried in .whl/ (scipy-openblas32,
# diffusers, build tools) into /tmp/site, builds minidiff with the CUDA backend for sm_90, prints
# the device, runs the C++ kernel twin tests, tests/test_cuda.py and tests/test_device_dtypes.py
# (PYTEST_FILES), then the training-step benchmark (float32 against torch, then minidiff alone with
# each of BENCH_VARIANTS, and bf16 at batch 512), the per-kernel GPU profile
# (benchmarks/kernel_profile.py; bf16 too) and the per-shape convolution times in both layouts
# (benchmarks/conv_shapes.py); the command line on CUDA runs between the tests and the benchmarks.
# Logs go to $OUT/ when $OUT is set, in at most 7 files (the device tool returns 8): summary.log,
# build.log, tests.log, bench.log, bench_json.txt, kernels.log, conv_shapes.log.
#
# Env: PYTEST_FILES (default "tests/test_cuda.py tests/test_device_dtypes.py"; "tests" with
#      PYTEST_ARGS="-q -n 12" runs the whole suite on the machine's 16 cores in about 2.5 minutes:
#      the nineteenth session found two faults that way that CI's machine cannot show),
#      PYTEST_ARGS (default "-q -x"), TEST_TIMEOUT (seconds per stage, default 300),
#      DEVICE_DIFFERENTIAL (default: the ops and autograd differential files; test files whose
#      minidiff side then runs on the GPU against torch on the CPU; empty to skip),
#      BENCH_FRAMEWORKS (default "minidiff torch"; add torch-compile for the batch-512 target,
#      which costs minutes of compilation), BENCH_BF16=0 to skip the bf16 benchmark,
#      BENCH_VARIANTS (default "MINIDIFF_CUDA_CONV=batched MINIDIFF_CUDA_CONV=wide"; also implicit: one
#      minidiff-only run per VAR=value, against the defaults; empty to skip), SKIP_BENCH=1 to skip
#      all benchmarks,
#      SKIP_CLI=1 to skip the command-line stage (run right after the tests), SKIP_CONV_SHAPES=1 to
#      skip the per-shape convolution times, CONV_SHAPES_LAYOUTS (default "batched wide"),
#      BUILD_DIR (default build/gpu; kept between runs on a warm machine, so reruns are incremental),
#      MINIDIFF_KEEP_CXX=1 to build with the image's CXX instead of the system g++ (see below).
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
nvidia-smi 2>&1 | tee -a "$LOG_DIR/summary.log"
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
if ! timeout "$TEST_TIMEOUT" ctest --test-dir "$BUILD_DIR" --output-on-failure 2>&1 | tee "$LOG_DIR/tests.log"; then
  note "CTEST FAILED"
  status=1
fi
tail -n 3 "$LOG_DIR/tests.log" >>"$LOG_DIR/summary.log"

PYTEST_FILES=${PYTEST_FILES:-tests/test_cuda.py tests/test_device_dtypes.py}
step "pytest $PYTEST_FILES $PYTEST_ARGS"
# shellcheck disable=SC2086
if ! timeout "$TEST_TIMEOUT" python -m pytest $PYTEST_FILES $PYTEST_ARGS -rs -p no:cacheprovider 2>&1 |
  tee -a "$LOG_DIR/tests.log"; then
  note "PYTEST FAILED (or timed out after $TEST_TIMEOUT s)"
  status=1
fi
tail -n 1 "$LOG_DIR/tests.log" >>"$LOG_DIR/summary.log"

step "command line on CUDA: minidiff train (2 epochs of the digits preset) and minidiff sample"
if [ -n "${SKIP_CLI:-}" ]; then
  note "(skipped: SKIP_CLI is set)"
elif ! (cd /tmp && timeout "$TEST_TIMEOUT" python -m minidiff train --device cuda --epochs 2 --out /tmp/run-cuda \
  --overwrite --no-progress && timeout "$TEST_TIMEOUT" python -m minidiff sample --model /tmp/run-cuda/model \
  --device cuda --n 16 --steps 10 --out /tmp/run-cuda/grid.png) 2>&1 | tail -n 8 | tee -a "$LOG_DIR/summary.log"; then
  note "CLI ON CUDA FAILED"
  status=1
fi

# The differential files with minidiff's side on the GPU (tests/conftest.py's MINIDIFF_TEST_DEVICE:
# every tensor the tests make without a device goes there; torch's side stays on the CPU).
DEVICE_DIFFERENTIAL=${DEVICE_DIFFERENTIAL-tests/test_ops_differential.py tests/test_autograd_differential.py}
if [ -n "$DEVICE_DIFFERENTIAL" ]; then
  step "pytest on cuda (MINIDIFF_TEST_DEVICE): $DEVICE_DIFFERENTIAL"
  # shellcheck disable=SC2086
  if ! MINIDIFF_TEST_DEVICE=cuda timeout "$TEST_TIMEOUT" python -m pytest $DEVICE_DIFFERENTIAL -q -n 8 \
    -p no:cacheprovider 2>&1 | tee -a "$LOG_DIR/tests.log" | tail -n 40; then
    note "PYTEST ON CUDA (MINIDIFF_TEST_DEVICE) FAILED"
    status=1
  fi
  tail -n 1 "$LOG_DIR/tests.log" >>"$LOG_DIR/summary.log"
fi

# Benchmarks. At most 8 files come back from the device machine, so every train_step run appends
# to bench.log and writes its JSON to $JSON_DIR, gathered into bench_json.txt at the end.
JSON_DIR=$(mktemp -d)
bench() {  # bench NAME ENV... -- ARGS...: one train_step.py run, logged
  local name=$1
  shift
  local envs=()
  while [ "$1" != "--" ]; do
    envs+=("$1")
    shift
  done
  shift
  step "benchmark $name: ${envs[*]} train_step.py $*"
  if ! env "${envs[@]}" timeout "$TEST_TIMEOUT" python benchmarks/train_step.py --device cuda --config fmnist \
    --steps "${BENCH_STEPS:-20}" --warmup 3 --json "$JSON_DIR/$name.json" "$@" 2>&1 | tee "$JSON_DIR/$name.log"; then
    note "BENCHMARK $name FAILED"
    status=1
  fi
  cat "$JSON_DIR/$name.log" >>"$LOG_DIR/bench.log"
  grep -E "^fmnist" "$JSON_DIR/$name.log" >>"$LOG_DIR/summary.log"
}

if [ -z "${SKIP_BENCH:-}" ]; then
  # shellcheck disable=SC2086
  bench fp32 MINIDIFF_CUDA_CONV=auto -- --batch 128 512 --frameworks ${BENCH_FRAMEWORKS:-minidiff torch}
  # minidiff alone with one CUDA tuning switch changed per run (same machine, same run)
  for variant in ${BENCH_VARIANTS-MINIDIFF_CUDA_CONV=batched MINIDIFF_CUDA_CONV=wide}; do
    bench "fp32-${variant#MINIDIFF_CUDA_}" MINIDIFF_CUDA_CONV=auto "$variant" -- --batch 128 512 --frameworks minidiff
  done

  step "kernel profile: every GPU kernel of a step, fmnist batch 128 (minidiff, torch) and 512 (minidiff)"
  timeout "$TEST_TIMEOUT" python benchmarks/kernel_profile.py --config fmnist --batch 128 --limit 30 2>&1 |
    grep -v -i warn | tee "$LOG_DIR/kernels.log" || note "KERNEL PROFILE FAILED"
  timeout "$TEST_TIMEOUT" python benchmarks/kernel_profile.py --config fmnist --batch 512 --limit 30 \
    --frameworks minidiff 2>&1 | grep -v -i warn | tee -a "$LOG_DIR/kernels.log" || note "KERNEL PROFILE FAILED"
  grep -E "^== |matrix-product" "$LOG_DIR/kernels.log" >>"$LOG_DIR/summary.log"

  if [ -z "${SKIP_CONV_SHAPES:-}" ]; then
    step "conv shapes: each distinct convolution of the fmnist U-Net at batch 128, both layouts vs torch"
    # shellcheck disable=SC2086
    timeout "$TEST_TIMEOUT" python benchmarks/conv_shapes.py --device cuda --config fmnist --batch 128 \
      --layouts ${CONV_SHAPES_LAYOUTS:-batched wide} 2>&1 | tee "$LOG_DIR/conv_shapes.log" || note "CONV SHAPES FAILED"
    tail -n 2 "$LOG_DIR/conv_shapes.log" >>"$LOG_DIR/summary.log"
  fi

  if [ "${BENCH_BF16:-1}" != 0 ]; then
    bench bf16 MINIDIFF_CUDA_CONV=auto -- --batch 512 --frameworks minidiff torch --precision bf16
    timeout "$TEST_TIMEOUT" python benchmarks/kernel_profile.py --config fmnist --batch 512 --limit 20 \
      --frameworks minidiff --precision bf16 2>&1 | grep -v -i warn | tee -a "$LOG_DIR/kernels.log" ||
      note "BF16 KERNEL PROFILE FAILED"
  fi
  for f in "$JSON_DIR"/*.json; do
    [ -f "$f" ] && { echo "== $(basename "$f")"; cat "$f"; echo; } >>"$LOG_DIR/bench_json.txt"
  done
else
  note "(benchmarks skipped: SKIP_BENCH is set)"
fi

step "done (status $status)"
exit $status
