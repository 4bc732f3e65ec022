"""`PredictionService.read_log`: a time range of the prediction log as Polars frames, one row
per predicted row, inputs expanded as typed columns, whatever shape the request had."""

from __future__ import annotations

import pyarrow as pa
from monitor_world import H0, HOUR, PROJECT


def test_read_log_expands_requests_of_every_shape(world) -> None:
    rows = [
        (
            "a",
            H0 + 1,
            200,
            '{"columns":["tenure","plan"],"data":[[1,"basic"],[2.5,"pro"]]}',
            "[0,1]",
        ),
        (
            "b",
            H0 + 2,
            200,
            '{"columns":["tenure","plan"],"data":[[3,"a \\"quoted\\" plan"]]}',
            "[[0.2,0.8]]",
        ),
        ("c", H0 + 3, 200, '[{"tenure": 4, "plan": "basic"}]', '[{"score": 0.4, "label": 0}]'),
        ("d", H0 + 4, 200, '{"tenure": [5, 6], "plan": ["pro", "pro"]}', "[1.5, 2.5]"),
        ("e", H0 + 5, 500, "null", '{"type":"about:blank","status":500}'),
        ("f", H0 + HOUR, 200, '{"columns":["tenure"],"data":[[9]]}', "[1]"),  # outside
    ]
    table = pa.table({
        "request_id": [r[0] for r in rows], "at": pa.array([r[1] for r in rows], pa.int64()),
        "deployment": ["d-1"] * len(rows), "model": ["churn-lr"] * len(rows),
        "version": pa.array([1] * len(rows), pa.int64()),
        "status": pa.array([r[2] for r in rows], pa.int32()),
        "latency_ms": [1.0] * len(rows), "inputs": [r[3] for r in rows],
        "output": [r[4] for r in rows],
    })  # fmt: skip
    world.sdk.predictions.ship("prod", table, gateway="gw", batch="b1", project=PROJECT)
    log = world.services.predictions.read_log(world.services.owner, PROJECT, "prod", H0,
                                              H0 + HOUR)  # fmt: skip
    meta, inputs = log.meta, log.inputs
    assert meta["request_id"].to_list() == ["a", "a", "b", "c", "d", "d", "e"]
    assert meta["row"].to_list() == [0, 1, 0, 0, 0, 1, 0]
    assert meta["score"].to_list() == [0.0, 1.0, 0.8, 0.4, 1.5, 2.5, None]
    assert meta["prediction"].to_list() == ["0", "1", "1", "0", "1.5", "2.5", None]
    assert inputs["tenure"].to_list() == [1.0, 2.5, 3.0, 4.0, 5.0, 6.0, None]
    assert inputs["plan"].to_list() == ["basic", "pro", 'a "quoted" plan', "basic", "pro", "pro",
                                        None]  # fmt: skip
    light = world.services.predictions.read_log(world.services.owner, PROJECT, "prod", H0,
                                                H0 + 4, with_inputs=False)  # fmt: skip
    assert light.inputs.width == 0 and light.meta["request_id"].to_list() == ["a", "a", "b", "c"]
