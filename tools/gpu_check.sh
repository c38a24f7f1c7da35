#!/usr/bin/env bash
# The one script to run on a GPU machine (H200, compute capability 9.0), from the repository root:
#   bash tools/gpu_check.sh            (results in $OUT, default ./gpu_out)
# It prints versions, builds spikekit._C with the CUDA kernels, runs the CUDA-marked tests, then
# the benchmarks with --device cuda --quick, writing JSON. Every step has its own time limit so
# the whole script ends within 10 minutes. It uses the machine's python3 (with CUDA torch) as is.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
LOG="$OUT/gpu_check.log"  # one log file plus one JSON per benchmark (the device returns <= 8 files)
: > "$LOG"
status=0
step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, remember failures
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s)" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -n 40
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc" | tee -a "$LOG"
  [ "$rc" -eq 0 ] || status=1
}

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  nvcc --version 2>&1 | tail -n 2
  $PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
} 2>&1 | tee -a "$LOG"

step build 300 $PY setup.py -q build_ext --inplace
step info 60 $PY -m spikekit info --build --json
step tests 240 $PY -m pytest -q -m cuda tests -p no:cacheprovider
for bench in benchmarks/bench_*.py; do
  name=$(basename "$bench" .py)
  step "$name" 120 $PY "$bench" --quick --device cuda --json-out "$OUT/$name.json"
done
echo "gpu_check finished with status $status; results in $OUT"
exit $status
