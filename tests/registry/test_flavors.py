"""Model flavors against the real libraries on the real adult data: safe formats round-trip,
signatures are inferred from pandas, polars and numpy examples, pickle needs trust both ways, and
file names from a record never escape the model folder."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import polars as pl
import pytest
from sklearn.base import BaseEstimator  # type: ignore[import-untyped]
from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

from tandem.errors import InvalidInput
from tandem.registry.flavors import (
    FLAVORS,
    SavedModel,
    detect_flavor,
    infer_signature,
    load_model,
    save_model,
)

ADULT = Path("/work/shared/data/adult.csv")
FEATURES = ["age", "education_num", "hr_per_week", "capital_gain"]
INPUTS = [{"name": name, "type": "int64"} for name in FEATURES]


@pytest.fixture(scope="module")
def adult() -> pl.DataFrame:
    return pl.read_csv(ADULT, infer_schema_length=10_000)


@pytest.fixture(scope="module")
def xy(adult: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x = adult.select(FEATURES).to_numpy()
    y = (adult["income"] == ">50K").to_numpy()
    return x, y


def _fitted_logistic(xy: tuple[np.ndarray, np.ndarray]) -> Any:
    x, y = xy
    return LogisticRegression(max_iter=1000).fit(StandardScaler().fit_transform(x), y)


def _version(name: str) -> str:
    return f"{name}=={metadata.version(name)}"


class Doubler(BaseEstimator):  # type: ignore[misc]
    """A user-defined estimator: skops does not know its type."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def predict(self, x: Any) -> Any:
        return np.asarray(x) * 2


class Scorer:
    def __init__(self, weight: float) -> None:
        self.weight = weight

    def predict(self, x: Any) -> Any:
        return np.asarray(x, dtype=float).sum(axis=1) * self.weight


def test_logistic_regression_round_trips_through_skops(
    tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = xy
    model = LogisticRegression(max_iter=1000).fit(x, y)
    saved = save_model(model, tmp_path)
    assert saved.flavor == "sklearn" and saved.format == "skops" and not saved.trusted
    assert saved.files == ["model.skops"] and saved.signature is None
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]
    assert saved.library_version == metadata.version("scikit-learn")
    for name in ("scikit-learn", "skops", "numpy", "scipy"):
        assert _version(name) in saved.requirements
    loaded = load_model(tmp_path, saved)
    assert type(loaded) is LogisticRegression
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    # the registry hands back the record as a dict
    again = load_model(tmp_path, dataclasses.asdict(saved))
    assert np.array_equal(again.predict_proba(x[:100]), model.predict_proba(x[:100]))


def test_pipeline_round_trips(tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, y)
    assert detect_flavor(model) == "sklearn"
    saved = save_model(model, tmp_path, example=x[:5])
    loaded = load_model(tmp_path, saved)
    assert [name for name, _ in loaded.steps] == ["scale", "model"]
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_gradient_boosting_tree_type_is_trusted_by_name(
    tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]
) -> None:
    # skops reports sklearn.tree._tree.Tree as untrusted; flavors trusts exactly that name.
    x, y = xy
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x[:5000], y[:5000])
    saved = save_model(model, tmp_path)
    loaded = load_model(tmp_path, saved)
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_unknown_skops_types_need_trust(tmp_path: Path) -> None:
    model = Doubler().fit([[1.0]])
    assert detect_flavor(model) == "sklearn"
    saved = save_model(model, tmp_path)
    with pytest.raises(InvalidInput, match=r"Doubler.*pass trusted=True"):
        load_model(tmp_path, saved)
    loaded = load_model(tmp_path, saved, trusted=True)
    assert type(loaded).__name__ == "Doubler"


def test_signature_from_pandas_example(tmp_path: Path, adult: pl.DataFrame) -> None:
    frame = adult.select(FEATURES).to_pandas()
    model = LogisticRegression(max_iter=1000).fit(frame, adult["income"].to_pandas() == ">50K")
    saved = save_model(model, tmp_path, example=frame.head(20))
    assert saved.signature == {
        "inputs": INPUTS,
        "outputs": [{"name": "prediction", "type": "bool"}],
    }


def test_signature_from_polars_example(tmp_path: Path, adult: pl.DataFrame, xy: Any) -> None:
    model = _fitted_logistic(xy)
    saved = save_model(model, tmp_path, example=adult.select(FEATURES).head(20))
    assert saved.signature is not None
    assert saved.signature["inputs"] == INPUTS
    assert saved.signature["outputs"] == [{"name": "prediction", "type": "bool"}]


