"""Bootstrap confidence intervals for headline metrics, and the paired comparison with a
baseline model, without copying the data.

A resample of n rows drawn with replacement is the same rows with multiplicity weights (how
many times each row was drawn), so each resample is a weighted pass over arrays that are
already sorted and encoded. Draws are `rng.integers(0, n, n)` from `np.random.default_rng(seed)`,
one per resample in order: the same rows a loop that indexes `y[idx]` would use, so its values
are reproducible with any tool that draws the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tandem.evaluation.groups import Slicing
from tandem.evaluation.metrics import RANK_METRICS, BinaryData, RankOrder, binary_metrics


def resample_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


def _summary(values: np.ndarray, confidence: float) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "std": math.nan}
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return {
        "mean": float(finite.mean()),
        "low": float(low),
        "high": float(high),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
    }


def bootstrap(
    data: BinaryData,
    metrics: Sequence[str],
    *,
    resamples: int = 200,
    seed: int = 7,
    confidence: float = 0.95,
    baseline: BinaryData | None = None,
    top_k: float = 0.1,
) -> dict[str, Any]:
    """Mean and percentile interval of each metric over `resamples` resamples; with a baseline
    (another model's scores on the same rows), the paired difference model - baseline with its
    interval and a two-sided bootstrap p-value."""
    n = len(data.y)
    overall = Slicing.overall(n)
    ranked = bool(set(metrics) & set(RANK_METRICS))
    rank = RankOrder.of(data.y, data.score, overall.codes, 1, data.by_score) if ranked else None
    base_rank = None
    if baseline is not None and ranked:
        base_rank = RankOrder.of(baseline.y, baseline.score, overall.codes, 1, baseline.by_score)
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, len(metrics)))
    base_draws = np.empty((resamples, len(metrics))) if baseline is not None else None
    for b in range(resamples):
        w = resample_weights(rng, n)
        table = binary_metrics(data, overall, metrics, weights=w, rank=rank, top_k=top_k)
        draws[b] = [table[m][0] for m in metrics]
        if baseline is not None and base_draws is not None:
            other = binary_metrics(
                baseline, overall, metrics, weights=w, rank=base_rank, top_k=top_k
            )
            base_draws[b] = [other[m][0] for m in metrics]
    out: dict[str, Any] = {
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
        "metrics": {m: _summary(draws[:, j], confidence) for j, m in enumerate(metrics)},
    }
    if base_draws is not None:
        out["difference"] = {
            m: _difference(draws[:, j] - base_draws[:, j], confidence)
            for j, m in enumerate(metrics)
        }
    return out


def _difference(diff: np.ndarray, confidence: float) -> dict[str, float]:
    summary = _summary(diff, confidence)
    finite = diff[np.isfinite(diff)]
    if len(finite):
        below, above = float((finite <= 0).mean()), float((finite >= 0).mean())
        summary["p_value"] = min(1.0, 2 * min(below, above))
    else:
        summary["p_value"] = math.nan
    return summary
