"""`client.evaluations`: evaluate a registered model version on a dataset version and record
the result, over the REST API.

    evaluation = client.evaluations.evaluate(
        "churn-gbm@3", "churn-holdout@v2", target="Churn", positive="Yes",
        slices=["gender", "SeniorCitizen", "Contract"], protected=["gender", "SeniorCitizen"],
        baseline="churn-gbm@2",
    )

The model is loaded here (the server never loads one), the dataset version's files are
downloaded and checked against their hashes, and the report `tandem.evaluation.report` builds
(plus latency measured on this machine) is recorded against both versions.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tandem.core.refs import parse_model_ref
from tandem.errors import InvalidInput
from tandem.evaluation.models import Evaluation
from tandem.sdk.transport import Http

if TYPE_CHECKING:
    from tandem.sdk.client import Client

API = "/api/v1"


class Evaluations:
    def __init__(self, http: Http, client: Client) -> None:
        self._http = http
        self._client = client

    def evaluate(
        self,
        model: str,
        data: str,
        target: str,
        *,
        project: str | None = None,
        slices: Sequence[str] = (),
        protected: Sequence[str] = (),
        baseline: str | None = None,
        positive: Any = None,
        threshold: float = 0.5,
        top_k: float = 0.1,
        task: str | None = None,
        resamples: int = 200,
        seed: int = 7,
        latency: bool = True,
        trusted: bool = False,
    ) -> Evaluation:
        """Evaluate model version `model` (`NAME@N`, `NAME@ALIAS`) on dataset version `data`
        (`NAME@vN`) against column `target`, per slice column, with fairness across the
        `protected` ones, optionally against `baseline`; record and return the evaluation."""
        import numpy as np

        from tandem.data.frames import TableFormat, collect, scan_table
        from tandem.evaluation.predict import feature_frame, measure_latency, predict_scores
        from tandem.evaluation.report import binary_labels, evaluate_binary, evaluate_regression

        if importlib.util.find_spec("pandas") is None:  # models take pandas frames
            raise InvalidInput("evaluating a model needs pandas: pip install 'tandem[models]'")
        name = self._client.project_name(project)
        models = self._client.models
        version = models.version(model, name)
        missing = [c for c in [target, *slices, *protected] if not c]
        if missing or not target:
            raise InvalidInput("target and slice column names must not be empty")
        with tempfile.TemporaryDirectory(prefix="tandem-eval-") as tmp:
            dataset = self._client.data.version(data, name)
            if dataset.format is None:
                raise InvalidInput(f"{dataset.ref} is not a table (CSV, Parquet or JSON lines)")
            files = self._client.data.download(dataset.ref, tmp)
            frame = collect(scan_table(files, TableFormat(dataset.format)), dataset.ref).to_pandas()
        unknown = [c for c in [target, *slices, *protected] if c not in frame.columns]
        if unknown:
            raise InvalidInput(
                f"{dataset.ref} has no column(s) {unknown}: it has {list(frame.columns)[:20]}"
            )
        if frame[target].isna().any():
            raise InvalidInput(f"target column {target!r} has missing values")
        chosen = task or ("binary" if frame[target].nunique() <= 2 else "regression")
        loaded = models.load(f"{name}/{version.model}@{version.version}", trusted=trusted)
        features = feature_frame(frame, target, version.signature)
        scores = predict_scores(loaded, version.flavor, features, task=chosen, positive=positive)
        base_scores = None
        base_version = None
        if baseline is not None:
            base_version = models.version(baseline, name)
            base_model = models.load(
                f"{name}/{base_version.model}@{base_version.version}", trusted=trusted
            )
            base_features = feature_frame(frame, target, base_version.signature)
            base_scores = predict_scores(
                base_model, base_version.flavor, base_features, task=chosen, positive=positive
            )
        columns = {c: frame[c].to_numpy() for c in dict.fromkeys([*slices, *protected])}
        if chosen == "binary":
            report = evaluate_binary(
                binary_labels(frame[target].to_numpy(), positive), scores, threshold=threshold,
                slices=columns, protected=list(protected), resamples=resamples, seed=seed,
                baseline_score=base_scores, top_k=top_k,
            )  # fmt: skip
        else:
            report = evaluate_regression(frame[target].to_numpy(), scores, slices=columns)
        report["latency"] = (
            measure_latency(loaded, version.flavor, features, task=chosen, positive=positive)
            if latency
            else None
        )
        report["score_summary"] = {"min": float(np.min(scores)), "max": float(np.max(scores))}
        body = {
            "model": f"{version.model}@{version.version}",
            "dataset": f"{dataset.project}/{dataset.dataset}@v{dataset.version}",
            "baseline": f"{base_version.model}@{base_version.version}" if base_version else None,
            "target": target,
            "report": _json_ready(report),
        }
        url = f"{API}/projects/{quote(name, safe='')}/evaluations"
        return Evaluation.model_validate_json(self._http.request("POST", url, json=body).content)

    def get(self, evaluation_id: str, project: str | None = None) -> Evaluation:
        """An evaluation with its whole report."""
        name = self._client.project_name(project)
        url = f"{API}/projects/{quote(name, safe='')}/evaluations/{quote(evaluation_id, safe='')}"
        return Evaluation.model_validate_json(self._http.request("GET", url).content)

    def delete(self, evaluation_id: str, project: str | None = None) -> None:
        """Delete an evaluation (needs admin rights in the project; audited).

        client.evaluations.delete("3f2a9c...", project="churn")
        """
        name = self._client.project_name(project)
        url = f"{API}/projects/{quote(name, safe='')}/evaluations/{quote(evaluation_id, safe='')}"
        self._http.request("DELETE", url)

    def list(self, model: str, project: str | None = None) -> list[Evaluation]:
        """A model's evaluations (`NAME`, or one version: `NAME@3`), newest first."""
        ref = parse_model_ref(model, project or self._client.settings.project)
        name = self._client.project_name(ref.project)
        url = f"{API}/projects/{quote(name, safe='')}/models/{quote(ref.name, safe='')}/evaluations"
        params = {"version": ref.selector} if ref.selector != "latest" else None
        content = self._http.request("GET", url, params=params).content
        import orjson

        return [Evaluation.model_validate(item) for item in orjson.loads(content)]


def _json_ready(value: Any) -> Any:
    """NaN and infinities become null (JSON has none); NumPy scalars become Python numbers."""
    import math

    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
