"""tandem's monitoring path end to end, over a real prediction log (issue 23, parts 1 and 2):

    PYTHONPATH=src .venv/bin/python benchmarks/monitoring/monitoring_e2e.py drift|outcomes

A `tandem server` (SQLite) in a temporary workspace on a loopback port; project `bench`,
endpoint `prod`. The data is shipped as a gateway ships it (`client.predictions.ship`: Arrow
batches of `--batch` rows, each one segment in the blob store; untimed). The timed work then runs
in process on the same workspace (`Services.build`, as benchmarks/serving/predlog_lookup.py
does), so the figures are the services' work, not HTTP.

drift     the 24 windows of 100k x 20 logged (inputs as the gateway logs them: JSON
          `{"columns": [...], "data": [[...]]}`); the reference added as a dataset version.
          "prediction log + profile": per window `PredictionService.read_log` (the overlapping
          segments read and decoded) + `profile_frame` + `compare_profiles` against the stored
          reference profile. "monitor end to end": a feature-drift monitor against the
          reference dataset version, each window evaluated by `MonitoringService.check` with
          `now` at the window's end (the window's bucket profiles, stored when its batches
          were shipped, merged and compared; result stored).
outcomes  1M predictions logged (score = positive-class probability, output `[[1-p, p]]`), then
          `OutcomeService` adds the 1M labels from the Parquet file: joined by request id to the
          log and the per-version x hourly metrics recomputed (tandem.outcomes); timed end to end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import (  # noqa: E402
    DATA,
    HOUR_MS,
    START_AT_MS,
    WINDOW_ROWS,
    WINDOWS,
    emit,
    summary,
    truth,
    verdict,
    window_path,
)

import tandem  # noqa: E402
from tandem.core.config import Settings  # noqa: E402
from tandem.data.drift import compare_profiles  # noqa: E402
from tandem.data.profile import Profile, profile_frame  # noqa: E402
from tandem.server.container import Services  # noqa: E402

PROJECT, ENDPOINT = "bench", "prod"
OUTPUT = "probabilities"  # --output: how the outcomes part logs its outputs
PROFILE = False  # --profile: pyinstrument (or cProfile) of the timed call, printed to stderr
DRIFT_BENCH = "drift per hourly window, 100k x 20 vs stored 1M reference"


def bench_common() -> Any:  # benchmarks/common.py (a name this folder's common.py shadows)
    spec = importlib.util.spec_from_file_location("bench_common", HERE.parent / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_common"] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def hub() -> Iterator[tuple[tandem.Client, Services, Path]]:
    """A server on loopback with project `bench` and endpoint `prod`; its client; the same
    workspace's services in process."""
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mon-")))
        url = stack.enter_context(bench_common().tandem_server(home / "hub"))
        client = tandem.Client(url, project=PROJECT, home=home / "client")
        stack.callback(client.close)
        client.projects.create(PROJECT)
        client.deployments.create(ENDPOINT, PROJECT)
        hub_home = home / "hub"
        settings = Settings(
            home=hub_home,
            database_url=f"sqlite:///{hub_home / 'tandem.db'}",
            artifacts=str(hub_home / "blobs"),
        )
        services = Services.build(settings)
        stack.callback(services.close)
        yield client, services, home


def _batch_meta(frame: pl.DataFrame, versions: pl.Expr) -> list[pl.Expr]:
    return [
        pl.format("churn-lr@{}", versions).alias("deployment"),
        pl.lit("churn-lr").alias("model"),
        versions.cast(pl.Int64).alias("version"),
        pl.lit(200, pl.Int32).alias("status"),
        pl.lit(0.4).alias("latency_ms"),
    ]


def inputs_json(frame: pl.DataFrame, columns: list[str], categorical: set[str]) -> pl.Expr:
    """The gateway's logged inputs of one-row requests, built by Polars over the whole frame."""
    head = '{"columns":' + json.dumps(columns, separators=(",", ":")) + ',"data":[['
    values = []
    for i, name in enumerate(columns):
        value = pl.col(name).cast(pl.String)
        value = pl.concat_str(pl.lit('"'), value, pl.lit('"')) if name in categorical else value
        values.extend([pl.lit(",")] if i else [])
        values.append(value.fill_null("null"))
    return pl.concat_str([pl.lit(head), *values, pl.lit("]]}")])


def ship(client: tandem.Client, table: pl.DataFrame, batch: int, prefix: str) -> int:
    shipped = 0
    for number, start in enumerate(range(0, table.height, batch)):
        part = table.slice(start, batch).to_arrow()
        client.predictions.ship(ENDPOINT, part, gateway="gw-bench", batch=f"{prefix}-{number:05d}")
        shipped += 1
    return shipped


BATCH_COLUMNS = [
    "request_id",
    "at",
    "deployment",
    "model",
    "version",
    "status",
    "latency_ms",
    "inputs",
    "output",
]