def test_signature_from_numpy_example(tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]) -> None:
    model = _fitted_logistic(xy)
    saved = save_model(model, tmp_path, example=xy[0][:20])
    assert saved.signature == {
        "inputs": [{"name": str(i), "type": "int64"} for i in range(4)],
        "outputs": [{"name": "prediction", "type": "bool"}],
    }


def test_failed_prediction_keeps_the_save(tmp_path: Path, xy: Any) -> None:
    saved = save_model(_fitted_logistic(xy), tmp_path, example=np.zeros((3, 7)))
    assert saved.signature == {
        "inputs": [{"name": str(i), "type": "float64"} for i in range(7)],
        "outputs": None,
    }


def test_infer_signature_types() -> None:
    frame = pd.DataFrame(
        {
            "s": ["a", "b"],
            "o": pd.Series(["a", None], dtype=object),
            "c": pd.Categorical(["x", "y"]),
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "n": pd.array([1, None], dtype="Int64"),
            "b": [True, False],
            "f": [0.5, 1.5],
        }
    )
    types = [c["type"] for c in infer_signature(frame)["inputs"]]
    assert types == ["string", "string", "category", "datetime", "int64", "bool", "float64"]
    polars = pl.DataFrame({"s": ["a"], "b": [True], "f": [1.0], "i": [1]}).with_columns(
        c=pl.col("s").cast(pl.Categorical), t=pl.lit("2024-01-01").str.to_datetime()
    )
    types = [c["type"] for c in infer_signature(polars)["inputs"]]
    assert types == ["string", "bool", "float64", "int64", "category", "datetime"]
    signature = infer_signature({"a": [1, 2], "b": ["x", "y"]}, np.zeros((2, 2), dtype=np.float32))
    assert signature == {
        "inputs": [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}],
        "outputs": [{"name": "0", "type": "float32"}, {"name": "1", "type": "float32"}],
    }
    signature = infer_signature(np.arange(3), pd.Series([1.0], name="score"))
    assert signature["inputs"] == [{"name": "0", "type": "int64"}]
    assert signature["outputs"] == [{"name": "score", "type": "float64"}]
    assert infer_signature(np.arange(3), pd.Series([1.0]))["outputs"][0]["name"] == "prediction"


def test_given_signature_is_checked_and_used(tmp_path: Path, xy: Any) -> None:
    model = _fitted_logistic(xy)
    signature = {"inputs": [{"name": "age", "type": "int64"}]}
    saved = save_model(model, tmp_path / "a", signature=signature, example=xy[0][:5])
    assert saved.signature == {"inputs": signature["inputs"], "outputs": None}
    bad: Any
    for bad in ({"outputs": []}, {"inputs": [{"name": "age"}]}, {"inputs": [], "extra": 1}, []):
        with pytest.raises(InvalidInput, match="signature"):
            save_model(model, tmp_path / "b", signature=bad)
    assert not (tmp_path / "b").exists()


def _add_one() -> Callable[[Any], Any]:
    offset = 1
    return lambda x: np.asarray(x) + offset


def test_python_function_needs_trust_to_save_and_to_load(tmp_path: Path) -> None:
    function = _add_one()
    assert detect_flavor(function) == "python"
    with pytest.raises(InvalidInput, match=r"only be stored with pickle.*trusted=True"):
        save_model(function, tmp_path)
    assert list(tmp_path.iterdir()) == []
    saved = save_model(function, tmp_path, trusted=True, example=[1, 2])
    assert (saved.flavor, saved.format, saved.trusted) == ("python", "pickle", True)
    assert saved.files == ["model.pkl"] and saved.library_version is None
    assert _version("cloudpickle") in saved.requirements
    assert saved.signature == {
        "inputs": [{"name": "0", "type": "int64"}],
        "outputs": [{"name": "prediction", "type": "int64"}],
    }
    with pytest.raises(InvalidInput, match=r"runs code when loaded.*trusted=True"):
        load_model(tmp_path, saved)
    with pytest.raises(InvalidInput, match="runs code"):  # the record's own flag does not count
        load_model(tmp_path, dataclasses.replace(saved, trusted=False))
    loaded = load_model(tmp_path, saved, trusted=True)
    assert loaded([1, 2]).tolist() == [2, 3]


