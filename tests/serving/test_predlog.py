"""The gateway's prediction log and stats windows, on their own: a bounded queue that drops and
counts rather than block, sampling, Arrow batches with the columns the hub takes, masking of
personal columns in every input shape, the shipper's batching, retries under one batch id and
drain on stop; its drops counted in the stats windows."""

from __future__ import annotations

import threading

import orjson
import pyarrow as pa
import pytest

from tandem.deployments.models import WindowStats
from tandem.errors import InvalidInput, TransportError
from tandem.predictions.models import BATCH_COLUMNS
from tandem.serving.control import with_dropped_logs
from tandem.serving.predlog import MASK, PredictionLog, Shipper, batch_schema, mask_inputs, to_arrow
from tandem.serving.recorder import WindowRecorder


def entry(i: int, deployment: str = "d-1", inputs: object = None) -> tuple:
    inputs = inputs if inputs is not None else [{"age": i, "city": "x"}]
    return (
        f"r-{i}", 1_700_000_000_000 + i, deployment, "churn", 3, 200, 0.4 + i,
        orjson.dumps(inputs), orjson.dumps({"predictions": [i % 2]}),
    )  # fmt: skip


def test_a_full_queue_drops_and_counts_never_blocks():
    predlog = PredictionLog(capacity=10)
    for i in range(15):
        predlog.log(entry(i, "d-1" if i % 2 else "d-2"))
    assert predlog.pending() == 10
    assert predlog.take_dropped() == {"d-1": 2, "d-2": 3}  # entries 10..14
    assert predlog.take_dropped() == {}  # counted once
    taken = predlog.take(4)
    assert [e[0] for e in taken] == ["r-0", "r-1", "r-2", "r-3"]  # oldest first
    predlog.log(entry(99))
    assert predlog.pending() == 7


def test_sampling_keeps_its_share():
    predlog = PredictionLog(sampling=0.0)
    for i in range(1000):
        predlog.log(entry(i))
    assert predlog.pending() == 0
    assert predlog.take_dropped() == {}  # sampled out is not dropped
    predlog.configure(sampling=0.25, masked_columns=())
    for i in range(20_000):
        predlog.log(entry(i))
    assert 4_500 < predlog.pending() < 5_500


def test_batches_have_the_hubs_columns_and_values():
    entries = [entry(i) for i in range(3)]
    table = to_arrow(entries)
    assert table.schema.names == list(BATCH_COLUMNS)
    assert table.schema == batch_schema()
    assert table.num_rows == 3
    row = table.slice(1, 1).to_pylist()[0]
    assert row == {
        "request_id": "r-1", "at": 1_700_000_000_001, "deployment": "d-1", "model": "churn",
        "version": 3, "status": 200, "latency_ms": 1.4,
        "inputs": '[{"age":1,"city":"x"}]', "output": '{"predictions":[1]}',
    }  # fmt: skip
    assert to_arrow([]).num_rows == 0
    # and it travels as the Arrow IPC stream the hub reads
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert pa.ipc.open_stream(sink.getvalue()).read_all().equals(table)


@pytest.mark.parametrize(
    ("inputs", "masked"),
    [
        ([{"age": 3, "email": "a@b.c"}], [{"age": 3, "email": MASK}]),
        (
            {"columns": ["age", "email"], "data": [[3, "a@b.c"], [4, "d@e.f"]]},
            {"columns": ["age", "email"], "data": [[3, MASK], [4, MASK]]},
        ),
        ({"age": [3, 4], "email": ["a@b.c", "d@e.f"]}, {"age": [3, 4], "email": MASK}),
        (
            {"inputs": [{"name": "email", "datatype": "BYTES", "shape": [1], "data": ["a"]},
                        {"name": "age", "datatype": "INT64", "shape": [1], "data": [3]}]},
            {"inputs": [{"name": "email", "datatype": "BYTES", "shape": [1], "data": MASK},
                        {"name": "age", "datatype": "INT64", "shape": [1], "data": [3]}]},
        ),
        ({"dataframe_records": [{"email": "a"}]}, {"dataframe_records": [{"email": MASK}]}),
    ],
)  # fmt: skip
def test_personal_columns_are_masked_in_every_shape(inputs, masked):
    text = mask_inputs(orjson.dumps(inputs).decode(), frozenset({"email"}))
    assert text is not None
    assert orjson.loads(text) == masked
    table = to_arrow([entry(1, inputs=inputs)], frozenset({"email"}))
    assert orjson.loads(table["inputs"][0].as_py()) == masked


