"""A loaded model ready to answer: its checked input schema and the fastest faithful way to
call it.

Per flavor: scikit-learn linear models (LogisticRegression, Ridge, ...) are answered with their
own coefficients in one NumPy product (a one-row request in microseconds instead of the
estimator's validation overhead), but only after the shortcut gave the estimator's own answers
on probe rows; any other estimator is called through `predict`. LightGBM and XGBoost boosters
predict on one thread (the gateway's worker processes are the parallelism), ONNX through
onnxruntime, and trusted Python models through `predict` (or the callable itself) on a pandas
frame, as MLflow's pyfunc does.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson

from tandem.errors import InvalidInput
from tandem.serving.signature import InputSchema

Outputs = list[Any]


def as_list(output: Any) -> Outputs:
    """A model's output as a JSON-ready list, one item per row."""
    if isinstance(output, np.ndarray):
        return output.tolist()  # type: ignore[no-any-return]
    if isinstance(output, list):
        return output
    to_numpy = getattr(output, "to_numpy", None)  # pandas / polars
    if callable(to_numpy):
        return to_numpy().tolist()  # type: ignore[no-any-return]
    if isinstance(output, tuple):
        return list(output)
    return [output]


class Predictor:
    """Call `schema.prepare(frame)` then `predict(prepared.input)`; `score` gives one number
    per row for the shadow comparison (the positive class's probability, the top class's for
    several classes, a regressor's value), or None when the model gives none.

    `probabilities`: `predict` answers class labels and `score` the class probabilities beside
    them (a scikit-learn classifier with `predict_proba`): the prediction log then keeps both
    (`log_output`), so realised ROC AUC and CBPE have scores to work on."""

    __slots__ = ("_score", "flavor", "inline", "predict", "probabilities", "schema", "shortcut")

    def __init__(
        self,
        schema: InputSchema,
        predict: Callable[[Any], Outputs],
        score: Callable[[Any], Outputs] | None = None,
        *,
        flavor: str = "",
        shortcut: str = "",
        inline: bool = True,
        probabilities: bool = False,
    ) -> None:
        self.schema = schema
        self.probabilities = probabilities and score is not None
        # small requests predict on the event loop (a thread hop costs more than a linear
        # model's answer); a trusted Python model is user code of unknown cost, so it never
        # does: one slow model must not stall the other deployments of the endpoint
        self.inline = inline
        self.predict = predict
        self._score = score
        self.flavor = flavor
        self.shortcut = shortcut  # which fast path answers, for logs and tests

    def score(self, model_input: Any) -> list[float] | None:
        if self._score is None:
            return None
        values = self._score(model_input)
        try:
            return [float(v) for v in values]
        except (TypeError, ValueError):
            return None

    def log_output(self, model_input: Any, outputs: Outputs) -> bytes | None:
        """What the prediction log keeps of a classifier's answer: each row's prediction with
        its score, `[{"prediction": 1, "score": 0.83}]` (the positive class's probability; the
        top class's for several classes); None when the predictor has no probabilities or
        they do not fit the answer (the log keeps the answer alone then)."""
        if not self.probabilities:
            return None
        try:
            scores = self.score(model_input)
        except Exception:  # the answer was given; a failing predict_proba only costs the score
            return None
        if scores is None or len(scores) != len(outputs):
            return None
        return orjson.dumps(
            [{"prediction": p, "score": s} for p, s in zip(outputs, scores, strict=True)],
            option=orjson.OPT_SERIALIZE_NUMPY,
        )


# -- scikit-learn ------------------------------------------------------------------------------

_LINEAR_CLASSIFIERS = {
    "LogisticRegression", "LogisticRegressionCV", "RidgeClassifier", "RidgeClassifierCV",
    "SGDClassifier", "Perceptron", "PassiveAggressiveClassifier",
}  # fmt: skip
_LINEAR_REGRESSORS = {
    "LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV",
    "SGDRegressor", "BayesianRidge", "ARDRegression", "HuberRegressor", "Lars", "LassoLars",
}  # fmt: skip


SMALL_ROWS = 32  # up to this many rows, a linear model is computed in plain Python


