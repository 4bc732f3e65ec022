"""The evaluation engine against scikit-learn and Fairlearn on the real adult and telco data.

Scores come from a logistic regression fitted on adult's numeric columns, so groups differ in
both base rate and score quality, as they do in practice. Every figure must equal the
reference implementation's to 1e-9.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression

from tandem import errors
from tandem.evaluation import evaluate_binary, evaluate_regression

TOL = 1e-9
DATA = Path("/work/shared/data")


def read_adult() -> pl.DataFrame:
    return pl.read_csv(DATA / "adult.csv", infer_schema_length=10_000)


def read_telco() -> pl.DataFrame:
    return pl.read_csv(DATA / "telco-churn.csv", infer_schema_length=10_000)


NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hr_per_week"]


@pytest.fixture(scope="module")
def adult() -> dict[str, np.ndarray]:
    frame = read_adult()
    x = frame.select(NUMERIC).to_numpy().astype(float)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    y = (frame["income"].str.strip_chars() == ">50K").cast(pl.Int64).to_numpy()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    weak = LogisticRegression(max_iter=1000).fit(x[:, :1], y)  # age alone: the baseline
    return {
        "y": y,
        "income": frame["income"].to_numpy(),
        "score": model.predict_proba(x)[:, 1],
        "baseline": weak.predict_proba(x[:, :1])[:, 1],
        "sex": frame["sex"].to_numpy(),
        "race": frame["race"].to_numpy(),
    }


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOL


def test_overall_metrics_equal_scikit_learn(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], adult["score"]
    report = evaluate_binary(y, score, resamples=0)
    predicted = score >= 0.5
    expected = {
        "roc_auc": skm.roc_auc_score(y, score),
        "pr_auc": skm.average_precision_score(y, score),
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, zero_division=0),
        "recall": skm.recall_score(y, predicted, zero_division=0),
        "f1": skm.f1_score(y, predicted, zero_division=0),
        "log_loss": skm.log_loss(y, score),
        "brier": skm.brier_score_loss(y, score),
        "selection_rate": predicted.mean(),
    }
    for name, value in expected.items():
        assert _close(report["overall"][name], value), name
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert report["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert report["rows"] == len(y) and report["positives"] == int(y.sum())


def test_named_positive_label_and_threshold(adult: dict[str, np.ndarray]) -> None:
    report = evaluate_binary(
        adult["income"], adult["score"], positive=">50K", threshold=0.3, resamples=0
    )
    predicted = adult["score"] >= 0.3
    assert _close(report["overall"]["recall"], skm.recall_score(adult["y"], predicted))
    assert report["threshold"] == 0.3


def test_ties_are_counted_as_scikit_learn_does(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], np.round(adult["score"], 2)  # about 100 distinct scores
    report = evaluate_binary(y, score, slices={"sex": adult["sex"]}, resamples=0)
    assert _close(report["overall"]["roc_auc"], skm.roc_auc_score(y, score))
    assert _close(report["overall"]["pr_auc"], skm.average_precision_score(y, score))
    for group, row in report["slices"]["sex"].items():
        mask = adult["sex"] == group
        assert _close(row["roc_auc"], skm.roc_auc_score(y[mask], score[mask]))
        assert _close(row["pr_auc"], skm.average_precision_score(y[mask], score[mask]))


FAIRLEARN_METRICS = {
    "roc_auc": lambda yt, ys: skm.roc_auc_score(yt, ys) if len(set(yt)) == 2 else math.nan,
    "accuracy": lambda yt, ys: skm.accuracy_score(yt, ys >= 0.5),
    "precision": lambda yt, ys: skm.precision_score(yt, ys >= 0.5, zero_division=0),
    "recall": lambda yt, ys: skm.recall_score(yt, ys >= 0.5, zero_division=0),
    "f1": lambda yt, ys: skm.f1_score(yt, ys >= 0.5, zero_division=0),
    "selection_rate": lambda yt, ys: selection_rate(yt, ys >= 0.5),
    "brier": lambda yt, ys: skm.brier_score_loss(yt, ys, pos_label=1),
}


@pytest.mark.parametrize("columns", [["sex"], ["race"], ["sex", "race"]])
def test_slices_equal_fairlearn_metric_frame(
    adult: dict[str, np.ndarray], columns: list[str]
) -> None:
    slices = {c: adult[c] for c in columns}
    report = evaluate_binary(adult["y"], adult["score"], slices=slices, resamples=0)
    name = "+".join(columns)
    frame = MetricFrame(
        metrics=FAIRLEARN_METRICS,
        y_true=adult["y"],
        y_pred=adult["score"],
        sensitive_features=slices[columns[0]]
        if len(columns) == 1
        else pl.DataFrame(slices).to_pandas(),
    )
    ours = report["slices"][name]
    assert len(ours) == len(frame.by_group)  # only the combinations that occur
    for key, row in frame.by_group.iterrows():
        label = "|".join(key) if isinstance(key, tuple) else str(key)
        assert ours[label]["count"] == int(
            np.sum(
                np.all(
                    [slices[c] == v for c, v in zip(columns, label.split("|"), strict=True)], axis=0
                )
            )
        )
        for metric in FAIRLEARN_METRICS:
            assert _close(ours[label][metric], float(row[metric])), (label, metric)


@pytest.mark.parametrize("columns", [["sex"], ["race"], ["sex", "race"]])
def test_fairness_equals_fairlearn(adult: dict[str, np.ndarray], columns: list[str]) -> None:
    slices = {c: adult[c] for c in columns}
    report = evaluate_binary(
        adult["y"], adult["score"], slices=slices, protected=columns, resamples=0
    )
    fair = report["fairness"]["+".join(columns)]
    y, predicted = adult["y"], (adult["score"] >= 0.5).astype(int)
    features = slices[columns[0]] if len(columns) == 1 else pl.DataFrame(slices).to_pandas()
    for key, reference in {
        "demographic_parity_difference": demographic_parity_difference,
        "demographic_parity_ratio": demographic_parity_ratio,
        "equalized_odds_difference": equalized_odds_difference,
        "equalized_odds_ratio": equalized_odds_ratio,
    }.items():
        assert _close(fair[key], float(reference(y, predicted, sensitive_features=features))), key
    frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=predicted,
        sensitive_features=features,
    )
    for key, row in frame.by_group.iterrows():
        label = "|".join(key) if isinstance(key, tuple) else str(key)
        assert _close(fair["groups"][label]["tpr"], float(row["tpr"]))
        assert _close(fair["groups"][label]["fpr"], float(row["fpr"]))


def test_fairness_only_for_protected_slicings(adult: dict[str, np.ndarray]) -> None:
    report = evaluate_binary(
        adult["y"],
        adult["score"],
        resamples=0,
        slices={"sex": adult["sex"], "race": adult["race"]},
        protected=["sex"],
    )
    assert set(report["slices"]) == {"sex", "race", "sex+race"}
    assert set(report["fairness"]) == {"sex"}


def test_calibration_equals_scikit_learn(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], adult["score"]
    curve = evaluate_binary(y, score, bins=10, resamples=0)["calibration"]
    observed, predicted = calibration_curve(y, score, n_bins=10)
    np.testing.assert_allclose(curve["positive_rate"], observed, rtol=0, atol=TOL)
    np.testing.assert_allclose(curve["mean_predicted"], predicted, rtol=0, atol=TOL)
    weights = np.array(curve["count"]) / len(y)
    assert _close(curve["ece"], float((weights * np.abs(observed - predicted)).sum()))
    assert curve["mce"] == pytest.approx(float(np.abs(observed - predicted).max()), abs=TOL)


def test_lift_at_top_k(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], adult["score"]
    report = evaluate_binary(y, score, top_k=0.1, resamples=0)
    top = np.argsort(-score, kind="stable")[: math.ceil(0.1 * len(y))]
    assert _close(report["overall"]["lift"], y[top].mean() / y.mean())


def test_bootstrap_equals_a_resampling_loop(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], adult["score"]
    report = evaluate_binary(y, score, resamples=20, seed=11, confidence=0.9)
    rng = np.random.default_rng(11)
    draws = {"roc_auc": [], "f1": [], "pr_auc": []}
    for _ in range(20):
        idx = rng.integers(0, len(y), len(y))
        draws["roc_auc"].append(skm.roc_auc_score(y[idx], score[idx]))
        draws["pr_auc"].append(skm.average_precision_score(y[idx], score[idx]))
        draws["f1"].append(skm.f1_score(y[idx], score[idx] >= 0.5))
    for metric, values in draws.items():
        ours = report["bootstrap"]["metrics"][metric]
        assert _close(ours["mean"], float(np.mean(values))), metric
        assert _close(ours["low"], float(np.percentile(values, 5))), metric
        assert _close(ours["high"], float(np.percentile(values, 95))), metric
    assert report["bootstrap"]["resamples"] == 20 and report["bootstrap"]["seed"] == 11


def test_baseline_comparison_is_paired_and_significant(adult: dict[str, np.ndarray]) -> None:
    y = adult["y"]
    report = evaluate_binary(y, adult["score"], baseline_score=adult["baseline"], resamples=50)
    base = report["baseline"]
    assert _close(base["overall"]["roc_auc"], skm.roc_auc_score(y, adult["baseline"]))
    diff = base["difference"]["roc_auc"]
    assert diff["low"] > 0 and diff["p_value"] < 0.05  # five features beat age alone
    same = evaluate_binary(y, adult["score"], baseline_score=adult["score"], resamples=20)
    assert same["baseline"]["difference"]["roc_auc"]["mean"] == 0
    assert same["baseline"]["difference"]["roc_auc"]["p_value"] == 1.0


def test_missing_slice_values_form_their_own_group() -> None:
    y = np.array([0, 1, 1, 0, 1, 0])
    score = np.array([0.1, 0.8, 0.7, 0.2, 0.4, 0.6])
    for group in (["a", None, "a", "b", None, "b"], np.array([1.0, np.nan, 1.0, 2.0, np.nan, 2.0])):
        report = evaluate_binary(y, score, slices={"g": group}, protected=["g"], resamples=0)
        counts = {label: row["count"] for label, row in report["slices"]["g"].items()}
        assert counts["(missing)"] == 2 and sum(counts.values()) == 6
        assert "(missing)" in report["fairness"]["g"]["groups"]


def test_undefined_figures() -> None:
    y = np.array([0, 0, 1, 1, 0, 0])
    score = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.4])
    group = np.array(["a", "a", "a", "a", "b", "b"])  # b has no positives
    report = evaluate_binary(y, score, slices={"g": group}, resamples=0)
    b = report["slices"]["g"]["b"]
    assert math.isnan(b["roc_auc"]) and math.isnan(b["pr_auc"])
    assert b["precision"] == 0 and b["recall"] == 0 and b["accuracy"] == 1
    assert report["slices"]["g"]["a"]["roc_auc"] == 1.0


def test_scores_outside_unit_interval_skip_probability_metrics(
    adult: dict[str, np.ndarray],
) -> None:
    margin = np.log(adult["score"] / (1 - adult["score"]))
    report = evaluate_binary(adult["y"], margin, threshold=0.0, resamples=0)
    assert "log_loss" not in report["overall"] and report["calibration"] is None
    assert _close(report["overall"]["roc_auc"], skm.roc_auc_score(adult["y"], margin))
    assert _close(
        report["overall"]["accuracy"], skm.accuracy_score(adult["y"], adult["score"] >= 0.5)
    )


def test_regression_equals_scikit_learn() -> None:
    telco = read_telco().filter(pl.col("TotalCharges").cast(pl.Float64, strict=False).is_not_null())
    y = telco["TotalCharges"].cast(pl.Float64).to_numpy()
    prediction = (telco["tenure"] * telco["MonthlyCharges"]).cast(pl.Float64).to_numpy()
    contract = telco["Contract"].to_numpy()
    report = evaluate_regression(y, prediction, slices={"Contract": contract})
    groups = [("overall", np.ones(len(y), bool), report["overall"])] + [
        (g, contract == g, row) for g, row in report["slices"]["Contract"].items()
    ]
    assert len(groups) == 4
    for name, mask, row in groups:
        expected = {
            "mae": skm.mean_absolute_error(y[mask], prediction[mask]),
            "rmse": math.sqrt(skm.mean_squared_error(y[mask], prediction[mask])),
            "mape": skm.mean_absolute_percentage_error(y[mask], prediction[mask]),
            "r2": skm.r2_score(y[mask], prediction[mask]),
        }
        for metric, value in expected.items():
            assert row[metric] == pytest.approx(value, rel=1e-12, abs=TOL), (name, metric)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": [0, 1, 2], "y_score": [0.1, 0.2, 0.3]}, "labels must be 0/1"),
        ({"y_true": ["no", "yes"], "y_score": [0.1, 0.9]}, "labels must be 0/1"),
        ({"y_true": [0, 1], "y_score": [0.1, float("nan")]}, "missing or infinite"),
        ({"y_true": [0, 1], "y_score": ["a", "b"]}, "must be numeric"),
        ({"y_true": [0, 1, 1], "y_score": [0.1, 0.9]}, "expected 3"),
        ({"y_true": [], "y_score": []}, "no rows"),
        (
            {
                "y_true": [0, 1],
                "y_score": [0.1, 0.9],
                "slices": {"g": ["a", "b"]},
                "protected": ["sex"],
            },
            "protected attributes",
        ),
        ({"y_true": [0, 1], "y_score": [0.1, 0.9], "confidence": 1.5}, "confidence"),
    ],
)
def test_bad_input_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        evaluate_binary(**kwargs)


def test_curves_lie_on_scikit_learns(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], np.round(adult["score"], 3)
    curves = evaluate_binary(y, score, resamples=0)["curves"]
    fpr, tpr, _ = skm.roc_curve(y, score, drop_intermediate=False)
    points = set(zip(np.round(fpr, 12), np.round(tpr, 12), strict=True))
    ours = list(
        zip(np.round(curves["roc"]["fpr"], 12), np.round(curves["roc"]["tpr"], 12), strict=True)
    )
    assert len(ours) <= 201 and ours[0] == (0, 0) and ours[-1] == (1, 1)
    assert all(p in points for p in ours)
    precision, recall, _ = skm.precision_recall_curve(y, score, drop_intermediate=False)
    pr = set(zip(np.round(recall, 12), np.round(precision, 12), strict=True))
    ours_pr = zip(
        np.round(curves["pr"]["recall"], 12), np.round(curves["pr"]["precision"], 12), strict=True
    )
    assert all(p in pr for p in ours_pr)
    assert evaluate_binary([1, 1], [0.2, 0.4], resamples=0)["curves"] == {"roc": None, "pr": None}