def ship_drift_windows(client: tandem.Client, batch: int) -> float:
    t = truth()
    columns = t["numeric"] + t["categorical"]
    began = time.perf_counter()
    for hour in range(WINDOWS):
        frame = pl.read_parquet(window_path(hour))
        step = HOUR_MS // WINDOW_ROWS
        logged = frame.with_row_index("n").select(
            pl.format("w{}-{}", pl.lit(hour), pl.col("n")).alias("request_id"),
            (START_AT_MS + hour * HOUR_MS + pl.col("n").cast(pl.Int64) * step).alias("at"),
            *_batch_meta(frame, pl.lit(1)),
            inputs_json(frame, columns, set(t["categorical"])).alias("inputs"),
            pl.lit("[[0.5,0.5]]").alias("output"),
        )
        ship(client, logged.select(BATCH_COLUMNS), batch, f"w{hour:02d}")
    return time.perf_counter() - began


def drift(batch: int) -> None:
    t = truth()
    with hub() as (client, services, home):
        shipped = ship_drift_windows(client, batch)
        print(f"shipped {WINDOWS} windows in {shipped:.1f} s", file=sys.stderr)
        reference = pl.read_parquet(DATA / "drift" / "reference.parquet")
        stored = json.dumps(profile_frame(reference).to_json())
        owner = services.owner
        seconds, parts, verdicts, cpu = [], [], [], []
        for hour in range(WINDOWS):
            since = START_AT_MS + hour * HOUR_MS
            cpu_began = time.process_time()
            began = time.perf_counter()
            frames = services.predictions.read_log(owner, PROJECT, ENDPOINT, since, since + HOUR_MS)
            read = time.perf_counter()
            report = compare_profiles(
                Profile.from_json(json.loads(stored)), profile_frame(frames.inputs)
            )
            done = time.perf_counter()
            cpu.append(time.process_time() - cpu_began)
            assert frames.rows == WINDOW_ROWS, frames.rows
            seconds.append(done - began)
            parts.append((read - began, done - read))
            verdicts.append(verdict(report.drifted_columns, t["drifted"]))
            print(
                f"log window {hour:02d}: {seconds[-1]:.3f} s (read_log {parts[-1][0]:.3f}, "
                f"profile+compare {parts[-1][1]:.3f}) {verdicts[-1]}",
                file=sys.stderr,
            )
        record(
            DRIFT_BENCH,
            "prediction log + profile",
            seconds,
            verdicts,
            read_log_s=_median(p[0] for p in parts),
            cpu_median_s=_median(cpu),
            profile_compare_s=_median(p[1] for p in parts),
            batch_rows=batch,
            notes="read_log of the window's segments (inputs decoded) + profile_frame + "
            "compare_profiles vs the stored reference profile",
        )
        monitor_windows(client, services, home, t)


