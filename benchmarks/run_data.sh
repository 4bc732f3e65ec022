#!/usr/bin/env bash
# tandem vs DVC, pandera, Great Expectations and Evidently, workloads B (versioning 1 GiB),
# C (validating 5M x 20 against 42 checks) and D (drift 1M vs 1M x 20), side by side in one
# invocation, through the shared harness and the peers' own adapters:
#
#   benchmarks/run_data.sh              # REPEAT=3, B C D (about 25 min on 2 cores)
#   REPEAT=1 benchmarks/run_data.sh C   # one workload, quick
#
# Peers live in their own virtual environments (/tmp/benchenv-<tool>, made here if missing, with
# the shared setup's pins), so their pins never touch tandem's. Data is generated once into
# /tmp/bench-{b,c,d} by the shared generators. Records go to benchmarks/results/raw-data.jsonl;
# the report to benchmarks/results/report-data.md and the ratios to summary-data.md.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPEAT="${REPEAT:-3}"
SHARED="${BENCH_SHARED:-/work/shared/bench}"
RESULTS="$ROOT/benchmarks/results"
RAW="$RESULTS/raw-data.jsonl"
PY="$ROOT/.venv/bin/python"
E=/tmp/benchenv
STEPS="${*:-B C D}"

[ -f "$SHARED/harness/runner.py" ] || { echo "shared bench harness not found in $SHARED (set BENCH_SHARED)" >&2; exit 2; }
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[ray]"
fi
mk() {  # mk <tool> <pip args...>: the shared setup's environment for one peer
  local env="$E-$1"; shift
  if [ ! -x "$env/bin/python" ]; then
    python3 -m venv "$env" && "$env/bin/pip" install -q -U pip && "$env/bin/pip" install -q "$@"
  fi
}
case " $STEPS " in *" B "*) mk dvc dvc blake3 ;; esac
case " $STEPS " in *" C "*) mk pandera "pandera[polars]" pandas polars pyarrow; mk gx great_expectations pyarrow ;; esac
case " $STEPS " in *" D "*) mk evidently evidently pyarrow "pandas<3" ;; esac

# data, once (the shared generators, run with tandem's interpreter: numpy, polars, pyarrow)
[ -f /tmp/bench-b/repo/data/big.bin ] || "$PY" "$SHARED/b_hashing/make_data.py" --out /tmp/bench-b/repo/data
[ -f /tmp/bench-c/table.parquet ] || "$PY" "$SHARED/c_validation/make_data.py" --out /tmp/bench-c/table.parquet
[ -f /tmp/bench-c/conformance.parquet ] || "$PY" "$SHARED/c_validation/make_data.py" --conformance --out /tmp/bench-c/conformance.parquet
[ -f /tmp/bench-d/truth.json ] || "$PY" "$SHARED/d_drift/make_data.py" --out /tmp/bench-d

mkdir -p "$RESULTS/.stage"
ln -sfn "$SHARED/harness" "$RESULTS/.stage/harness"
ln -sfn .. "$RESULTS/.stage/results"
R="python3 $RESULTS/.stage/harness/runner.py --out $RAW --repeat"
META="$RESULTS/meta-data-$(date +%Y%m%d-%H%M%S).txt"
{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "tandem: $("$PY" -c 'import tandem; print(tandem.__version__)') at $(git rev-parse --short HEAD)"
  for tool in dvc pandera gx evidently; do
    [ -x "$E-$tool/bin/pip" ] && echo "$tool env: $("$E-$tool/bin/pip" freeze 2>/dev/null | grep -iE '^(dvc|pandera|great.expectations|evidently|pandas|polars)==' | tr '\n' ' ')"
  done
  echo "REPEAT=$REPEAT steps: $STEPS"
  echo "load before: $(cat /proc/loadavg)"
} > "$META"
cat "$META"
step() { echo "== $* ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg))"; echo "load at $(date +%T) before $*: $(cat /proc/loadavg)" >> "$META"; }

for workload in $STEPS; do
  case "$workload" in
    B)
      step "B: dvc add (warm)"
      (cd "$SHARED/b_hashing" && $R "$REPEAT" -- "$E-dvc/bin/python" dvc_adapter.py --cache warm)
      step "B: tandem data add and the read+BLAKE3+write limit (warm)"
      (cd "$SHARED/b_hashing" && $R "$REPEAT" -- "$PY" "$ROOT/benchmarks/versioning_tandem.py" --cache warm)
      ;;
    C)
      step "C: hand-written polars baseline"
      (cd "$SHARED/c_validation" && $R "$REPEAT" -- "$PY" polars_baseline.py)
      step "C: tandem"
      (cd "$SHARED/c_validation" && $R "$REPEAT" -- "$PY" "$ROOT/benchmarks/validation_tandem.py")
      (cd "$SHARED/c_validation" && $R 1 -- "$PY" "$ROOT/benchmarks/validation_tandem.py" --conformance)
      step "C: pandera (polars)"
      (cd "$SHARED/c_validation" && $R "$REPEAT" -- "$E-pandera/bin/python" pandera_adapter.py --backend polars)
      step "C: Great Expectations"
      (cd "$SHARED/c_validation" && GX_ANALYTICS_ENABLED=false $R "$REPEAT" -- "$E-gx/bin/python" gx_adapter.py)
      ;;
    D)
      step "D: numpy/scipy baseline"
      (cd "$SHARED/d_drift" && $R "$REPEAT" -- "$PY" numpy_baseline.py)
      step "D: tandem"
      (cd "$SHARED/d_drift" && $R "$REPEAT" -- "$PY" "$ROOT/benchmarks/drift_tandem.py")
      step "D: Evidently DataDriftPreset (once: ~100 s a run)"
      (cd "$SHARED/d_drift" && $R "${EVIDENTLY_REPEAT:-1}" -- "$E-evidently/bin/python" evidently_adapter.py --method default)
      ;;
    *) echo "unknown workload $workload (use B, C, D)" >&2; exit 2 ;;
  esac
done

echo "load after: $(cat /proc/loadavg)" >> "$META"
python3 "$RESULTS/.stage/harness/report.py" --raw "$RAW" --out "$RESULTS/report-data.md" \
  --notes "$META" --title "tandem vs DVC, pandera, Great Expectations, Evidently: workloads B, C, D"
echo "done: $RESULTS/report-data.md, $META"
