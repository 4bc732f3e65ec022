"""The figures of a window, with no I/O: feature drift of live inputs against a stored profile,
prediction drift against a baseline of scores, the training data's contract on live inputs.

Every function takes plain data (Polars frames, profile JSON, contract text) and answers
`Figures`, so the service can hand them to an executor (`tandem.core.executor`: Ray
tasks pickle their arguments). The window is profiled once (`profile_frame`, the data domain's
mergeable sketches) and compared with the reference's stored profile: the reference's rows are
never read again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tandem.errors import InvalidInput

if TYPE_CHECKING:
    import polars as pl

DEFAULT_MIN_SAMPLES = 20
"""Rows a window needs before it is judged: fewer is "no data" (breached None)."""

_METHODS = ("psi", "ks", "wasserstein", "jensen_shannon", "chi2")
# checks of a contract that say nothing about live inputs: whether a column is there and its
# type (inputs travel as JSON), and uniqueness (a customer asks twice in an hour)
_NOT_LIVE = frozenset({"present", "type", "unique", "columnSet", "rowCount", "freshness"})


@dataclass(frozen=True)
class Figures:
    """What a signal measured in a window: its figures by name, how many rows they rest on,
    details for the record, and (prediction drift) the monitor's state to keep."""

    figures: dict[str, float | None]
    samples: int
    details: dict[str, Any] = field(default_factory=dict)
    estimated: bool = False
    band: tuple[float | None, float | None] = (None, None)
    state: dict[str, Any] | None = None
    verdict: bool | None = None  # a signal that judges itself (SLO burn-rate pairs)
    judged: bool = True  # False: too few rows (no data)


class FiguresLike(Protocol):
    """`Figures` as another domain answers them (the outcomes domain's `WindowFigures`)."""

    @property
    def figures(self) -> dict[str, float | None]: ...
    @property
    def samples(self) -> int: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def estimated(self) -> bool: ...
    @property
    def band(self) -> tuple[float | None, float | None]: ...
    @property
    def state(self) -> dict[str, Any] | None: ...
    @property
    def verdict(self) -> bool | None: ...
    @property
    def judged(self) -> bool: ...


def no_data(samples: int, reason: str) -> Figures:
    return Figures({}, samples, {"reason": reason}, judged=False)


def min_samples(params: dict[str, Any]) -> int:
    value = params.get("min_samples", DEFAULT_MIN_SAMPLES)
    if not isinstance(value, int) or value < 1:
        raise InvalidInput(f"min_samples is a whole number of at least 1, not {value!r}")
    return value


def thresholds(params: dict[str, Any]) -> Any:
    """The drift engine's rules from a monitor's params: `method` (psi, ks, wasserstein,
    jensen_shannon, chi2; default: as Evidently picks per column) and `threshold`."""
    from tandem.data.service import DriftThresholds, Statistic

    method = params.get("method")
    if method is None:
        return DriftThresholds(drift_share=1.0)
    if method not in _METHODS:
        raise InvalidInput(f"unknown drift method {method!r}: use one of {', '.join(_METHODS)}")
    statistic = Statistic(method)
    rules: dict[str, Any] = {"numeric": statistic, "categorical": statistic, "drift_share": 1.0}
    if "threshold" in params:
        threshold = params["threshold"]
        if not isinstance(threshold, int | float) or isinstance(threshold, bool):
            raise InvalidInput(f"threshold is a number, not {threshold!r}")
        key = {"ks": "ks_p_value", "chi2": "chi2_p_value"}.get(method, method)
        rules[key] = float(threshold)
    return DriftThresholds(**rules)


def check_params(kind: str, params: dict[str, Any]) -> None:
    """Raise InvalidInput for params a kind does not take or values out of range."""
    allowed = {
        "feature-drift": {"columns", "method", "threshold", "reference", "min_samples"},
        "prediction-drift": {"method", "threshold", "min_samples", "positive_threshold"},
        "contract": {"reference", "min_samples"},
        "performance": {"metric", "min_samples"},
        "estimated-performance": {"metric", "min_samples"},
        "slo": {"objective", "target", "threshold_ms", "period", "min_requests", "windows"},
        "kpi": {"metric", "min_samples"},
    }[kind]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInput(
            f"a {kind} monitor takes no parameter {', '.join(unknown)}: use "
            + ", ".join(sorted(allowed))
        )
    if "min_samples" in params:
        min_samples(params)
    if kind in ("feature-drift", "prediction-drift"):
        thresholds(params)
    columns = params.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns)
    ):
        raise InvalidInput("columns is a list of column names")
    reference = params.get("reference")
    if reference is not None and (not isinstance(reference, str) or "@" not in reference):
        raise InvalidInput(f"reference is a dataset version, dataset@vN, not {reference!r}")


# -- feature drift ---------------------------------------------------------------------------


def feature_drift(
    inputs: pl.DataFrame, reference: dict[str, Any], columns: list[str], params: dict[str, Any]
) -> Figures:
    """Drift of the window's `columns` against the `reference` profile (its stored JSON)."""
    from tandem.data.service import Profile, profile_frame

    rows = inputs.height
    if rows < min_samples(params):
        return no_data(rows, f"{rows} rows in the window; at least {min_samples(params)} needed")
    missing = [c for c in columns if c not in inputs.columns]
    if missing:
        return no_data(rows, f"the logged inputs have no column {', '.join(missing)}")
    stored = Profile.from_json(reference)
    unknown = [c for c in columns if c not in stored.columns]
    if unknown:
        return no_data(rows, f"the reference profile has no column {', '.join(unknown)}")
    return _compare(stored, profile_frame(inputs.select(columns)), columns, params)


