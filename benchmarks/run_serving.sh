#!/usr/bin/env bash
# Serving (issue 22): tandem's gateway next to `mlflow models serve` (1 worker), Ray Serve (local)
# and a bare FastAPI app, with the model's own predict as the floor, in one invocation:
#
#   benchmarks/run_serving.sh                      # about 12 min: 10 s per point, 3 rounds
#   SECONDS_PER_POINT=5 benchmarks/run_serving.sh --rounds 1   # shorter
#   benchmarks/run_serving.sh --peers mlflow,fastapi --tandem-parts dataplane   # a part
#
# One model file: a one-feature scikit-learn LogisticRegression that MLflow 3.x saves as skops
# (make_model.py, in MLflow's venv); tandem registers the very same bytes. One body: one row in
# MLflow's `dataframe_split` JSON. Closed loop: wrk, 1 thread, 1 connection, on core 1; servers
# on core 0 (taskset), in rounds of rotating order (medians). Open loop (traffic changes at 200 req/s): benchmarks/serving/loadgen.py.
# Peers live in their own virtual environments (/tmp/benchenv-<tool>, made here if missing,
# with tandem's scikit-learn version so both load the file with the same library). Needs wrk.
# Writes benchmarks/results/serving-<date>.json (records, ratios, notes) and appends the BENCH
# lines to benchmarks/results/raw-serving.jsonl.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${TANDEM_PY:-$ROOT/.venv/bin/python}"  # a worktree: TANDEM_PY=<main>/.venv/bin/python
E="${BENCH_ENV_PREFIX:-/tmp/benchenv}"
DATA="${SERVING_DATA:-/tmp/bench-serving}"
RESULTS="$ROOT/benchmarks/results"
SECONDS_PER_POINT="${SECONDS_PER_POINT:-10}"

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is not installed (util-linux)" >&2; exit 2; }
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv .venv && .venv/bin/python -m pip install --quiet -e ".[models]" \
    scikit-learn
fi
SKLEARN="$("$PY" -c 'import sklearn; print(sklearn.__version__)')"
mk() {  # mk <tool> <pip args...>: one peer's environment
  local env="$E-$1"; shift
  if [ ! -x "$env/bin/python" ]; then
    python3 -m venv "$env" && "$env/bin/pip" install -q -U pip && "$env/bin/pip" install -q "$@"
  fi
}
# MLflow 3.x (3.18.0 needs an mlflow-tracing 3.18.0 the index does not have yet: pip takes 3.17.x)
mk mlflow "mlflow>=3" skops "scikit-learn==$SKLEARN"
mk rayserve "ray[serve]>=2.30" skops "scikit-learn==$SKLEARN" pandas
mk fastapi fastapi "uvicorn[standard]"

"$E-mlflow/bin/python" benchmarks/serving/make_model.py --out "$DATA" >/dev/null || exit 1
mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$RESULTS/serving-$STAMP.json"
{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "tandem: $("$PY" -c 'import tandem; print(tandem.__version__)') at $(git rev-parse --short HEAD)"
  for tool in mlflow rayserve fastapi; do
    echo "$tool env: $("$E-$tool/bin/pip" freeze 2>/dev/null | grep -iE '^(mlflow|ray|fastapi|uvicorn|scikit-learn|skops|pandas|numpy)==' | tr '\n' ' ')"
  done
  echo "load before: $(cat /proc/loadavg)"
} | tee "$RESULTS/meta-serving-$STAMP.txt"
PYTHONPATH="$ROOT/src" "$PY" benchmarks/serving/serving_bench.py --folder "$DATA" \
  --seconds "$SECONDS_PER_POINT" --json "$OUT" "$@" | tee "$RESULTS/serving-$STAMP.log"
status=${PIPESTATUS[0]}
grep '^BENCH ' "$RESULTS/serving-$STAMP.log" | cut -c7- >> "$RESULTS/raw-serving.jsonl"
echo "load after: $(cat /proc/loadavg)" >> "$RESULTS/meta-serving-$STAMP.txt"
echo "done: $OUT"
exit "$status"