def _linear_shortcut(model: Any) -> Callable[[Any], Outputs] | None:
    """The estimator's decision function from its coefficients, or None when it is not a
    plain linear model of scikit-learn. Small requests arrive as lists of rows and are
    computed in plain Python (a one-row answer in about a microsecond); larger ones, and
    matrices, as one NumPy product."""
    cls = type(model)
    if not cls.__module__.startswith("sklearn.linear_model"):
        return None
    coef = np.asarray(getattr(model, "coef_", None), dtype=np.float64)
    intercept = np.asarray(getattr(model, "intercept_", 0.0), dtype=np.float64)
    if cls.__name__ in _LINEAR_CLASSIFIERS and coef.ndim == 2:
        classes = np.asarray(model.classes_)
        labels = classes.tolist()
        if coef.shape[0] == 1:  # binary: the positive class when the score is above 0
            weights, bias = coef[0].copy(), float(intercept.reshape(-1)[0])
            plain = weights.tolist()
            negative, positive = labels[0], labels[1]

            def binary(x: Any) -> Outputs:
                if type(x) is list:
                    answers = []
                    for row in x:
                        score = bias
                        for weight, value in zip(plain, row, strict=True):
                            score += weight * value
                        answers.append(positive if score > 0 else negative)
                    return answers
                return classes[((x @ weights + bias) > 0).astype(np.intp)].tolist()  # type: ignore[no-any-return]

            return binary
        transposed = np.ascontiguousarray(coef.T)

        def multiclass(x: Any) -> Outputs:
            x = np.asarray(x, dtype=np.float64)
            return classes[np.argmax(x @ transposed + intercept, axis=1)].tolist()  # type: ignore[no-any-return]

        return multiclass
    if cls.__name__ in _LINEAR_REGRESSORS and coef.ndim == 1:
        bias = float(intercept.reshape(-1)[0]) if intercept.size else 0.0

        def regress(x: Any) -> Outputs:
            return (np.asarray(x, dtype=np.float64) @ coef + bias).tolist()  # type: ignore[no-any-return]

        return regress
    return None


def _linear_score(model: Any) -> Callable[[Any], Outputs] | None:
    """LogisticRegression's probability (the positive class's, or the top class's) from its
    coefficients, or a linear regressor's value; None for other estimators."""
    cls = type(model)
    if cls.__name__ in _LINEAR_REGRESSORS:
        return _linear_shortcut(model)
    if cls.__name__ not in ("LogisticRegression", "LogisticRegressionCV"):
        return None
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    expit = importlib.import_module("scipy.special").expit  # what scikit-learn uses
    if coef.shape[0] == 1:
        weights, bias = coef[0].copy(), float(intercept[0])
        plain = weights.tolist()

        def positive(x: Any) -> Outputs:
            if type(x) is list:  # a small request's rows: plain Python, as the answer was
                # (3 us a row; NumPy and expit on a one-row list took 30-90 us)
                out = []
                for row in x:
                    z = bias
                    for weight, value in zip(plain, row, strict=True):
                        z += weight * value
                    out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else _expit_negative(z))
                return out
            x = np.asarray(x, dtype=np.float64)
            return expit(x @ weights + bias).tolist()  # type: ignore[no-any-return]

        return positive
    transposed = np.ascontiguousarray(coef.T)

    def top(x: Any) -> Outputs:
        logits = np.asarray(x, dtype=np.float64) @ transposed + intercept
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return (odds.max(axis=1) / odds.sum(axis=1)).tolist()  # type: ignore[no-any-return]

    return top


def _expit_negative(z: float) -> float:
    """1 / (1 + e^-z) for z < 0 without overflowing e^-z."""
    e = math.exp(z)
    return e / (1.0 + e)


def _probe(width: int) -> Any:
    """Rows to check a shortcut on: spread widely, with the same seed on every gateway."""
    generator = np.random.default_rng(20261207)
    return np.vstack(
        [generator.normal(0.0, scale, size=(32, width)) for scale in (1.0, 10.0, 1000.0)]
    )


def _sklearn(model: Any, schema: InputSchema) -> Predictor:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and schema.known and [str(n) for n in names] != schema.names:
        # fitted on other columns than the signature lists: the estimator's own names rule
        schema = InputSchema({"inputs": [{"name": str(n), "type": "float64"} for n in names]})
    by_name = names is not None  # fitted on a frame: it checks the names it is given
    native = _native_predict(model)
    score = _sklearn_score(model)
    shortcut = _linear_shortcut(model) if schema.numeric and schema.known else None
    if shortcut is not None:
        probe = _probe(len(schema.names))
        expected = native(_pandas(probe, schema.names) if by_name else probe)
        try:
            small = [answer for i in range(0, len(probe), SMALL_ROWS)
                     for answer in shortcut(probe[i : i + SMALL_ROWS].tolist())]  # fmt: skip
            same = _same_answers(shortcut(probe), expected) and _same_answers(small, expected)
        except Exception:  # a shape the shortcut does not handle: the estimator answers
            same = False
        if same:
            score = _checked_score(model, score, probe, schema.names if by_name else None)
            fast = schema.named(False, small_as_rows=SMALL_ROWS)
            return Predictor(
                fast, shortcut, score, flavor="sklearn", shortcut="linear",
                probabilities=_has_proba(model),
            )  # fmt: skip
    return Predictor(
        schema.named(by_name or not schema.numeric), native, score, flavor="sklearn",
        probabilities=_has_proba(model),
    )  # fmt: skip