def test_text_that_is_not_json_is_masked_whole():
    assert mask_inputs("age,email\n3,a@b.c", frozenset({"email"})) == MASK
    assert mask_inputs(None, frozenset({"email"})) is None


class Hub:
    """Where the shipper's batches land: stores each batch id once, like the hub does, and
    is unreachable for the first `down` attempts."""

    def __init__(self, down: int = 0, refuse: bool = False) -> None:
        self.down = down
        self.refuse = refuse
        self.batches: dict[str, pa.Table] = {}
        self.attempts: list[str] = []
        self.arrived = threading.Event()

    def ship(self, table: pa.Table, batch: str) -> None:
        self.attempts.append(batch)
        if self.refuse:
            raise InvalidInput("not an Arrow stream")
        if self.down > 0:
            self.down -= 1
            raise TransportError("cannot reach tandem")
        self.batches.setdefault(batch, table)
        self.arrived.set()


def test_the_shipper_batches_retries_under_one_id_and_drains_on_stop():
    predlog = PredictionLog()
    hub = Hub(down=2)
    shipper = Shipper(predlog, hub.ship, flush_s=0.05, batch_rows=400)
    shipper.start()
    for i in range(1000):
        predlog.log(entry(i))
    assert hub.arrived.wait(30)
    shipper.stop(drain_s=30)
    assert hub.attempts[:3] == [hub.attempts[0]] * 3  # two failures, then the same id again
    rows = pa.concat_tables(hub.batches.values())
    assert sorted(rows["request_id"].to_pylist()) == sorted(f"r-{i}" for i in range(1000))
    assert max(t.num_rows for t in hub.batches.values()) <= 400
    assert predlog.take_dropped() == {}
    assert shipper.shipped_rows == 1000


def test_a_refused_batch_is_dropped_and_counted():
    predlog = PredictionLog()
    hub = Hub(refuse=True)
    shipper = Shipper(predlog, hub.ship, flush_s=0.05)
    shipper.start()
    for i in range(5):
        predlog.log(entry(i, "d-9"))
    shipper.stop(drain_s=5)
    assert hub.batches == {}
    assert predlog.take_dropped() == {"d-9": 5}


def test_an_unreachable_hub_at_stop_drops_after_the_drain_deadline():
    predlog = PredictionLog()
    hub = Hub(down=10**9)
    shipper = Shipper(predlog, hub.ship, flush_s=10)
    shipper.start()
    for i in range(7):
        predlog.log(entry(i))
    shipper.stop(drain_s=0.3)
    assert predlog.take_dropped() == {"d-1": 7}
    assert predlog.pending() == 0


def test_dropped_entries_reach_the_stats_windows():
    recorder = WindowRecorder()
    recorder.observe("d-1", 200, 0.4)
    windows = with_dropped_logs(recorder.drain(), {"d-1": 3, "d-2": 5})
    by_deployment = {w.deployment: w for w in windows}
    assert (by_deployment["d-1"].requests, by_deployment["d-1"].dropped_logs) == (1, 3)
    assert (by_deployment["d-2"].requests, by_deployment["d-2"].dropped_logs) == (0, 5)
    for window in windows:  # what the hub validates
        assert WindowStats.model_validate(window.model_dump()) == window
        assert window.end > window.start
    assert with_dropped_logs([], {}) == []
