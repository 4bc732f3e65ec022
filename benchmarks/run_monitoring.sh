#!/usr/bin/env bash
# Monitoring (issue 23): tandem next to Evidently and NannyML, and tandem's own monitoring path,
# side by side in one invocation (code in benchmarks/monitoring/):
#
#   benchmarks/run_monitoring.sh                       # all parts, Evidently on 3 windows (~5 min)
#   EVIDENTLY_WINDOWS=24 benchmarks/run_monitoring.sh  # Evidently on all 24 windows (~25 min more)
#   benchmarks/run_monitoring.sh drift cbpe            # some parts: drift outcomes cbpe alerts conformance
#
# (1) drift: 24 hourly windows of 100k x 20 (5 shifted columns) against a stored 1M-row reference;
#     tandem from the stored profile (profile the window once, compare sketches) and through the
#     monitoring service end to end, Evidently's DataDriftPreset recomputing per window.
# (2) outcomes: 1M labels joined to 1M logged predictions, per-window metrics recomputed (tandem's
#     `labels add`), beside a hand-written Polars floor.
# (3) cbpe: tandem's CBPE and NannyML's on the same 24 chunks of a calibrated model, error and time.
# (4) alerts: a breach to a webhook receiver on loopback through a real hub and worker.
# (5) conformance: the alert engine's conformance scenarios that pass.
# Peers live in their own virtual environments (/tmp/benchenv-<tool>, made here if missing; never
# in pyproject). Data is generated once into /tmp/bench-mon (MONITORING_DATA). Writes
# benchmarks/results/monitoring-<stamp>.log (every record), appends the BENCH records to
# benchmarks/results/raw-monitoring.jsonl and prints the goals table (report.py).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${TANDEM_PY:-$ROOT/.venv/bin/python}"  # a worktree: TANDEM_PY=<main>/.venv/bin/python
E="${BENCH_ENV_PREFIX:-/tmp/benchenv}"
export BENCH_SHARED="${BENCH_SHARED:-$ROOT/../shared/bench}"
[ -d "$BENCH_SHARED/d_drift" ] || BENCH_SHARED=/work/shared/bench
export MONITORING_DATA="${MONITORING_DATA:-/tmp/bench-mon}"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
RESULTS="$ROOT/benchmarks/results"
M="$ROOT/benchmarks/monitoring"
PARTS="${*:-drift outcomes cbpe alerts conformance}"
EVIDENTLY_WINDOWS="${EVIDENTLY_WINDOWS:-3}"

[ -x "$PY" ] || { echo "no tandem interpreter at $PY (set TANDEM_PY)" >&2; exit 2; }
mk() {  # mk <tool> <pip args...>: one peer's environment
  local env="$E-$1"; shift
  if [ ! -x "$env/bin/python" ]; then
    python3 -m venv "$env" && "$env/bin/pip" install -q -U pip && "$env/bin/pip" install -q "$@"
  fi
}
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
# Evidently 0.7.23 imports a pandas helper removed in pandas 3 (the shared setup's pin);
# NannyML 0.13.1 imports statsmodels in its plots without declaring it
has drift && mk evidently evidently pyarrow "pandas<3"
has cbpe && mk nannyml nannyml pyarrow statsmodels

"$PY" "$M/make_data.py" || exit 1
mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
LOG="$RESULTS/monitoring-$STAMP.log"
{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
  echo "tandem: $("$PY" -c 'import tandem; print(tandem.__version__)') at $(git rev-parse --short HEAD) ($(git rev-parse --abbrev-ref HEAD)); $("$PY" --version); $("$PY" -c 'import polars, numpy; print("polars", polars.__version__, "numpy", numpy.__version__)')"
  for tool in evidently nannyml; do
    [ -x "$E-$tool/bin/pip" ] && echo "$tool env: $("$E-$tool/bin/python" --version) $("$E-$tool/bin/pip" freeze 2>/dev/null | grep -iE '^(evidently|nannyml|pandas|numpy|scipy|scikit-learn)==' | tr '\n' ' ')"
  done
  echo "parts: $PARTS; EVIDENTLY_WINDOWS=$EVIDENTLY_WINDOWS"
  echo "load before: $(cat /proc/loadavg)"
} | tee "$LOG"
step() { echo "== $* ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; }

if has drift; then
  step "(1) tandem: drift per window from the stored reference profile"
  run "$PY" "$M/drift_tandem.py" --variant profiles
  step "(1) tandem: the monitoring service end to end over logged windows"
  run "$PY" "$M/monitoring_e2e.py" drift
  step "(1) Evidently DataDriftPreset, recomputed per window ($EVIDENTLY_WINDOWS windows)"
  run "$E-evidently/bin/python" "$M/drift_evidently.py" --windows "$EVIDENTLY_WINDOWS"
fi
if has outcomes; then
  step "(2) the Polars floor: join + per-window metrics in memory"
  run "$PY" "$M/outcomes_floor.py"
  step "(2) tandem: labels add (1M) over 1M logged predictions"
  run "$PY" "$M/monitoring_e2e.py" outcomes
fi
if has cbpe; then
  step "(3) tandem CBPE"
  run "$PY" "$M/cbpe_tandem.py"
  step "(3) NannyML CBPE"
  run "$E-nannyml/bin/python" "$M/cbpe_nannyml.py"
fi
if has alerts; then
  step "(4) alert delivery latency: hub + worker + webhook receiver on loopback"
  run "$PY" "$M/alert_latency.py"
fi
if has conformance; then
  step "(5) alert engine conformance scenarios"
  run "$PY" "$M/conformance.py"
fi
echo "load after: $(cat /proc/loadavg)" | tee -a "$LOG"
grep '^BENCH ' "$LOG" | cut -c7- >> "$RESULTS/raw-monitoring.jsonl"
python3 "$M/report.py" "$LOG" | tee "$RESULTS/monitoring-$STAMP.md"
echo "done: $LOG"