def feature_drift_profiles(
    parts: list[dict[str, Any]], reference: dict[str, Any], columns: list[str],
    params: dict[str, Any],
) -> Figures:  # fmt: skip
    """`feature_drift` of a window from the stored profiles of its buckets (their JSON, merged
    here), the same figures within the sketches' error, without the window's rows."""
    from tandem.data.service import Profile, merge_profiles

    rows = sum(int(p.get("rows", 0)) for p in parts)
    if rows < min_samples(params):
        return no_data(rows, f"{rows} rows in the window; at least {min_samples(params)} needed")
    logged = {name for p in parts for name in p.get("state", {})}
    missing = [c for c in columns if c not in logged]
    if missing:
        return no_data(rows, f"the logged inputs have no column {', '.join(missing)}")
    stored = Profile.from_json(reference)
    unknown = [c for c in columns if c not in stored.columns]
    if unknown:
        return no_data(rows, f"the reference profile has no column {', '.join(unknown)}")
    wanted = set(columns)
    current = merge_profiles(
        Profile.from_json({**p, "state": {k: v for k, v in p["state"].items() if k in wanted}})
        for p in parts
    )
    current = dataclasses.replace(current, columns={c: current.columns[c] for c in columns})
    return _compare(stored, current, columns, params)


def _compare(stored: Any, current: Any, columns: list[str], params: dict[str, Any]) -> Figures:
    from tandem.data.service import compare_profiles

    rows = current.rows
    ref = dataclasses.replace(stored, columns={c: stored.columns[c] for c in columns})
    report = compare_profiles(ref, current, thresholds(params))
    compared = {c.column: c for c in report.columns}
    scores = [c.value for c in report.columns if c.value is not None]
    return Figures(
        {
            "drifted_share": report.share if report.columns else None,
            "drifted_count": float(len(report.drifted_columns)),
            "max_score": max(scores) if scores else None,
        },
        rows,
        {
            "drifted_columns": report.drifted_columns,
            "columns": {
                name: {
                    "statistic": c.statistic,
                    "value": c.value,
                    "threshold": c.threshold,
                    "drifted": c.drifted,
                }
                for name, c in compared.items()
            },
            "not_compared": [c for c in columns if c not in compared],
            "reference_rows": report.reference_rows,
        },
    )


# -- prediction drift ------------------------------------------------------------------------


def prediction_drift(
    meta: pl.DataFrame, baseline: dict[str, Any] | None, params: dict[str, Any]
) -> Figures:
    """Drift of the window's scores (PSI by default) and of its positive rate against the
    baseline, the monitor's first window with enough scores (kept in its state)."""
    import polars as pl

    from tandem.data.service import Profile, compare_profiles, profile_frame

    scores = meta.filter(pl.col("status") < 400)["score"].drop_nulls().cast(pl.Float64)
    rows = scores.len()
    if rows < min_samples(params):
        return no_data(rows, f"{rows} scores in the window; at least {min_samples(params)} needed")
    cut = float(params.get("positive_threshold", 0.5))
    positive_rate = float((scores >= cut).cast(pl.Float64).mean() or 0.0)  # type: ignore[arg-type]
    profile = profile_frame(pl.DataFrame({"score": scores}))
    if baseline is None:
        state = {"profile": profile.to_json(), "positive_rate": positive_rate, "rows": rows}
        return Figures(
            {"score_drift": 0.0, "positive_rate_delta": 0.0, "positive_rate": positive_rate},
            rows,
            {"baseline": "this window (the first with enough scores)"},
            state=state,
        )
    rules = thresholds({"method": "psi", **params})
    report = compare_profiles(Profile.from_json(baseline["profile"]), profile, rules)
    column = report.columns[0] if report.columns else None
    return Figures(
        {
            "score_drift": column.value if column is not None else None,
            "positive_rate_delta": abs(positive_rate - float(baseline["positive_rate"])),
            "positive_rate": positive_rate,
        },
        rows,
        {
            "statistic": column.statistic if column is not None else None,
            "baseline_rows": baseline.get("rows"),
            "baseline_positive_rate": baseline["positive_rate"],
        },
    )


# -- the contract ----------------------------------------------------------------------------


def contract(inputs: pl.DataFrame, text: str, params: dict[str, Any]) -> Figures:
    """The contract's checks on the columns the live inputs have (schema checks of presence
    and type, uniqueness and table-wide rules left out: inputs travel as JSON, customers come
    back): violations per check."""
    from tandem.data.service import parse_contract, validate_frame

    rows = inputs.height
    if rows < min_samples(params):
        return no_data(rows, f"{rows} rows in the window; at least {min_samples(params)} needed")
    result = validate_frame(parse_contract(text), inputs, max_examples=0)
    live = [
        c
        for c in result.checks
        if c.column is not None
        and c.column in inputs.columns
        and c.kind not in _NOT_LIVE
        and c.passed is not None
    ]
    failed = [c for c in live if c.passed is False]
    return Figures(
        {
            "violations": float(len(failed)),
            "failed_share": len(failed) / len(live) if live else 0.0,
        },
        rows,
        {
            "checks": len(live),
            "failed": [
                {
                    "id": c.id,
                    "column": c.column,
                    "kind": c.kind,
                    "observed": c.observed,
                    "expected": c.expected,
                    "message": c.message,
                }
                for c in failed
            ],
        },
    )
