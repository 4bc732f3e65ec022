"""The monitoring page's workspace (a module of its own, imported by name like web_world): on top
of `incidents_page_world` (churn-lr@2 serving `prod`, trained on telco@v1), six closed hours of
predictions logged the way a gateway logs them, `tenure` shifted in the last two; a feature-drift
monitor evaluated over them; labels for the first three hours (realised figures), none after
(CBPE estimates); an hourly KPI; and the gateway's request, error and latency figures."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import orjson
import polars as pl
from data_world import TELCO_CSV

from tandem.core.clock import now_ms
from tandem.deployments.models import LatencyBuckets, StatsReport, WindowStats
from tandem.monitoring.models import MonitorSpec, SignalKind
from tandem.outcomes.models import KpiCreate
from tandem.server.container import Services
from tandem.serving.predlog import to_arrow

HOUR = 3_600_000
HOURS = 6
ROWS = 300  # requests per hour
SHIFTED = (4, 5)  # the hours whose tenure is shifted
LABELLED = (0, 1, 2)  # the hours whose outcomes are known
COLUMNS = ["tenure", "MonthlyCharges"]


@dataclass(frozen=True)
class Traffic:
    start: int  # the first hour's start
    deployment: str
    drift_monitor: str


def _score(tenure: float, charges: float) -> float:
    return 1 / (1 + math.exp((tenure - 30) / 10 - (charges - 70) / 40))


def add_traffic(services: Services) -> Traffic:
    owner = services.owner
    endpoint = services.deployments.get_endpoint(owner, "vision", "prod")
    serving = next(d for d in endpoint.deployments if d.weight > 0)
    start = now_ms() // HOUR * HOUR - HOURS * HOUR
    rng = np.random.default_rng(7)
    telco = pl.read_csv(TELCO_CSV, infer_schema_length=10_000).select(COLUMNS)
    labels: list[tuple[str, int]] = []
    stats = []
    for hour in range(HOURS):
        at = start + hour * HOUR
        drawn = telco.sample(ROWS, seed=hour)  # the training population
        tenure = drawn["tenure"].to_numpy() + (30 if hour in SHIFTED else 0)
        charges = drawn["MonthlyCharges"].to_numpy()
        entries = []
        for i in range(ROWS):
            p = _score(float(tenure[i]), float(charges[i]))
            request = f"r-{hour}-{i}"
            inputs = orjson.dumps(
                {"columns": COLUMNS, "data": [[float(tenure[i]), float(charges[i])]]}
            )
            output = orjson.dumps([[1 - p, p]])
            entries.append((request, at + i * 1000, serving.id, serving.model, serving.version,
                            200, 2.0, inputs.decode(), output.decode()))  # fmt: skip
            if hour in LABELLED:
                labels.append((request, int(rng.random() < p)))
        table = to_arrow(entries)
        sink = io.BytesIO()
        import pyarrow as pa

        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        services.predictions.ship(owner, "vision", "prod", gateway="gw-1", batch=f"b-{hour}",
                                  body=sink.getvalue())  # fmt: skip
        counts = [0] * (len(LatencyBuckets.BOUNDS_MS) + 1)
        counts[3 + (hour in SHIFTED)] = ROWS
        stats.append(WindowStats(deployment=serving.id, start=at, end=at + HOUR, requests=ROWS,
                                 errors=hour, latency_counts=counts))  # fmt: skip
        services.outcomes.push_kpi(owner, "vision", "prod",
                                   KpiCreate(name="retention_rate", value=0.9 - hour / 100,
                                             at=at))  # fmt: skip
    services.deployments.report(owner, "vision", "prod", StatsReport(
        gateway="gw-1", policy_version=endpoint.policy_version, windows=stats))  # fmt: skip
    frame = pl.DataFrame({"request_id": [r for r, _ in labels], "label": [y for _, y in labels]})
    parquet = io.BytesIO()
    frame.write_parquet(parquet)
    services.outcomes.add_labels(owner, "vision", "prod", parquet.getvalue())
    drift = next(  # the default one a deployment gives the endpoint
        (m.name for m in services.monitoring.list_monitors(owner, "vision", endpoint="prod")
         if m.kind is SignalKind.FEATURE_DRIFT),
        None,
    )  # fmt: skip
    if drift is None:
        drift = services.monitoring.create(owner, "vision", MonitorSpec.model_validate({
            "name": "prod-drift", "endpoint": "prod", "kind": SignalKind.FEATURE_DRIFT,
            "window": "1h", "params": {"columns": COLUMNS}, "owner": "ada",
        })).name  # fmt: skip
    services.monitoring.check(owner, "vision", drift)
    services.monitoring.check(owner, "vision")  # prediction drift, the contract, the SLO
    return Traffic(start=start, deployment=serving.id, drift_monitor=drift)


def fire_alerts(services: Services) -> None:
    """Two alerts on `prod` through the alerting service's own tick: a page (the drift monitor
    breached) and a ticket (the p99 SLO), fed as the monitoring domain's results would be."""
    from tandem.alerting.models import AlertSeverity, ResultInput

    now = now_ms()
    results = [
        ResultInput(project="vision", monitor=name, endpoint="prod", severity=severity,
                    breached=True, value=value, window_end=now - 60_000,
                    annotations={"summary": summary})
        for name, severity, value, summary in (
            ("prod-drift", AlertSeverity.PAGE, 0.5, "tenure drifted on prod"),
            ("prod-p99", AlertSeverity.TICKET, 180.0, "p99 latency above 150 ms"),
        )
    ]  # fmt: skip

    def feed(conn: object, cursor: str | None) -> tuple[list[ResultInput], str | None]:
        return (results, "1") if cursor is None else ([], cursor)

    services.alerts.use_feed(feed)
    services.alerts.tick(services.owner, now=now)
