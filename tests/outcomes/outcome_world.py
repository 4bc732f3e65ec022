"""What the outcomes tests share: an endpoint whose gateway logged the predictions of a
calibrated classifier (the positive class's probability, as `[[p0, p1]]`), over hours and
versions, and the labels that come for them."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tandem.core.auth import Principal
from tandem.deployments.models import EndpointCreate
from tandem.predictions.models import ARROW_STREAM  # noqa: F401  (re-exported for the tests)
from tandem.server.container import Services

HOUR = 3_600_000
START = 1_796_000_000_000 // HOUR * HOUR  # 2026-11-30, on the hour
MODEL = "churn-lr"


@dataclass
class Logged:
    """The predictions one batch logged: ids, times, versions, probabilities, sex."""

    request_id: list[str]
    at: np.ndarray
    version: np.ndarray
    p: np.ndarray
    sex: np.ndarray

    def where(self, mask: np.ndarray) -> Logged:
        return Logged(
            [r for r, keep in zip(self.request_id, mask, strict=True) if keep],
            self.at[mask], self.version[mask], self.p[mask], self.sex[mask],
        )  # fmt: skip

    def outcomes(self, seed: int = 3) -> np.ndarray:
        """Labels drawn from the probabilities: the model is calibrated."""
        return (np.random.default_rng(seed).random(len(self.p)) < self.p).astype(np.int64)


def predictions(n: int, *, hours: int = 2, seed: int = 7, prefix: str = "r") -> Logged:
    """`n` predictions spread over `hours` hours from START, half by version 1, half by 2."""
    rng = np.random.default_rng(seed)
    at = START + np.sort(rng.integers(0, hours * HOUR, n))
    return Logged(
        request_id=[f"{prefix}{i:06d}" for i in range(n)],
        at=at,
        version=np.where(np.arange(n) % 2 == 0, 1, 2),
        p=np.round(1 / (1 + np.exp(-rng.normal(0, 2, n))), 4),
        sex=np.where(rng.random(n) < 0.4, "f", "m"),
    )


def batch_table(logged: Logged) -> pa.Table:
    n = len(logged.request_id)
    return pa.table(
        {
            "request_id": logged.request_id,
            "at": pa.array(logged.at, pa.int64()),
            "deployment": [f"{MODEL}@{v}" for v in logged.version.tolist()],
            "model": [MODEL] * n,
            "version": pa.array(logged.version, pa.int64()),
            "status": pa.array([200] * n, pa.int32()),
            "latency_ms": [1.0] * n,
            "inputs": [
                json.dumps(
                    {"columns": ["tenure", "sex"], "data": [[i % 60, s]]}, separators=(",", ":")
                )
                for i, s in enumerate(logged.sex.tolist())
            ],
            "output": [json.dumps([[round(1 - q, 4), q]]) for q in logged.p.tolist()],
        }
    )


def log(services: Services, logged: Logged, *, batch: str = "b-1", project: str = "churn") -> None:
    """Ship `logged` as a gateway does."""
    sink = io.BytesIO()
    table = batch_table(logged)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    services.predictions.ship(
        services.owner, project, "prod", gateway="gw-1", batch=batch, body=sink.getvalue()
    )


def open_endpoint(services: Services, owner: Principal, project: str = "churn") -> None:
    services.deployments.create_endpoint(owner, project, EndpointCreate(name="prod"))


def labels_table(
    request_ids: list[str], labels: np.ndarray | list[int], **extra: object
) -> pa.Table:
    return pa.table({"request_id": request_ids, "label": pa.array(labels, pa.int64()), **extra})


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
