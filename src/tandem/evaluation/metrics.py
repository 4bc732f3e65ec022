"""Classification and regression metrics for every group of a slicing at once.

Each metric is computed for all groups in one vectorised pass: confusion cells and sums are
`np.bincount`s over the group codes; the rank metrics (ROC AUC, average precision, lift) share
one sort of the scores per slicing. Rows may carry weights (a bootstrap resample is the same
rows with multiplicity weights), so resampling never copies the data.

Definitions follow scikit-learn, so values agree with it to rounding (the tests check 1e-9):

* labels are 0/1; the predicted label is `score >= threshold`;
* precision, recall and F1 are 0 when undefined (`zero_division=0`);
* ROC AUC is the Mann-Whitney statistic with tied scores counted half (as the trapezoidal
  ROC curve does); average precision is sum over distinct thresholds of recall gained x
  precision; both are NaN for a group with only one class;
* log loss clips probabilities to [eps, 1 - eps] with eps the float64 machine epsilon;
* MAPE divides by max(|y|, eps).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tandem.evaluation.groups import Slicing

EPS = float(np.finfo(np.float64).eps)
LABEL_METRICS = ("accuracy", "precision", "recall", "f1", "selection_rate")
RANK_METRICS = ("roc_auc", "pr_auc", "lift")
PROBABILITY_METRICS = ("log_loss", "brier")
BINARY_METRICS = ("roc_auc", "pr_auc", *LABEL_METRICS, "log_loss", "brier", "lift")
ERROR_RATES = ("tpr", "fpr", "tnr", "fnr")
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")


def _ratio(num: np.ndarray, den: np.ndarray, undefined: float = 0.0) -> np.ndarray:
    out = np.full(len(num), undefined, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass
class RankOrder:
    """Rows sorted by group, then by score, with runs of tied (group, score) as blocks.

    Computed once per slicing and reused by every resample: only weights change."""

    order: np.ndarray
    block: np.ndarray  # block id of each sorted row
    block_group: np.ndarray  # group of each block
    n_blocks: int
    sorted_codes: np.ndarray
    positive: np.ndarray  # 1.0 where the sorted row is a positive
    negative: np.ndarray

    @classmethod
    def of(
        cls,
        y: np.ndarray,
        score: np.ndarray,
        codes: np.ndarray,
        size: int,
        by_score: np.ndarray | None = None,
    ) -> RankOrder:
        """`by_score` (the argsort of the scores) may be shared by several slicings."""
        if by_score is None:
            by_score = np.argsort(score, kind="stable")
        if size == 1:
            order = by_score
        else:
            small = codes.astype(np.int16) if size < 32768 else codes  # radix sort
            order = by_score[np.argsort(small[by_score], kind="stable")]
        c, s = codes[order], score[order]
        starts = np.empty(len(order), dtype=bool)
        if len(order):
            starts[0] = True
            np.not_equal(s[1:], s[:-1], out=starts[1:])
            starts[1:] |= c[1:] != c[:-1]
        n_blocks = int(starts.sum())
        block = np.cumsum(starts) - 1
        positive = y[order].astype(np.float64)
        return cls(order, block, c[starts], n_blocks, c, positive, 1.0 - positive)

    def scratch(self, name: str) -> np.ndarray:
        """A float array as long as the table, kept for the next resample: a fresh 8 MB array
        per step costs as much in page faults as the arithmetic on it."""
        buffers: dict[str, np.ndarray] = self.__dict__.setdefault("_scratch", {})
        if name not in buffers:
            buffers[name] = np.empty(len(self.order), dtype=np.float64)
        return buffers[name]

    def block_sums(self, values: np.ndarray) -> np.ndarray:
        """Per-block sums of per-sorted-row values (the values themselves without ties)."""
        if self.n_blocks == len(self.order):
            return values.astype(np.float64, copy=False)
        return np.bincount(self.block, weights=values, minlength=self.n_blocks)


@dataclass
class BinaryData:
    """Labels, scores and the predicted labels of a binary classifier, validated."""

    y: np.ndarray  # int64 0/1
    score: np.ndarray  # float64
    threshold: float = 0.5
    predicted: np.ndarray = field(init=False)
    _cells: dict[int, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.predicted = (self.score >= self.threshold).astype(np.int64)

    @cached_property
    def by_score(self) -> np.ndarray:
        return np.argsort(self.score, kind="stable")

    @cached_property
    def row_log_loss(self) -> np.ndarray:
        q = np.clip(self.score, EPS, 1 - EPS)
        loss: np.ndarray = -np.where(self.y == 1, np.log(q), np.log1p(-q))
        return loss

    @cached_property
    def row_squared_error(self) -> np.ndarray:
        squared: np.ndarray = (self.y - self.score) ** 2
        return squared

    def cells(self, slicing: Slicing) -> np.ndarray:
        """Each row's group and confusion cell in one code: group*4 + (0 tn, 1 fp, 2 fn, 3 tp).
        Kept per slicing, since every bootstrap resample needs it again."""
        cached = self._cells.get(id(slicing.codes))
        if cached is None or cached[0] is not slicing.codes:
            cached = (slicing.codes, slicing.codes * 4 + self.y * 2 + self.predicted)
            self._cells[id(slicing.codes)] = cached
        return cached[1]


def binary_metrics(
    data: BinaryData,
    slicing: Slicing,
    metrics: Iterable[str] = BINARY_METRICS,
    *,
    weights: np.ndarray | None = None,
    rank: RankOrder | None = None,
    top_k: float = 0.1,
) -> dict[str, np.ndarray]:
    """Every requested metric for every group of `slicing`, plus the confusion counts and
    error rates (`tn fp fn tp`, `tpr fpr tnr fnr`, `count`) the fairness figures need."""
    wanted = set(metrics)
    unknown = wanted - set(BINARY_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics: {sorted(unknown)}")
    y, size, codes = data.y, slicing.size, slicing.codes
    tn, fp, fn, tp = (
        np.bincount(data.cells(slicing), weights=weights, minlength=4 * size)
        .reshape(size, 4)
        .T.astype(np.float64)
    )
    n, positives, negatives, predicted = tn + fp + fn + tp, tp + fn, tn + fp, tp + fp
    out: dict[str, np.ndarray] = {
        "count": n,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, predicted),
        "recall": _ratio(tp, positives),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "selection_rate": _ratio(predicted, n),
        "tpr": _ratio(tp, positives),
        "fpr": _ratio(fp, negatives),
        "tnr": _ratio(tn, negatives),
        "fnr": _ratio(fn, positives),
    }
    if "log_loss" in wanted:
        out["log_loss"] = _ratio(_group_sum(codes, size, data.row_log_loss, weights), n, math.nan)
    if "brier" in wanted:
        out["brier"] = _ratio(_group_sum(codes, size, data.row_squared_error, weights), n, math.nan)
    if wanted & set(RANK_METRICS):
        if rank is None:
            rank = RankOrder.of(y, data.score, codes, size, data.by_score)
        out.update(_rank_metrics(rank, size, positives, negatives, n, wanted, weights, top_k))
    return out


def _group_sum(
    codes: np.ndarray, size: int, values: np.ndarray, weights: np.ndarray | None
) -> np.ndarray:
    return np.bincount(
        codes, weights=values if weights is None else values * weights, minlength=size
    )


def _rank_metrics(
    rank: RankOrder,
    size: int,
    positives: np.ndarray,
    negatives: np.ndarray,
    n: np.ndarray,
    wanted: set[str],
    weights: np.ndarray | None,
    top_k: float,
) -> dict[str, np.ndarray]:
    if weights is None:
        w, pos_rows, neg_rows = None, rank.positive, rank.negative
    else:  # a resample: into buffers reused from the previous one
        w = np.take(weights.astype(np.float64, copy=False), rank.order, out=rank.scratch("w"))
        pos_rows = np.multiply(w, rank.positive, out=rank.scratch("pos"))
        neg_rows = np.subtract(w, pos_rows, out=rank.scratch("neg"))
    pos, neg = rank.block_sums(pos_rows), rank.block_sums(neg_rows)
    # negatives in the same group scored at or below each block, its own counted half (ties)
    neg_upto = np.cumsum(neg, out=rank.scratch("neg_upto") if len(neg) == len(rank.order) else None)
    pos_upto = None
    if "pr_auc" in wanted:
        pos_upto = np.cumsum(
            pos, out=rank.scratch("pos_upto") if len(pos) == len(rank.order) else None
        )
    g = rank.block_group
    if size > 1:  # cumulative sums restart at each group
        neg_upto -= np.concatenate([[0.0], np.cumsum(negatives)[:-1]])[g]
        if pos_upto is not None:
            pos_upto -= np.concatenate([[0.0], np.cumsum(positives)[:-1]])[g]
    out: dict[str, np.ndarray] = {}
    if "roc_auc" in wanted:
        # Without ties a block is one row, positive or negative, so pos * neg is 0 everywhere
        # and the half-counting term vanishes: skipping it saves a pass per resample.
        mid = neg_upto if rank.n_blocks == len(rank.order) else neg_upto - 0.5 * neg
        pairs = (
            np.bincount(g, weights=pos * mid, minlength=size) if size > 1 else np.array([pos @ mid])
        )
        out["roc_auc"] = _ratio(pairs, positives * negatives, math.nan)
    if pos_upto is not None:
        group_pos = positives[g] if size > 1 else positives[0]
        group_neg = negatives[g] if size > 1 else negatives[0]
        tp_at = group_pos - pos_upto + pos  # rows scored at or above the block's score
        fp_at = group_neg - neg_upto + neg
        precision = _ratio(tp_at, tp_at + fp_at)
        summed = (
            np.bincount(g, weights=pos * precision, minlength=size)
            if size > 1
            else np.array([pos @ precision])
        )
        out["pr_auc"] = _ratio(summed, positives, math.nan)
    if "lift" in wanted:
        out["lift"] = _lift(rank, size, pos_rows, w, positives, n, top_k)
    return out


def _lift(
    rank: RankOrder,
    size: int,
    pos_rows: np.ndarray,
    w: np.ndarray | None,
    positives: np.ndarray,
    n: np.ndarray,
    top_k: float,
) -> np.ndarray:
    """Positive rate among each group's top `top_k` share of rows by score, over its base
    rate. Ties at the cut are broken by row order (stable), so the share is exact."""
    rows = np.bincount(rank.sorted_codes, minlength=size)
    end = np.cumsum(rows)
    from_top = end[rank.sorted_codes] - np.arange(len(rank.order))  # 1 for a group's best row
    top = from_top <= np.ceil(top_k * rows)[rank.sorted_codes]
    weight = np.ones(len(top)) if w is None else w
    hits = np.bincount(rank.sorted_codes[top], weights=pos_rows[top], minlength=size)
    taken = np.bincount(rank.sorted_codes[top], weights=weight[top], minlength=size)
    return _ratio(_ratio(hits, taken), _ratio(positives, n), math.nan)


def regression_metrics(
    y: np.ndarray, prediction: np.ndarray, slicing: Slicing, *, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """MAE, RMSE, MAPE and R² for every group (R² is NaN for a constant target)."""
    codes, size = slicing.codes, slicing.size
    n = np.bincount(codes, weights=weights, minlength=size).astype(np.float64)
    error = y - prediction
    mean_y = _ratio(_group_sum(codes, size, y, weights), n)
    total = _group_sum(codes, size, (y - mean_y[codes]) ** 2, weights)
    squared = _group_sum(codes, size, error**2, weights)
    return {
        "count": n,
        "mae": _ratio(_group_sum(codes, size, np.abs(error), weights), n, math.nan),
        "rmse": np.sqrt(_ratio(squared, n, math.nan)),
        "mape": _ratio(
            _group_sum(codes, size, np.abs(error) / np.maximum(np.abs(y), EPS), weights),
            n,
            math.nan,
        ),
        "r2": np.where(total > 0, 1 - _ratio(squared, total, math.nan), math.nan),
    }
