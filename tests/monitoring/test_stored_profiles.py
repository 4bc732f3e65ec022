"""Feature drift from the profiles stored when a batch is shipped (one per model version and
5-minute bucket), not from the log read back: stored once per batch (a retry stores nothing),
the same verdicts and statistics (within the sketches' error) as the log gives for the same
window, and the log read for windows the stored profiles cannot answer (segments shipped before
profiles were stored, windows not made of whole buckets). On SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from monitor_world import COLUMNS, H0, HOUR, MODEL, PROJECT, population
from sqlalchemy import delete

from tandem.core.auth import Principal
from tandem.monitoring.models import MonitorSpec, SignalKind
from tandem.predictions.tables import prediction_profiles
from tandem.serving.predlog import to_arrow

WORKER = Principal.system("worker")
BUCKET = 5 * 60_000


def spec(name: str, **fields) -> MonitorSpec:
    return MonitorSpec.model_validate(
        {"name": name, "endpoint": "prod", "kind": SignalKind.FEATURE_DRIFT, **fields}
    )


def ship_spread(world, start: int, rows: int, *, seed: int, batches: int = 3,
                shift: dict[str, float] | None = None, prefix: str = "s") -> None:  # fmt: skip
    """`rows` one-row requests spread evenly over the hour from `start`, in `batches` batches
    (so a batch spans several 5-minute buckets and a bucket can hold two batches' rows)."""
    frame = population(rows, seed, shift)
    step = HOUR // rows
    entries = []
    for i, values in enumerate(frame[COLUMNS].itertuples(index=False)):
        inputs = orjson.dumps({"columns": COLUMNS, "data": [list(values)]}).decode()
        entries.append((f"{prefix}-{start}-{i}", start + i * step, "d-1", MODEL, 1, 200, 1.5,
                        inputs, "[1]"))  # fmt: skip
    size = -(-rows // batches)
    for n in range(batches):
        part = entries[n * size : (n + 1) * size]
        world.sdk.predictions.ship("prod", to_arrow(part), gateway="gw-1",
                                   batch=f"{prefix}-{start}-{n}", project=PROJECT)  # fmt: skip


def test_profiles_are_stored_once_per_batch_and_bucket(world) -> None:
    predictions, owner = world.services.predictions, world.services.owner
    ship_spread(world, H0, 1200, seed=3, batches=2)
    parts = predictions.window_profiles(owner, PROJECT, "prod", H0, H0 + HOUR)
    assert parts is not None
    # 12 buckets; the two batches meet in the middle of one at most: 12 or 13 profiles
    assert {p.bucket_start for p in parts} == set(range(H0, H0 + HOUR, BUCKET))
    assert len(parts) in (12, 13)
    assert sum(p.rows for p in parts) == 1200
    assert all(p.model == MODEL and p.version == 1 for p in parts)
    first = orjson.loads(parts[0].inputs)
    assert set(first["state"]) == set(COLUMNS) and first["rows"] == parts[0].rows
    assert parts[0].scores is not None  # the predicted class, a number

    # a retried batch stores nothing, profiles included
    ship_spread(world, H0, 1200, seed=3, batches=2)
    again = predictions.window_profiles(owner, PROJECT, "prod", H0, H0 + HOUR)
    assert again == parts
    # a window not on bucket boundaries is not answered from buckets
    assert predictions.window_profiles(owner, PROJECT, "prod", H0, H0 + 60_000) is None


def test_drift_from_stored_profiles_equals_drift_from_the_log(world, monkeypatch) -> None:
    ship_spread(world, H0, 3000, seed=11)
    ship_spread(world, H0 + HOUR, 3000, seed=12, shift={"tenure": 25})
    ship_spread(world, H0 + 2 * HOUR, 3000, seed=13, shift={"charges": 4})
    monitoring, owner = world.services.monitoring, world.services.owner
    monitoring.create(owner, PROJECT, spec("stored"))
    monitoring.create(owner, PROJECT, spec("logged"))
    now = H0 + 3 * HOUR + 120_000
    stored = monitoring.check(owner, PROJECT, "stored", now=now)
    monkeypatch.setattr(world.services.predictions, "window_profiles", lambda *a, **k: None)
    logged = monitoring.check(owner, PROJECT, "logged", now=now)

    a = {r.window_start: r for r in stored.results}
    b = {r.window_start: r for r in logged.results}
    assert set(a) == set(b)
    for start in (H0, H0 + HOUR, H0 + 2 * HOUR):
        x, y = a[start], b[start]
        assert x.details["from"] == "stored profiles" and "from" not in y.details
        assert (x.breached, x.samples, x.version) == (y.breached, y.samples, y.version)
        assert x.details["drifted_columns"] == y.details["drifted_columns"]
        assert x.details["reference_rows"] == y.details["reference_rows"]
        for column in COLUMNS:
            cx, cy = x.details["columns"][column], y.details["columns"][column]
            assert cx["statistic"] == cy["statistic"]
            assert cx["value"] == pytest.approx(cy["value"], abs=0.02, rel=0.1)
    assert a[H0].details["drifted_columns"] == []
    assert a[H0 + HOUR].details["drifted_columns"] == ["tenure"]
    # windows before the traffic: no data either way
    assert all(a[s].breached is None and a[s].samples == 0 for s in a if s < H0)


def test_segments_without_profiles_and_unaligned_windows_read_the_log(world) -> None:
    ship_spread(world, H0, 900, seed=11, shift={"tenure": 25})
    ship_spread(world, H0 + HOUR, 900, seed=12, shift={"tenure": 25})
    services, owner = world.services, world.services.owner
    # the first hour's segments as shipped before profiles were stored
    with services.db.write() as conn:
        conn.execute(delete(prediction_profiles).where(prediction_profiles.c.bucket_start < H0
                                                       + HOUR))  # fmt: skip
    services.monitoring.create(owner, PROJECT, spec("hourly"))
    summary = services.monitoring.check(owner, PROJECT, "hourly", now=H0 + 2 * HOUR + 120_000)
    by_window = {r.window_start: r for r in summary.results}
    old, new = by_window[H0], by_window[H0 + HOUR]
    assert "from" not in old.details and new.details["from"] == "stored profiles"
    for result in (old, new):
        assert result.breached is True and result.samples == 900
        assert result.details["drifted_columns"] == ["tenure"]

    # a 7-minute window is not whole 5-minute buckets: read from the log
    services.monitoring.create(owner, PROJECT, spec("odd", window="7m",
                                                    params={"min_samples": 5}))  # fmt: skip
    odd = services.monitoring.check(owner, PROJECT, "odd", now=H0 + 2 * HOUR + 120_000)
    judged = [r for r in odd.results if r.samples]
    assert judged and all("from" not in r.details for r in judged)
