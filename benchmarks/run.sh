#!/usr/bin/env bash
# tandem vs MLflow, workload A (experiment tracking), side by side in one invocation:
#
#   benchmarks/run.sh                 # REPEAT=3 (about 25 min on 2 cores)
#   REPEAT=1 benchmarks/run.sh        # quick (about 10 min)
#   MLFLOW_HTTP=1 benchmarks/run.sh   # also MLflow over HTTP (~5 min a repetition; MLFLOW_HTTP_REPEAT=1)
#
# Uses the shared bench harness (runner.py/report.py, and MLflow's adapter) from $BENCH_SHARED
# (default /work/shared/bench). Records go to benchmarks/results/raw-tandem.jsonl (appended);
# reports to benchmarks/results/report-tandem.md (the harness's table) and summary.md (ratios
# and goals). Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust): the benchmarks create
# and drop their own databases bench_tandem, bench_baseline and bench_load. Needs `wrk` for the
# server load test (skipped with a message when missing).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPEAT="${REPEAT:-3}"
SHARED="${BENCH_SHARED:-/work/shared/bench}"
MLFLOW_ENV="${MLFLOW_ENV:-/tmp/benchenv-mlflow}"
MLFLOW_A5_QUERIES="${MLFLOW_A5_QUERIES:-1}"  # one MLflow query over 100k runs takes ~2 min
RESULTS="$ROOT/benchmarks/results"
RAW="$RESULTS/raw-tandem.jsonl"
PY="$ROOT/.venv/bin/python"

[ -f "$SHARED/harness/runner.py" ] || { echo "shared bench harness not found in $SHARED (set BENCH_SHARED)" >&2; exit 2; }
if [ ! -x "$PY" ]; then  # a fresh clone: the same set-up as scripts/test
  "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[postgres]"
fi
if [ ! -x "$MLFLOW_ENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$MLFLOW_ENV"
  "$MLFLOW_ENV/bin/pip" install --quiet --upgrade pip
  "$MLFLOW_ENV/bin/pip" install --quiet mlflow
fi

# Run the shared runner through a staging folder, so its per-run logs land in our results
# folder (it writes to <its folder>/../results/logs) and nothing is written into $SHARED.
mkdir -p "$RESULTS/.stage"
ln -sfn "$SHARED/harness" "$RESULTS/.stage/harness"
ln -sfn .. "$RESULTS/.stage/results"
R="python3 $RESULTS/.stage/harness/runner.py --out $RAW --repeat"

STAMP="$(date +%Y%m%d-%H%M%S)"
META="$RESULTS/meta-$STAMP.txt"
{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "kernel: $(uname -r)"
  echo "python: $("$PY" --version 2>&1)"
  echo "tandem: $("$PY" -c 'import tandem; print(tandem.__version__)')"
  echo "mlflow: $("$MLFLOW_ENV/bin/python" -c 'import mlflow; print(mlflow.__version__)' 2>/dev/null)"
  echo "sqlite: $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')"
  echo "postgres: $(psql -h 127.0.0.1 -U postgres -d postgres -tAc 'show server_version' 2>/dev/null)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "REPEAT=$REPEAT MLFLOW_HTTP=${MLFLOW_HTTP:-0} MLFLOW_A5_QUERIES=$MLFLOW_A5_QUERIES"
  echo "load before: $(cat /proc/loadavg)"
} > "$META"
cat "$META"
step() { echo "== $* ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg))"; echo "load at $(date +%T) before $*: $(cat /proc/loadavg)" >> "$META"; }

step "MLflow sqlite (A1-A4)"
$R "$REPEAT" -- "$MLFLOW_ENV/bin/python" "$SHARED/a_tracking/mlflow_adapter.py" --backend sqlite
if [ "${MLFLOW_HTTP:-0}" = 1 ]; then
  step "MLflow http (A1-A4, scaled down by the adapter)"
  $R "${MLFLOW_HTTP_REPEAT:-1}" -- "$MLFLOW_ENV/bin/python" "$SHARED/a_tracking/mlflow_adapter.py" --backend http
fi
step "MLflow A5 (100k runs; $MLFLOW_A5_QUERIES queries, once)"
$R 1 -- "$MLFLOW_ENV/bin/python" benchmarks/mlflow_search_100k.py --queries "$MLFLOW_A5_QUERIES"

for backend in embedded server-sqlite server-postgres; do
  step "tandem $backend (A1-A5)"
  $R "$REPEAT" -- "$PY" benchmarks/tracking_tandem.py --backend "$backend"
done

step "bare-insert floor (1M points)"
$R "$REPEAT" -- "$PY" benchmarks/executemany_baseline.py --db sqlite
$R "$REPEAT" -- "$PY" benchmarks/executemany_baseline.py --db postgres

if command -v wrk > /dev/null; then
  for db in sqlite postgres; do
    for workers in 1 2; do
      step "server load ($db, $workers workers)"
      $R "$REPEAT" -- "$PY" benchmarks/server_load.py --db "$db" --workers "$workers"
    done
  done
else
  echo "wrk not installed (apt-get install -y wrk): server load test skipped" >&2
fi

echo "load after: $(cat /proc/loadavg)" >> "$META"
python3 "$RESULTS/.stage/harness/report.py" --raw "$RAW" --out "$RESULTS/report-tandem.md" \
  --notes "$META" --title "tandem vs MLflow: workload A and server load"
python3 benchmarks/summary.py --raw "$RAW" --out "$RESULTS/summary.md"
echo "done: $RESULTS/summary.md, $RESULTS/report-tandem.md, $META"