def _median(values: Any) -> float:
    ordered = sorted(values)
    return round(float(ordered[len(ordered) // 2]), 4)


def record(
    bench: str, variant: str, seconds: list[float], verdicts: list[dict[str, Any]], **extra: Any
) -> None:
    s = summary(seconds)
    emit(
        "M1",
        bench,
        "tandem",
        version("tandem"),
        s["median_s"],
        "s/window",
        variant=variant,
        seconds=s["total_s"],
        **s,
        min_found=min(v["found"] for v in verdicts),
        max_false_alarms=max(len(v["false_alarms"]) for v in verdicts),
        false_alarm_columns=sorted({c for v in verdicts for c in v["false_alarms"]}),
        **extra,
    )


def monitor_windows(
    client: tandem.Client, services: Services, home: Path, t: dict[str, Any]
) -> None:
    """The feature-drift monitor over the logged windows, one `check` per window with
    `now` just after the window closed (what the worker does each tick)."""
    monitoring = getattr(services, "monitoring", None)
    if monitoring is None:
        print(
            "monitor end to end: pending (no MonitoringService in the container)", file=sys.stderr
        )
        return
    from tandem.monitoring.models import MonitorSpec, SignalKind

    added = client.data.add("reference", DATA / "drift" / "reference.parquet", project=PROJECT)
    spec = MonitorSpec(
        name="drift",
        endpoint=ENDPOINT,
        kind=SignalKind.FEATURE_DRIFT,
        window="1h",
        params={"reference": f"reference@v{added.version}"},
        condition="drifted_count >= 1",
    )
    owner = services.owner
    monitoring.create(owner, PROJECT, spec)
    grace = int(getattr(monitoring, "grace_ms", 0))
    monitoring.check(owner, PROJECT, "drift", now=START_AT_MS + grace)  # none before the traffic
    seconds, verdicts, cpu = [], [], []
    for hour in range(WINDOWS):
        now = START_AT_MS + (hour + 1) * HOUR_MS + grace
        cpu_began = time.process_time()
        began = time.perf_counter()
        summary_ = monitoring.check(owner, PROJECT, "drift", now=now)
        seconds.append(time.perf_counter() - began)
        cpu.append(time.process_time() - cpu_began)
        results = [r for r in summary_.results if r.window_start == now - grace - HOUR_MS]
        if summary_.errors or len(results) != 1:
            raise SystemExit(f"window {hour}: {summary_.errors or summary_.results}")
        result = results[0]
        verdicts.append(verdict(result.details.get("drifted_columns", []), t["drifted"]))
        print(
            f"monitor window {hour:02d}: {seconds[-1]:.3f} s, value {result.value}, breached "
            f"{result.breached}, {result.samples} rows, {verdicts[-1]}",
            file=sys.stderr,
        )
    record(
        DRIFT_BENCH,
        "monitor end to end",
        seconds,
        verdicts,
        cpu_median_s=_median(cpu),
        notes="MonitoringService.check of a feature-drift monitor (reference dataset@v1's "
        "stored profile): claim, the window's stored bucket profiles merged (read_log for "
        "windows without them), compare, result stored",
    )


def outcomes(batch: int) -> None:
    with hub() as (client, services, _home):
        frame = pl.read_parquet(DATA / "outcomes" / "predictions.parquet")
        logged = frame.select(
            "request_id",
            "at",
            *_batch_meta(frame, pl.col("version")),
            pl.concat_str(
                [
                    pl.lit('{"columns":["x0","x1"],"data":[['),
                    pl.col("x0").cast(pl.String),
                    pl.lit(","),
                    pl.col("x1").cast(pl.String),
                    pl.lit("]]}"),
                ]
            ).alias("inputs"),
            _output().alias("output"),
        )
        began = time.perf_counter()
        ship(client, logged.select(BATCH_COLUMNS), batch, "p")
        print(f"shipped 1M predictions in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        outcome_service = getattr(services, "outcomes", None)
        if outcome_service is None:
            print("outcomes: pending (no OutcomeService in the container)", file=sys.stderr)
            return
        path = DATA / "outcomes" / "labels.parquet"
        body = path.read_bytes()
        now = int(pl.read_parquet(path, columns=["at"])["at"].max()) + 1  # type: ignore[arg-type]
        profiler = _profiler()
        cpu_began = time.process_time()
        began = time.perf_counter()
        receipt = outcome_service.add_labels(services.owner, PROJECT, ENDPOINT, body, now=now)
        seconds = time.perf_counter() - began
        cpu_s = round(time.process_time() - cpu_began, 3)
        _report(profiler)
        print(
            f"labels add: {seconds:.2f} s, {receipt.matched:,} matched, {receipt.unknown:,} "
            f"unknown, {len(receipt.windows)} windows recomputed",
            file=sys.stderr,
        )
        emit(
            "M2",
            "join 1M labels to 1M predictions + per-window metrics",
            "tandem",
            version("tandem"),
            seconds,
            "s",
            variant="OutcomeService.add_labels",
            seconds=seconds,
            cpu_s=cpu_s,
            rows=receipt.rows,
            matched=receipt.matched,
            unknown=receipt.unknown,
            windows=len(receipt.windows),
            batch_rows=batch,
            output=OUTPUT,
            notes="the Parquet file checked, the log read (read_log over its segments), "
            "joined, stored as one Parquet batch, every version x hour window's figures "
            "recomputed (with bootstrap bands)",
        )


def _output() -> pl.Expr:
    """The logged output: `[[1-p, p]]` (class probabilities, as a booster answers) or, with
    `--output records`, `[{"prediction": 0|1, "score": p}]` (a scikit-learn classifier's label
    with its probability, as the gateway logs it)."""
    score = pl.col("score").cast(pl.String)
    if OUTPUT == "records":
        label = (pl.col("score") >= 0.5).cast(pl.Int8).cast(pl.String)
        return pl.concat_str(
            [pl.lit('[{"prediction":'), label, pl.lit(',"score":'), score, pl.lit("}]")]
        )
    return pl.concat_str(
        [pl.lit("[["), (1 - pl.col("score")).cast(pl.String), pl.lit(","), score, pl.lit("]]")]
    )


def _profiler() -> Any:
    """--profile: pyinstrument when the venv has it (pip install pyinstrument; never a product
    dependency), else cProfile; None without --profile."""
    if not PROFILE:
        return None
    if importlib.util.find_spec("pyinstrument") is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
        return profiler
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _report(profiler: Any) -> None:
    if profiler is None:
        return
    if hasattr(profiler, "output_text"):
        profiler.stop()
        print(profiler.output_text(unicode=False, show_all=False), file=sys.stderr)
        return
    import pstats

    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["drift", "outcomes"])
    ap.add_argument("--batch", type=int, default=10_000, help="rows per shipped batch (segment)")
    ap.add_argument("--profile", action="store_true", help="profile the timed calls")
    ap.add_argument("--output", choices=["probabilities", "records"], default="probabilities",
                    help="how outputs are logged (outcomes)")  # fmt: skip
    a = ap.parse_args()
    global PROFILE, OUTPUT
    PROFILE, OUTPUT = a.profile, a.output
    {"drift": drift, "outcomes": outcomes}[a.part](a.batch)


if __name__ == "__main__":
    main()
