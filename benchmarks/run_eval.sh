#!/usr/bin/env bash
# tandem vs Fairlearn (+ a scikit-learn bootstrap loop), MLflow's evaluate and the vectorised NumPy
# reference on workload F (1M binary predictions, 3 slice columns, 200 bootstrap resamples), side
# by side in one invocation, through the shared harness and the peers' own adapters:
#
#   benchmarks/run_eval.sh              # REPEAT=3 (about 12 min on 2 cores: Fairlearn ~200 s a run)
#   REPEAT=1 FAIRLEARN_REPEAT=1 benchmarks/run_eval.sh
#
# Peers live in their own virtual environments (/tmp/benchenv-<tool>, made here if missing, with
# the shared setup's pins). The shared adapters write their values next to their own folder, so
# they run from a copy under benchmarks/results/.stage, and every tool's values land in
# benchmarks/results/values/ where each adapter checks them against the NumPy reference (1e-9).
# Records go to benchmarks/results/raw-eval.jsonl, the report to report-eval.md.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPEAT="${REPEAT:-3}"
SHARED="${BENCH_SHARED:-/work/shared/bench}"
RESULTS="$ROOT/benchmarks/results"
RAW="$RESULTS/raw-eval.jsonl"
PY="$ROOT/.venv/bin/python"
E=/tmp/benchenv
DATA=/tmp/bench-f/preds.parquet

[ -f "$SHARED/f_eval/common.py" ] || { echo "shared bench not found in $SHARED (set BENCH_SHARED)" >&2; exit 2; }
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv .venv && .venv/bin/python -m pip install --quiet -e .
fi
mk() {  # mk <tool> <pip args...>: the shared setup's environment for one peer
  local env="$E-$1"; shift
  if [ ! -x "$env/bin/python" ]; then
    python3 -m venv "$env" && "$env/bin/pip" install -q -U pip && "$env/bin/pip" install -q "$@"
  fi
}
mk fairlearn fairlearn scikit-learn pandas pyarrow
mk mlflow mlflow pyarrow
[ -f "$DATA" ] || "$PY" "$SHARED/f_eval/make_data.py" --out "$DATA"

STAGE="$RESULTS/.stage"
mkdir -p "$STAGE/f_eval" "$RESULTS/values"
cp "$SHARED"/f_eval/*.py "$STAGE/f_eval/"
ln -sfn "$SHARED/harness" "$STAGE/harness"
ln -sfn .. "$STAGE/results"
R="python3 $STAGE/harness/runner.py --out $RAW --repeat"
META="$RESULTS/meta-eval-$(date +%Y%m%d-%H%M%S).txt"
{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "tandem: $("$PY" -c 'import tandem; print(tandem.__version__)') at $(git rev-parse --short HEAD)"
  for tool in fairlearn mlflow; do
    echo "$tool env: $("$E-$tool/bin/pip" freeze 2>/dev/null | grep -iE '^(fairlearn|scikit-learn|mlflow|numpy|pandas)==' | tr '\n' ' ')"
  done
  echo "REPEAT=$REPEAT"
  echo "load before: $(cat /proc/loadavg)"
} > "$META"
cat "$META"
step() { echo "== $* ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg))"; echo "load at $(date +%T) before $*: $(cat /proc/loadavg)" >> "$META"; }

cd "$STAGE/f_eval"
step "F: NumPy vectorised reference (writes the reference values)"
$R "$REPEAT" -- "$PY" numpy_baseline.py --data "$DATA" --boot 200
step "F: tandem"
$R "$REPEAT" -- "$PY" "$ROOT/benchmarks/eval_tandem.py" --data "$DATA" --boot 200 --values "$RESULTS/values"
step "F: MLflow evaluate"
$R "$REPEAT" -- "$E-mlflow/bin/python" mlflow_adapter.py --data "$DATA"
step "F: Fairlearn MetricFrame + scikit-learn bootstrap loop (~200 s a run)"
$R "${FAIRLEARN_REPEAT:-$REPEAT}" -- "$E-fairlearn/bin/python" fairlearn_adapter.py --data "$DATA" --boot 200

echo "load after: $(cat /proc/loadavg)" >> "$META"
python3 "$STAGE/harness/report.py" --raw "$RAW" --out "$RESULTS/report-eval.md" \
  --notes "$META" --title "tandem vs Fairlearn, scikit-learn and MLflow: workload F"
echo "done: $RESULTS/report-eval.md, $META"
