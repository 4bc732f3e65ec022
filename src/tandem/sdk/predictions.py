"""`client.predictions`: the prediction log, embedded or remote, over the REST API.

    ack = client.predictions.ship("prod", table, gateway="gw-1", batch="gw-1-000042")
    logged = client.predictions.get("prod", "3f2a...")     # which version answered it
    frame = client.predictions.read("prod", since=start)  # a pyarrow.Table, for monitoring

A gateway ships what it served as a `pyarrow.Table` of `BATCH_COLUMNS`; a batch id names one
batch, so a retry (the same table and id) is stored once and answered `duplicate=True`.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from blake3 import blake3

from tandem.errors import IntegrityError
from tandem.predictions.models import ARROW_STREAM, BatchAck, Prediction, Segment
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    import pyarrow as pa

    from tandem.sdk.client import Client

API = "/api/v1"
PAGE = 1000  # segments asked for at a time by `read`

Time = int | dt.datetime | None


def _ms(value: Time) -> int | None:
    """ms since the epoch, from ms or a datetime (naive ones are UTC)."""
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


class Predictions:
    """The prediction log of each endpoint: ship batches, look up a request, read a range."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _base(self, endpoint: str, project: str | None) -> str:
        name = self._client.project_name(project)
        return f"{API}/projects/{quote(name, safe='')}/endpoints/{quote(endpoint, safe='')}"

    def ship(
        self, endpoint: str, table: pa.Table, *, gateway: str, batch: str,
        project: str | None = None,
    ) -> BatchAck:  # fmt: skip
        """Store `table` (the columns of `tandem.predictions.models.BATCH_COLUMNS`) as one
        segment of the endpoint's log. Shipping the same batch again stores nothing and
        answers `duplicate=True`; the same id with other rows is a Conflict."""
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        response = self._http.request(
            "POST",
            self._base(endpoint, project) + "/predictions",
            params={"gateway": gateway, "batch": batch},
            content=sink.getvalue().to_pybytes(),
            headers={"content-type": ARROW_STREAM},
        )
        return BatchAck.model_validate_json(response.content)

    def get(self, endpoint: str, request_id: str, project: str | None = None) -> Prediction:
        """The logged prediction of one request: which version answered, with what, when."""
        url = self._base(endpoint, project) + f"/predictions/{quote(request_id, safe='')}"
        return Prediction.model_validate_json(self._http.request("GET", url).content)

    def segments(
        self, endpoint: str, project: str | None = None, *, since: Time = None,
        until: Time = None, limit: int = PAGE,
    ) -> builtins.list[Segment]:  # fmt: skip
        """The endpoint's segments with predictions made in [since, until), in the order of
        their last prediction (at most `limit`)."""
        params: dict[str, Any] = {"limit": limit}
        if (start := _ms(since)) is not None:
            params["since"] = start
        if (end := _ms(until)) is not None:
            params["until"] = end
        response = self._http.request("GET", self._base(endpoint, project) + "/segments",
                                      params=params)  # fmt: skip
        return [Segment.model_validate(item) for item in response.json()]

    def read(
        self, endpoint: str, project: str | None = None, *, since: Time = None, until: Time = None
    ) -> pa.Table:
        """Every prediction the endpoint logged in [since, until), oldest first, as one table
        (each segment's file is checked against its hash)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from tandem.predictions.segments import batch_schema

        lower, end = _ms(since), _ms(until)
        start = lower
        tables, seen = [], set()
        while True:
            found = self.segments(endpoint, project, since=start, until=end, limit=PAGE)
            fresh = [s for s in found if s.id not in seen]
            for segment in fresh:
                seen.add(segment.id)
                tables.append(
                    pq.read_table(pa.BufferReader(self._segment(endpoint, project, segment)))
                )
            if len(found) < PAGE or not fresh:
                break
            start = found[-1].last_at  # the next page: segments ending at or after this one
        table = pa.concat_tables(tables) if tables else batch_schema().empty_table()
        if lower is not None or end is not None:  # segments overlap the range's ends
            import pyarrow.compute as pc

            at = table.column("at")
            keep = pc.greater_equal(at, lower if lower is not None else -(2**63))
            if end is not None:
                keep = pc.and_(keep, pc.less(at, end))
            table = table.filter(keep)
        return table.sort_by([("at", "ascending"), ("request_id", "ascending")])

    def _segment(self, endpoint: str, project: str | None, segment: Segment) -> bytes:
        url = self._base(endpoint, project) + f"/segments/{quote(segment.id, safe='')}/data"
        data = self._http.request("GET", url).content
        if blake3(data).hexdigest() != segment.oid:
            raise IntegrityError(f"segment {segment.id} arrived damaged: read it again")
        return data
