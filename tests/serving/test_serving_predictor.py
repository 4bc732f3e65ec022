"""Predictors answer exactly what the model's own predict answers: the linear shortcut only
where it agrees with the estimator, the estimator itself otherwise, boosters and trusted Python
models through their own calls. Loading keeps the registry's safe-format rules."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from tandem.deployments.models import PolicyRoute, Role
from tandem.errors import InvalidInput
from tandem.registry.flavors import save_model
from tandem.registry.models import MODEL_META
from tandem.serving.formats import Frame
from tandem.serving.loader import load_predictor
from tandem.serving.predictor import build_predictor

RNG = np.random.default_rng(7)
FRAME = pd.DataFrame({"tenure": RNG.normal(20, 8, 300), "charges": RNG.normal(70, 20, 300)})
BINARY = (FRAME.tenure + 0.2 * FRAME.charges + RNG.normal(0, 3, 300) > 34).astype(int)
SIGNATURE = {"inputs": [{"name": "tenure", "type": "float64"},
                        {"name": "charges", "type": "float64"}]}  # fmt: skip


def _answers(predictor, frame: pd.DataFrame) -> list:
    rows = frame.to_numpy().tolist()
    return predictor.predict(predictor.schema.prepare(Frame(list(frame.columns), rows)).input)


@pytest.mark.parametrize(
    ("model", "target"),
    [
        (LogisticRegression(), BINARY),
        (LogisticRegression(max_iter=500), pd.cut(FRAME.tenure, 3, labels=["lo", "mid", "hi"])),
        (Ridge(), FRAME.tenure * 2.0),
    ],
)
def test_the_linear_shortcut_answers_what_the_estimator_answers(model, target) -> None:
    model.fit(FRAME, target)
    predictor = build_predictor(model, "sklearn", SIGNATURE)
    assert predictor.shortcut == "linear"
    expected = model.predict(FRAME).tolist()
    got = _answers(predictor, FRAME)
    one_by_one = [_answers(predictor, FRAME.iloc[[i]])[0] for i in range(len(FRAME))]
    if isinstance(expected[0], float):
        assert got == pytest.approx(expected, rel=1e-12)
        assert one_by_one == pytest.approx(expected, rel=1e-12)
    else:
        assert got == expected and one_by_one == expected  # small requests: plain Python
    scores = predictor.score(predictor.schema.prepare(Frame(None, FRAME.to_numpy().tolist())).input)
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(FRAME)
        expected_scores = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
    else:
        expected_scores = model.predict(FRAME)
    assert scores == pytest.approx(expected_scores.tolist(), rel=1e-9)


def test_other_estimators_and_pipelines_on_frames_answer_through_predict() -> None:
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(FRAME, BINARY)
    predictor = build_predictor(forest, "sklearn", SIGNATURE)
    assert predictor.shortcut == "" and _answers(predictor, FRAME) == forest.predict(FRAME).tolist()
    frame = FRAME.assign(plan=np.where(FRAME.charges > 70, "pro", "basic"))
    pipeline = make_pipeline(
        ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough"),
        LogisticRegression(max_iter=500),
    ).fit(frame, BINARY)
    signature = {"inputs": [*SIGNATURE["inputs"], {"name": "plan", "type": "string"}]}
    predictor = build_predictor(pipeline, "sklearn", signature)
    assert _answers(predictor, frame) == pipeline.predict(frame).tolist()


def test_a_lightgbm_booster_answers_its_own_predict() -> None:
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(FRAME, BINARY),
        num_boost_round=10,
    )
    predictor = build_predictor(booster, "lightgbm", SIGNATURE)
    assert _answers(predictor, FRAME) == pytest.approx(booster.predict(FRAME).tolist())


def _saved(model, folder: Path, **options) -> PolicyRoute:
    saved = save_model(model, folder, example=FRAME.head(3), **options)
    (folder / MODEL_META).write_text(json.dumps({"files": saved.files}))
    return PolicyRoute(
        deployment="d-1", model="m", version=1, role=Role.PRIMARY, weight=100,
        flavor=saved.flavor, format=saved.format, trusted=saved.trusted,
        signature=saved.signature,
    )  # fmt: skip


class Doubler:
    def predict(self, frame: pd.DataFrame) -> list[float]:
        return (frame["tenure"] * 2).tolist()


def test_loading_keeps_the_safe_format_rules(tmp_path: Path) -> None:
    route = _saved(LogisticRegression().fit(FRAME, BINARY), tmp_path / "lr")
    assert load_predictor(tmp_path / "lr", route).shortcut == "linear"
    (tmp_path / "lr" / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(InvalidInput, match=r"model\.skops is not a readable skops file"):
        load_predictor(tmp_path / "lr", route)
    pickled = _saved(Doubler(), tmp_path / "py", trusted=True)
    with pytest.raises(InvalidInput, match="stored with pickle, which runs code"):
        load_predictor(tmp_path / "py", pickled.model_copy(update={"trusted": False}))
    predictor = load_predictor(tmp_path / "py", pickled)
    assert _answers(predictor, FRAME.head(2)) == (FRAME.tenure.head(2) * 2).tolist()


def test_an_xgboost_booster_answers_its_own_predict() -> None:
    import xgboost as xgb

    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(FRAME, label=BINARY),
        num_boost_round=5,
    )
    predictor = build_predictor(booster, "xgboost", SIGNATURE)
    expected = booster.predict(xgb.DMatrix(FRAME)).tolist()
    assert _answers(predictor, FRAME) == pytest.approx(expected, rel=1e-6)


def test_an_onnx_model_without_onnxruntime_is_refused_with_the_fix() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(graph)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput, match="needs onnxruntime: pip install onnxruntime"):
            build_predictor(model, "onnx", SIGNATURE)
    else:
        predictor = build_predictor(model, "onnx", SIGNATURE)
        assert _answers(predictor, FRAME.head(2)) == pytest.approx(
            FRAME.head(2).to_numpy().tolist(), rel=1e-6
        )


def test_an_unknown_flavor_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot serve flavor 'torch'"):
        build_predictor(object(), "torch")
