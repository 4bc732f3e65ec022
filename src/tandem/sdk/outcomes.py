"""`client.outcomes`: late labels, realised and estimated performance, business KPIs.

receipt = client.outcomes.add_labels("prod", "labels.parquet")   # or a CSV, or a table
receipt.matched, receipt.unknown, receipt.duplicates
client.outcomes.performance("prod")                   # realised, per version and hour
client.outcomes.estimates("prod", since=start, until=end)   # CBPE until labels come
client.outcomes.push_kpi("prod", "retention_rate", 0.91, at=dt.datetime(2026, 12, 1))
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tandem.outcomes.models import (
    PARQUET,
    Estimate,
    Kpi,
    KpiCreate,
    LabelBatch,
    LabelReceipt,
    WindowMetrics,
)
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    import pyarrow as pa

    from tandem.sdk.client import Client

API = "/api/v1"
Time = int | dt.datetime | dt.date | None


def _ms(value: Time) -> int | None:
    """ms since the epoch, from ms, a datetime (naive ones are UTC) or a date (its midnight)."""
    if value is None or isinstance(value, int):
        return value
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


class Outcomes:
    """What happened after the predictions of each endpoint."""

    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def _base(self, endpoint: str, project: str | None) -> str:
        name = self._client.project_name(project)
        return f"{API}/projects/{quote(name, safe='')}/endpoints/{quote(endpoint, safe='')}"

    def add_labels(
        self,
        endpoint: str,
        labels: str | Path | pa.Table,
        project: str | None = None,
        *,
        slices: Sequence[str] = (),
        lookback: int | dt.timedelta | None = None,
    ) -> LabelReceipt:
        """Join labels to the endpoint's prediction log by request id: a `.csv` or `.parquet`
        file, or a `pyarrow.Table`, with `request_id`, `label` and optionally `at` (when the
        outcome was observed) and `row`. Unknown request ids are counted, not refused; a
        request labelled again keeps the last label.

        Args:
            slices: input columns to report fairness across (besides the protected attributes
                of the project's fairness criteria).
            lookback: how long before a label's time its prediction may have been made (ms or
                a timedelta; 30 days by default).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        from tandem.outcomes.labels import read_file

        table = labels if isinstance(labels, pa.Table) else read_file(Path(labels))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        params: dict[str, Any] = {"slice": list(slices)}
        if lookback is not None:
            params["lookback"] = (
                int(lookback.total_seconds() * 1000)
                if isinstance(lookback, dt.timedelta)
                else lookback
            )
        response = self._http.request(
            "POST",
            self._base(endpoint, project) + "/labels",
            params=params,
            content=sink.getvalue().to_pybytes(),
            headers={"content-type": PARQUET},
        )
        return LabelReceipt.model_validate_json(response.content)

    def label_batches(
        self, endpoint: str, project: str | None = None, *, limit: int = 100
    ) -> builtins.list[LabelBatch]:
        """The endpoint's label batches, newest first."""
        response = self._http.request(
            "GET", self._base(endpoint, project) + "/labels", params={"limit": limit}
        )
        return [LabelBatch.model_validate(item) for item in response.json()]

    def performance(
        self,
        endpoint: str,
        project: str | None = None,
        *,
        since: Time = None,
        until: Time = None,
        version: str | None = None,
    ) -> builtins.list[WindowMetrics]:
        """Realised figures per model version (`NAME@N` for one) and hourly window."""
        params = _range(since, until) | ({"version": version} if version else {})
        response = self._http.request(
            "GET", self._base(endpoint, project) + "/performance", params=params
        )
        return [WindowMetrics.model_validate(item) for item in response.json()]

    def estimates(
        self,
        endpoint: str,
        project: str | None = None,
        *,
        since: Time,
        until: Time,
        version: str | None = None,
    ) -> builtins.list[Estimate]:
        """ROC AUC and accuracy per version and hour in [since, until): estimated by CBPE
        (`estimated=True`, with a band), or realised once the window's labels came."""
        params = _range(since, until) | ({"version": version} if version else {})
        response = self._http.request(
            "GET", self._base(endpoint, project) + "/estimates", params=params
        )
        return [Estimate.model_validate(item) for item in response.json()]

    def push_kpi(
        self,
        endpoint: str,
        name: str,
        value: float,
        project: str | None = None,
        *,
        at: Time = None,
        version: str | None = None,
    ) -> Kpi:
        """Record business KPI `name` of the endpoint at `at` (now by default), optionally for
        model version `version` (`NAME@N`, which must exist)."""
        when = _ms(at)
        if when is None:
            when = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        body = KpiCreate(name=name, value=value, at=when, version=version)
        response = self._http.request(
            "POST",
            self._base(endpoint, project) + "/kpis",
            content=body.model_dump_json(),
            headers={"content-type": "application/json"},
        )
        return Kpi.model_validate_json(response.content)

    def kpis(
        self,
        endpoint: str,
        project: str | None = None,
        *,
        name: str | None = None,
        since: Time = None,
        until: Time = None,
    ) -> builtins.list[Kpi]:
        """The endpoint's KPIs (of `name`) at times in [since, until), oldest first."""
        params = _range(since, until) | ({"name": name} if name else {})
        response = self._http.request("GET", self._base(endpoint, project) + "/kpis", params=params)
        return [Kpi.model_validate(item) for item in response.json()]


def _range(since: Time, until: Time) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if (start := _ms(since)) is not None:
        params["since"] = start
    if (end := _ms(until)) is not None:
        params["until"] = end
    return params
