"""The prediction log: gateways ship Arrow batches, the hub keeps Parquet segments indexed by
request id; retries are idempotent, bad bodies get one clear error, gc purges a project's log.
Through the SDK (embedded and remote) and the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from tandem import errors
from tandem.core.auth import Role
from tandem.deployments.models import EndpointCreate
from tandem.identity.models import MemberSet, TokenCreate, UserCreate
from tandem.predictions.models import (
    ARROW_STREAM,
    BATCH_COLUMNS,
    MAX_BATCH_BYTES,
    MAX_BATCH_ROWS,
    PARQUET,
)
from tandem.predictions.segments import ROW_GROUP_ROWS
from tandem.projects.models import ProjectCreate
from tandem.sdk.client import Client
from tandem.server.container import Services

AT = 1_796_000_000_000  # 2026-11-30, ms
URL = "/api/v1/projects/churn/endpoints/prod"


def batch(rows: int, *, start: int = 0, model: str = "churn-lr", version: int = 1,
          prefix: str = "req") -> pa.Table:  # fmt: skip
    """`rows` predictions as a gateway ships them, request ids `{prefix}-{start}`..."""
    numbers = range(start, start + rows)
    return pa.table(
        {
            "request_id": [f"{prefix}-{i}" for i in numbers],
            "at": pa.array([AT + i for i in numbers], pa.int64()),
            "deployment": [f"{model}@{version}"] * rows,
            "model": [model] * rows,
            "version": pa.array([version] * rows, pa.int64()),
            "status": pa.array([200 if i % 10 else 500 for i in numbers], pa.int32()),
            "latency_ms": [0.25 + i / 1000 for i in numbers],
            "inputs": [json.dumps({"tenure": i, "email": "***"}) for i in numbers],
            "output": [json.dumps([i % 2]) if i % 10 else None for i in numbers],
        }
    )


def arrow_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.fixture
def churn(services: Services) -> Services:
    """Project churn with endpoints prod and staging."""
    services.projects.create(services.owner, ProjectCreate(name="churn"))
    for name in ("prod", "staging"):
        services.deployments.create_endpoint(services.owner, "churn", EndpointCreate(name=name))
    return services


def ship(api: TestClient, body: bytes, *, gateway: str = "gw-1", batch_id: str = "b-1",
         content_type: str = ARROW_STREAM, endpoint: str = "prod") -> object:  # fmt: skip
    return api.post(
        f"/api/v1/projects/churn/endpoints/{endpoint}/predictions",
        params={"gateway": gateway, "batch": batch_id},
        content=body,
        headers={"content-type": content_type},
    )


def test_a_shipped_batch_answers_which_version_served_a_request(
    client: Client, churn: Services
) -> None:
    # rows past one row group, so the lookup finds its group and the row inside it
    first = client.predictions.ship(
        "prod", batch(ROW_GROUP_ROWS + 500), gateway="gw-1", batch="b-1", project="churn"
    )
    assert (first.batch, first.rows, first.duplicate) == ("b-1", ROW_GROUP_ROWS + 500, False)
    client.predictions.ship(
        "prod", batch(300, start=10_000, version=2), gateway="gw-2", batch="b-1", project="churn"
    )

    late = client.predictions.get("prod", f"req-{ROW_GROUP_ROWS + 7}", project="churn")
    assert late.model_dump() == {
        "project": "churn",
        "endpoint": "prod",
        "request_id": f"req-{ROW_GROUP_ROWS + 7}",
        "at": AT + ROW_GROUP_ROWS + 7,
        "deployment": "churn-lr@1",
        "model": "churn-lr",
        "version": 1,
        "status": 200,
        "latency_ms": pytest.approx(0.25 + (ROW_GROUP_ROWS + 7) / 1000),
        "inputs": {"tenure": ROW_GROUP_ROWS + 7, "email": "***"},
        "output": [(ROW_GROUP_ROWS + 7) % 2],
        "segment": first.segment,
    }
    failed = client.predictions.get("prod", "req-10010", project="churn")
    assert (failed.version, failed.status, failed.output) == (2, 500, None)

    with pytest.raises(errors.NotFound, match="has logged no request 'req-999999'"):
        client.predictions.get("prod", "req-999999", project="churn")
    with pytest.raises(errors.NotFound):  # request ids are the endpoint's own
        client.predictions.get("staging", "req-1", project="churn")


def test_a_retried_batch_is_stored_once(client: Client, churn: Services) -> None:
    table = batch(50)
    stored = client.predictions.ship("prod", table, gateway="gw-1", batch="b-7", project="churn")
    again = client.predictions.ship("prod", table, gateway="gw-1", batch="b-7", project="churn")
    assert again.duplicate and (again.segment, again.rows) == (stored.segment, 50)
    assert len(client.predictions.segments("prod", project="churn")) == 1
    # the same id from another gateway is another batch
    other = client.predictions.ship("prod", table, gateway="gw-2", batch="b-7", project="churn")
    assert not other.duplicate and other.segment != stored.segment

    with pytest.raises(errors.Conflict, match="'b-7' of gateway 'gw-1' was stored before"):
        client.predictions.ship(
            "prod", batch(50, start=50), gateway="gw-1", batch="b-7", project="churn"
        )


def test_ship_answers_201_then_200_for_a_retry(api: TestClient, churn: Services) -> None:
    body = arrow_bytes(batch(3))
    created = ship(api, body)
    assert created.status_code == 201 and created.json()["duplicate"] is False
    retried = ship(api, body)
    assert retried.status_code == 200 and retried.json() == {**created.json(), "duplicate": True}


def test_a_request_id_logged_twice_answers_with_the_latest(client: Client, churn: Services) -> None:
    client.predictions.ship("prod", batch(5), gateway="gw", batch="1", project="churn")
    later = batch(5).set_column(1, "at", pa.array([AT + 100 + i for i in range(5)], pa.int64()))
    later = later.set_column(4, "version", pa.array([3] * 5, pa.int64()))
    client.predictions.ship("prod", later, gateway="gw", batch="2", project="churn")
    found = client.predictions.get("prod", "req-2", project="churn")
    assert (found.at, found.version) == (AT + 102, 3)


def test_segments_and_read_cover_a_time_range(client: Client, churn: Services) -> None:
    for number in range(4):  # four batches of 100, each 100 ms after the last
        client.predictions.ship(
            "prod", batch(100, start=100 * number, version=1 + number % 2), gateway="gw",
            batch=f"b{number}", project="churn",
        )  # fmt: skip
    listed = client.predictions.segments("prod", project="churn")
    assert [(s.batch, s.rows, s.first_at, s.last_at) for s in listed] == [
        (f"b{n}", 100, AT + 100 * n, AT + 100 * n + 99) for n in range(4)
    ]
    assert listed[1].versions == {"churn-lr@2": 100} and listed[0].gateway == "gw"
    window = client.predictions.segments("prod", project="churn", since=AT + 150, until=AT + 250)
    assert [s.batch for s in window] == ["b1", "b2"]

    table = client.predictions.read("prod", project="churn", since=AT + 150, until=AT + 250)
    assert table.column_names == list(BATCH_COLUMNS)
    assert table.column("request_id").to_pylist() == [f"req-{i}" for i in range(150, 250)]
    assert client.predictions.read("prod", project="churn").num_rows == 400
    assert client.predictions.read("prod", project="churn", since=AT + 10_000).num_rows == 0


def test_a_segment_is_a_parquet_file_in_the_blob_store(api: TestClient, churn: Services) -> None:
    ack = ship(api, arrow_bytes(batch(10))).json()
    (segment,) = api.get(URL + "/segments").json()
    assert segment["id"] == ack["segment"]
    assert churn.blobs.exists(segment["oid"])
    data = api.get(URL + f"/segments/{segment['id']}/data")
    assert data.status_code == 200 and data.headers["content-type"] == PARQUET
    assert data.headers["x-tandem-oid"] == segment["oid"]
    table = pq.read_table(pa.BufferReader(data.content))
    assert table.num_rows == 10 and table.column_names == list(BATCH_COLUMNS)
    missing = api.get(URL + "/segments/nope/data")
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"


# -- bad input: one clear error each, nothing stored ------------------------------------------


def bad_batches() -> list[tuple[str, bytes, int, str, str]]:
    """(name, body, status, code, words of the message)."""
    good = batch(3)
    wrong_type = good.set_column(1, "at", pa.array(["soon", "later", "never"]))
    empty_id = good.set_column(0, "request_id", pa.array(["a", None, "c"]))
    blank_id = good.set_column(0, "request_id", pa.array(["a", "", "c"]))
    return [
        ("not arrow", b"request_id,at\nr1,1\n", 422, "unreadable-data", "not an Arrow IPC stream"),
        ("empty", b"", 422, "unreadable-data", "the body is empty"),
        ("truncated", arrow_bytes(good)[:-100], 422, "unreadable-data", "not an Arrow IPC"),
        ("missing column", arrow_bytes(good.drop_columns(["latency_ms"])), 422,
         "invalid-input", "missing: latency_ms"),
        ("unknown column", arrow_bytes(good.append_column("ssn", pa.array(["1", "2", "3"]))),
         422, "invalid-input", "unknown: ssn"),
        ("wrong type", arrow_bytes(wrong_type), 422, "invalid-input", "column 'at' is string"),
        ("null request id", arrow_bytes(empty_id), 422, "invalid-input",
         "column 'request_id' has 1 empty values"),
        ("blank request id", arrow_bytes(blank_id), 422, "invalid-input", "a request id is empty"),
        ("no rows", arrow_bytes(good.slice(0, 0)), 422, "invalid-input", "the batch has no rows"),
        ("too many rows", arrow_bytes(batch(MAX_BATCH_ROWS + 1)), 422, "limit-exceeded",
         f"the limit is {MAX_BATCH_ROWS}"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", bad_batches(), ids=lambda case: case[0])
def test_a_bad_batch_is_refused_with_a_clear_error(
    api: TestClient, churn: Services, case: tuple[str, bytes, int, str, str]
) -> None:
    _, body, status, code, words = case
    answer = ship(api, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code and words in answer.json()["detail"]
    assert api.get(URL + "/segments").json() == []


def test_a_body_that_is_not_declared_arrow_is_refused(api: TestClient, churn: Services) -> None:
    answer = ship(api, b'{"request_id": "r1"}', content_type="application/json")
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported-media-type"
    assert ARROW_STREAM in answer.json()["detail"]


def test_a_batch_over_the_byte_limit_is_refused(api: TestClient, churn: Services) -> None:
    answer = ship(api, b"\0" * (MAX_BATCH_BYTES + 1))
    assert answer.status_code == 413 and answer.json()["code"] == "payload-too-large"


def test_only_an_endpoint_that_exists_logs_predictions(api: TestClient, churn: Services) -> None:
    answer = ship(api, arrow_bytes(batch(1)), endpoint="canary")
    assert answer.status_code == 404 and answer.json()["code"] == "not-found"
    assert "endpoint 'canary' does not exist in project 'churn'" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("endpoint", "gateway", "batch_id", "words"),
    [
        ("Prod!", "gw", "b", "invalid endpoint name 'Prod!'"),
        ("prod", "gw 1", "b", "invalid gateway id 'gw 1'"),
        ("prod", "gw", "-b", "invalid batch id '-b'"),
        ("prod", "gw", "b" * 101, "invalid batch id"),
    ],
)
def test_bad_names_are_refused(
    api: TestClient, churn: Services, endpoint: str, gateway: str, batch_id: str, words: str
) -> None:
    answer = ship(api, arrow_bytes(batch(1)), endpoint=endpoint, gateway=gateway,
                  batch_id=batch_id)  # fmt: skip
    assert answer.status_code == 422 and answer.json()["code"] == "invalid-input"
    assert words in answer.json()["detail"]


def test_lookups_refuse_bad_ids_and_unknown_projects(api: TestClient, churn: Services) -> None:
    too_long = api.get(URL + "/predictions/" + "r" * 201)
    assert too_long.status_code == 422 and too_long.json()["code"] == "invalid-input"
    elsewhere = api.get("/api/v1/projects/nope/endpoints/prod/predictions/r1")
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "not-found"
    limit = api.get(URL + "/segments", params={"limit": 0})
    assert limit.status_code == 422


# -- who may --------------------------------------------------------------------------------


def test_viewers_read_the_log_builders_ship_and_strangers_see_nothing(
    app: object, churn: Services
) -> None:
    owner = churn.owner
    tokens = {}
    for name, role in {"viewer": Role.VIEWER, "ds": Role.DATA_SCIENTIST}.items():
        churn.identity.create_user(owner, UserCreate(name=name, role=Role.VIEWER))
        churn.identity.set_member(owner, "churn", MemberSet(user=name, role=role))
        tokens[name] = churn.identity.create_token(owner, TokenCreate(name="t", user=name)).secret
    churn.identity.create_user(owner, UserCreate(name="stranger", role=Role.VIEWER))
    tokens["stranger"] = churn.identity.create_token(
        owner, TokenCreate(name="t", user="stranger")
    ).secret
    body = arrow_bytes(batch(2))

    def as_user(name: str) -> TestClient:
        return TestClient(
            app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000),
            headers={"authorization": f"Bearer {tokens[name]}"},
        )  # fmt: skip

    with as_user("viewer") as viewer, as_user("ds") as ds, as_user("stranger") as stranger:
        refused = ship(viewer, body)
        assert refused.status_code == 403 and refused.json()["code"] == "permission-denied"
        assert ship(ds, body).status_code == 201
        assert viewer.get(URL + "/predictions/req-1").json()["request_id"] == "req-1"
        hidden = ship(stranger, body, batch_id="b-2")
        assert hidden.status_code == 404
        assert stranger.get(URL + "/predictions/req-1").status_code == 404
        assert stranger.get(URL + "/segments").status_code == 404
    events = churn.audit.list(owner, action="predictions.ship", outcome="ok").items
    assert [(e.actor, e.outcome) for e in events] == [("ds", "ok")]


# -- gc ---------------------------------------------------------------------------------------


def test_gc_purges_a_deleted_projects_log(client: Client, churn: Services) -> None:
    client.projects.create("scratch")
    client.deployments.create("prod", "scratch")
    ack = client.predictions.ship("prod", batch(20), gateway="gw", batch="b", project="scratch")
    kept = client.predictions.ship("prod", batch(5), gateway="gw", batch="b", project="churn")
    (segment,) = client.predictions.segments("prod", project="scratch")
    client.projects.delete("scratch")
    report = client.gc(grace_seconds=0)
    assert report.projects_purged == ["scratch"]
    assert not churn.blobs.exists(segment.oid)
    assert ack.segment != kept.segment
    assert client.predictions.get("prod", "req-3", project="churn").segment == kept.segment
    with churn.db.read() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM prediction_index")).scalar_one() == 5


def test_a_hash_collision_costs_a_read_never_a_wrong_answer(
    client: Client, churn: Services
) -> None:
    from sqlalchemy import text

    from tandem.predictions.segments import request_key

    client.predictions.ship("prod", batch(10), gateway="gw", batch="b", project="churn")
    with churn.db.read() as conn:
        project_pk = conn.execute(text("SELECT pk FROM projects WHERE name = 'churn'")).scalar()
        segment_pk = conn.execute(text("SELECT pk FROM prediction_segments")).scalar()
    # req-7's key also names row 3 (req-3) of the segment, as a colliding id would
    with churn.db.write() as conn:
        conn.execute(
            text("INSERT INTO prediction_index (request_key, segment_pk, position) "
                 "VALUES (:key, :segment, 3)"),
            {"key": request_key(project_pk, "prod", "req-7"), "segment": segment_pk},
        )  # fmt: skip
    assert client.predictions.get("prod", "req-7", project="churn").at == AT + 7
    assert client.predictions.get("prod", "req-3", project="churn").at == AT + 3