def _same_answers(got: Outputs, expected: Outputs) -> bool:
    """Labels equal, and a regressor's values equal to the last few bits: NumPy's product and
    scikit-learn's may sum in another order (seen with NumPy 2.4), which is not a different
    answer."""
    if got == expected:
        return True
    try:
        ours = np.asarray(got, dtype=np.float64)
        theirs = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if ours.shape != theirs.shape or not ours.size:
        return False
    scale = float(np.max(np.abs(theirs)))
    return bool(np.allclose(ours, theirs, rtol=1e-12, atol=1e-12 * scale))


def _has_proba(model: Any) -> bool:
    """A classifier whose `predict_proba` gives its class probabilities (`_sklearn_score`)."""
    return getattr(model, "predict_proba", None) is not None and hasattr(model, "classes_")


def _checked_score(
    model: Any,
    native: Callable[[Any], Outputs] | None,
    probe: Any,
    names: list[str] | None,
) -> Callable[[Any], Outputs] | None:
    """The shadow comparison's scores for a linear shortcut: from the coefficients when they
    match the estimator's own on the probe rows (the shadow thread then holds the GIL for
    microseconds, not a pandas frame and a predict_proba), else the estimator's."""
    if native is None:
        return None
    named = native if names is None else _named(native, names)
    fast = _linear_score(model)
    if fast is None:
        return named
    try:
        same = np.allclose(fast(probe), named(probe), rtol=1e-9, atol=1e-12)
    except Exception:  # the estimator's scores are not numbers: keep them as they are
        same = False
    return fast if same else named


def _native_predict(model: Any) -> Callable[[Any], Outputs]:
    predict = model.predict

    def call(x: Any) -> Outputs:
        return as_list(predict(x))

    return call


def _sklearn_score(model: Any) -> Callable[[Any], Outputs] | None:
    proba = getattr(model, "predict_proba", None)  # absent when the loss gives none
    if proba is None or not hasattr(model, "classes_"):
        return _native_predict(model)

    def score(x: Any) -> Outputs:
        matrix = np.asarray(proba(x))
        column = matrix[:, 1] if matrix.shape[1] == 2 else matrix.max(axis=1)
        return column.tolist()  # type: ignore[no-any-return]

    return score


def _named(call: Callable[[Any], Outputs], names: list[str]) -> Callable[[Any], Outputs]:
    def on_frame(x: Any) -> Outputs:
        return call(_pandas(x, names))

    return on_frame


def _pandas(matrix: Any, columns: list[str]) -> Any:
    return importlib.import_module("pandas").DataFrame(matrix, columns=columns)


# -- boosters, ONNX, Python ------------------------------------------------------------------


def _lightgbm(model: Any, schema: InputSchema) -> Predictor:
    predict = model.predict

    def call(x: Any) -> Outputs:
        return as_list(predict(x, num_threads=1))

    return Predictor(schema, call, call, flavor="lightgbm")


def _xgboost(model: Any, schema: InputSchema) -> Predictor:
    model.set_param({"nthread": 1})
    predict = model.inplace_predict

    def call(x: Any) -> Outputs:
        return as_list(predict(x))

    return Predictor(schema, call, call, flavor="xgboost")


def _onnx(model: Any, schema: InputSchema) -> Predictor:
    try:
        runtime = importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise InvalidInput(
            "serving an ONNX model needs onnxruntime: pip install onnxruntime"
        ) from exc
    options = runtime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = runtime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise InvalidInput(
            f"the ONNX model takes {len(inputs)} input tensors; the gateway serves models "
            "that take one [rows, columns] tensor"
        )
    name = inputs[0].name
    dtype = np.float64 if inputs[0].type == "tensor(double)" else np.float32
    numeric = schema.named(False)

    def call(x: Any) -> Outputs:
        return as_list(session.run(None, {name: np.asarray(x, dtype=dtype)})[0])

    return Predictor(numeric, call, call, flavor="onnx")


def _python(model: Any, schema: InputSchema) -> Predictor:
    target = getattr(model, "predict", None) or model
    if not callable(target):
        raise InvalidInput(f"the trusted model, a {type(model).__name__}, cannot predict")
    named = schema.named(True)

    def call(x: Any) -> Outputs:
        return as_list(target(x))

    return Predictor(named, call, call, flavor="python", inline=False)


_BUILDERS: dict[str, Callable[[Any, InputSchema], Predictor]] = {
    "sklearn": _sklearn,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
    "onnx": _onnx,
    "python": _python,
}


def build_predictor(
    model: Any, flavor: str, signature: Mapping[str, Any] | None = None
) -> Predictor:
    """The fastest faithful predictor for a loaded `model` of `flavor`."""
    builder = _BUILDERS.get(flavor)
    if builder is None:
        raise InvalidInput(
            f"the gateway cannot serve flavor {flavor!r}: one of {', '.join(_BUILDERS)}"
        )
    return builder(model, InputSchema(signature))