def test_object_with_predict_is_python(tmp_path: Path) -> None:
    model = Scorer(0.5)
    assert detect_flavor(model) == "python"
    saved = save_model(model, tmp_path, trusted=True, example=np.ones((2, 3)))
    assert saved.signature is not None
    assert saved.signature["outputs"] == [{"name": "prediction", "type": "float64"}]
    assert load_model(tmp_path, saved, trusted=True).predict(np.ones((1, 3))).tolist() == [1.5]


def test_failed_save_leaves_nothing(tmp_path: Path) -> None:
    model = Scorer(1.0)
    model.lock = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="could not save the model as python: "):
        save_model(model, tmp_path, trusted=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..", "", "a\\b", "missing.skops"])
def test_file_names_from_records_stay_in_the_folder(tmp_path: Path, xy: Any, name: str) -> None:
    folder = tmp_path / "model"
    saved = save_model(_fitted_logistic(xy), folder)
    (tmp_path / "x").write_bytes((folder / "model.skops").read_bytes())
    with pytest.raises(InvalidInput, match=r"unsafe file name|missing"):
        load_model(folder, dataclasses.replace(saved, files=[name]))
    with pytest.raises(InvalidInput):
        load_model(folder, dataclasses.replace(saved, files=["model.skops", name]))


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path, xy: Any) -> None:
    folder = tmp_path / "model"
    saved = save_model(_fitted_logistic(xy), folder)
    (folder / "model.skops").rename(tmp_path / "outside.skops")
    (folder / "model.skops").symlink_to(tmp_path / "outside.skops")
    with pytest.raises(InvalidInput, match="missing"):
        load_model(folder, saved)


def test_unknown_flavor_format_and_record_refused(tmp_path: Path, xy: Any) -> None:
    model = _fitted_logistic(xy)
    with pytest.raises(InvalidInput, match="unknown flavor 'torch'.*" + ", ".join(FLAVORS)):
        save_model(model, tmp_path, flavor="torch")
    with pytest.raises(InvalidInput, match="cannot tell the flavor"):
        save_model(42, tmp_path)
    saved = save_model(model, tmp_path)
    with pytest.raises(InvalidInput, match="unknown model format"):
        load_model(tmp_path, dataclasses.replace(saved, format="joblib"))
    with pytest.raises(InvalidInput, match="not a saved model record"):
        load_model(tmp_path, {"flavor": "sklearn"})


def test_import_is_cheap() -> None:
    heavy = ["sklearn", "skops", "numpy", "pandas", "polars", "cloudpickle", "fastapi"]
    code = f"import sys, tandem.registry.flavors; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_xgboost_round_trip(tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]) -> None:
    import xgboost  # in the dev extra: a missing library fails the test, it does not skip

    x, y = xy
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(x, y)
    saved = save_model(model, tmp_path, example=x[:5])
    assert (saved.flavor, saved.format, saved.files) == ("xgboost", "xgboost-json", ["model.json"])
    assert saved.library_version == xgboost.__version__
    booster = load_model(tmp_path, saved)
    expected = model.get_booster().predict(xgboost.DMatrix(x))
    assert np.allclose(booster.predict(xgboost.DMatrix(x)), expected)


def test_lightgbm_round_trip(tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]) -> None:
    import lightgbm  # in the dev extra: a missing library fails the test, it does not skip

    x, y = xy
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(x.astype(float), y)
    saved = save_model(model, tmp_path)
    assert (saved.flavor, saved.format, saved.files) == ("lightgbm", "lightgbm-text", ["model.txt"])
    assert saved.library_version == lightgbm.__version__
    booster = load_model(tmp_path, saved)
    assert np.allclose(booster.predict(x.astype(float)), model.predict_proba(x.astype(float))[:, 1])


def test_onnx_round_trip(tmp_path: Path) -> None:
    import onnx  # in the dev extra: a missing library fails the test, it does not skip

    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph)
    saved = save_model(model, tmp_path)
    assert (saved.flavor, saved.format) == ("onnx", "onnx")
    assert load_model(tmp_path, saved) == model


def test_saved_model_is_frozen() -> None:
    saved = SavedModel("sklearn", "skops", False, ["model.skops"], None, [], None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        saved.flavor = "python"  # type: ignore[misc]
