#!/usr/bin/env bash
# tandem vs DVC on workload E (50 stages x 200 dependency files = 10,000 x 4 KiB), side by side in
# one invocation through the shared harness, with the machine's limits (stat, read+BLAKE3 of every
# file), and tandem's depth-10 lineage queries over 1M links on SQLite and PostgreSQL:
#
#   benchmarks/run_pipeline.sh              # REPEAT=3 (~8 min on 2 cores, after the setup)
#   REPEAT=1 benchmarks/run_pipeline.sh
#
# The DVC project is made once into /tmp/bench-e by the shared make_project.py (its first
# `dvc repro` takes ~7 min) with DVC in /tmp/benchenv-dvc (made here if missing); tandem runs on a
# copy in /tmp/bench-e-tandem (its first `tandem run` fills tandem.lock). PostgreSQL at
# postgres@127.0.0.1:5432: the lineage benchmark uses its own database `bench_lineage`.
# Records go to benchmarks/results/raw-pipeline.jsonl, the report to report-pipeline.md.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPEAT="${REPEAT:-3}"
SHARED="${BENCH_SHARED:-/work/shared/bench}"
RESULTS="$ROOT/benchmarks/results"
RAW="$RESULTS/raw-pipeline.jsonl"
PY="$ROOT/.venv/bin/python"
E=/tmp/benchenv
mkdir -p "$RESULTS"

[ -f "$SHARED/e_pipeline/common.py" ] || { echo "shared bench not found in $SHARED (set BENCH_SHARED)" >&2; exit 2; }
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv .venv && .venv/bin/python -m pip install --quiet -e ".[postgres]"
fi
if [ ! -x "$E-dvc/bin/python" ]; then
  python3 -m venv "$E-dvc" && "$E-dvc/bin/pip" install -q -U pip && "$E-dvc/bin/pip" install -q dvc blake3
fi
[ -f /tmp/bench-e/dvc.lock ] || (cd "$SHARED/e_pipeline" && "$E-dvc/bin/python" make_project.py --repo /tmp/bench-e)
psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname = 'bench_lineage'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "create database bench_lineage" >/dev/null
"$PY" -m compileall -q src >/dev/null  # CLI timings should not include compiling tandem itself

META="$RESULTS/meta-pipeline-$(date +%Y%m%d-%H%M%S).txt"
{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "tandem: $("$PY" -c 'import tandem; print(tandem.__version__)') at $(git rev-parse --short HEAD)"
  echo "dvc: $("$E-dvc/bin/dvc" --version 2>/dev/null)"
  echo "REPEAT=$REPEAT"
  echo "load before: $(cat /proc/loadavg)"
} > "$META"
cat "$META"
R="python3 $SHARED/harness/runner.py --out $RAW --repeat"
step() { echo "== $* ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg))"; echo "load at $(date +%T) before $*: $(cat /proc/loadavg)" >> "$META"; }

cd "$SHARED/e_pipeline"
step "E: dvc repro"
$R "$REPEAT" -- "$E-dvc/bin/python" dvc_adapter.py --repo /tmp/bench-e
step "E: tandem run"
$R "$REPEAT" -- "$PY" "$ROOT/benchmarks/pipeline_tandem.py" --repo /tmp/bench-e --work /tmp/bench-e-tandem
step "E: limits (stat, read+BLAKE3)"
$R "$REPEAT" -- "$E-dvc/bin/python" fs_reference.py --repo /tmp/bench-e
cd "$ROOT"
step "E: lineage over 1M links, SQLite"
$R 1 -- "$PY" benchmarks/lineage_tandem.py
step "E: lineage over 1M links, PostgreSQL"
$R 1 -- "$PY" benchmarks/lineage_tandem.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_lineage

echo "load after: $(cat /proc/loadavg)" >> "$META"
python3 "$SHARED/harness/report.py" --raw "$RAW" --out "$RESULTS/report-pipeline.md" \
  --notes "$META" --title "tandem vs DVC: workload E, and lineage queries"
echo "done: $RESULTS/report-pipeline.md, $META"
