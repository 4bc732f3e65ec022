"""Confidence-based performance estimation (CBPE), as NannyML does it: the performance of a
binary classifier estimated from its scores alone, before the labels arrive.

For a calibrated classifier the score p of a row is the probability that its label is 1, so
every confusion-matrix cell has an expected value: a row predicted positive (p >= threshold)
is a true positive with probability p and a false positive with probability 1 - p; a row
predicted negative is a false negative with probability p, a true negative with 1 - p.

* Accuracy is the mean over rows of p where predicted positive, 1 - p where negative.
* ROC AUC is the area under the expected ROC curve: rows sorted by score (highest first), the
  expected true and false positives above each distinct threshold are the cumulative sums of
  p and of 1 - p, over their totals (NannyML's `estimate_roc_auc`).

The band is where the realised figure is expected to fall if the model is calibrated: the
labels drawn `draws` times as Bernoulli(p) (a fixed seed), the metric computed on each draw,
and the central `confidence` share of the draws. A window with few rows gets a wide band.

No I/O; NumPy only. Scores must be probabilities in [0, 1]: a score outside is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRAWS = 200
CONFIDENCE = 0.95
SEED = 23
_CHUNK = 4_000_000  # draws x rows held at once (bytes of booleans)


@dataclass(frozen=True)
class Estimated:
    """An estimated metric with its band (`value` None: not defined, e.g. no rows)."""

    value: float | None
    low: float | None
    high: float | None


def check_probabilities(score: np.ndarray) -> None:
    if len(score) and (not np.isfinite(score).all() or score.min() < 0 or score.max() > 1):
        raise ValueError("CBPE needs probabilities in [0, 1] (a calibrated classifier's scores)")


def expected_accuracy(score: np.ndarray, threshold: float = 0.5) -> float | None:
    """The expected accuracy of predicting `score >= threshold`."""
    if not len(score):
        return None
    correct = np.where(score >= threshold, score, 1.0 - score)
    return float(correct.mean())


def expected_roc_auc(score: np.ndarray) -> float | None:
    """The area under the expected ROC curve (None when every expected count of one class is 0,
    i.e. all scores 0 or all 1, or no rows)."""
    if not len(score):
        return None
    ordered = np.sort(score)[::-1]
    tp = np.cumsum(ordered)
    fp = np.cumsum(1.0 - ordered)
    if tp[-1] <= 0 or fp[-1] <= 0:
        return None
    last = np.empty(len(ordered), dtype=bool)  # the last row of each run of tied scores
    last[:-1] = ordered[1:] != ordered[:-1]
    last[-1] = True
    tpr = np.concatenate([[0.0], tp[last] / tp[-1]])
    fpr = np.concatenate([[0.0], fp[last] / fp[-1]])
    return float(np.trapezoid(tpr, fpr))


def _average_ranks(score: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their mean rank (the Mann-Whitney convention)."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.empty(len(score), dtype=bool)
    starts[0] = True
    starts[1:] = ordered[1:] != ordered[:-1]
    block = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    ends = np.append(first[1:], len(score))
    mean_rank = (first + ends + 1) / 2.0  # ranks first+1 .. ends, averaged
    ranks = np.empty(len(score))
    ranks[order] = mean_rank[block]
    return ranks


def _band(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def estimate(
    score: np.ndarray,
    *,
    threshold: float = 0.5,
    draws: int = DRAWS,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> dict[str, Estimated]:
    """CBPE of `roc_auc` and `accuracy` for one chunk of scores, each with its band.

    Raises:
        ValueError: a score is not a probability in [0, 1].
    """
    score = np.asarray(score, dtype=np.float64)
    check_probabilities(score)
    n = len(score)
    auc, accuracy = expected_roc_auc(score), expected_accuracy(score, threshold)
    if n == 0:
        return {"roc_auc": Estimated(None, None, None), "accuracy": Estimated(None, None, None)}
    rng = np.random.default_rng(seed)
    ranks = _average_ranks(score)
    predicted = score >= threshold
    auc_draws = np.empty(draws)
    accuracy_draws = np.empty(draws)
    per_chunk = max(1, _CHUNK // n)
    for first in range(0, draws, per_chunk):
        k = min(per_chunk, draws - first)
        labels = rng.random((k, n)) < score  # k draws of every row's label
        positives = labels.sum(axis=1).astype(np.float64)
        negatives = n - positives
        rank_sum = labels @ ranks
        with np.errstate(divide="ignore", invalid="ignore"):
            auc_draws[first : first + k] = np.where(
                (positives > 0) & (negatives > 0),
                (rank_sum - positives * (positives + 1) / 2) / (positives * negatives),
                np.nan,
            )
        accuracy_draws[first : first + k] = (labels == predicted).mean(axis=1)
    return {
        "roc_auc": Estimated(auc, *_band(auc_draws, confidence)),
        "accuracy": Estimated(accuracy, *_band(accuracy_draws, confidence)),
    }
