"""Model flavors: write a model to files in a safe format, infer its signature, load it back.

Safe-format policy. By default a model is written in a format that loading cannot turn into
code execution: scikit-learn through skops, XGBoost and LightGBM in their native text/JSON
formats, ONNX as ONNX. Pickle (cloudpickle when installed) is used only for generic Python
callables and only when the caller passes `trusted=True`; such a model is marked `trusted` and
loading it again needs `trusted=True`. The API server never loads a model: it only stores files.
This module is client-side (SDK) code. Heavy libraries are imported inside functions, so importing
it is cheap, and a library the model does not come from is never imported.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pickle
import shutil
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.errors import InvalidInput

log = logging.getLogger(__name__)

FLAVORS = ("sklearn", "xgboost", "lightgbm", "onnx", "python")
FORMATS = ("skops", "xgboost-json", "lightgbm-text", "onnx", "pickle")
_FILES = {
    "sklearn": "model.skops",
    "xgboost": "model.json",
    "lightgbm": "model.txt",
    "onnx": "model.onnx",
    "python": "model.pkl",
}
_FORMAT = dict(zip(FLAVORS, FORMATS, strict=True))
_LIBRARY = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm", "onnx": "onnx"}
_REQUIREMENTS = {
    "sklearn": ["scikit-learn", "skops", "numpy", "scipy"],
    "xgboost": ["xgboost", "numpy"],
    "lightgbm": ["lightgbm", "numpy"],
    "onnx": ["onnx", "onnxruntime"],
}
_VARIANTS = {"xgboost": ("xgboost-cpu",), "onnxruntime": ("onnxruntime-gpu",)}
# Types skops flags as untrusted in plain scikit-learn estimators (trees, gradient boosting,
# neighbors), checked with skops 0.16 / scikit-learn 1.9. They are trusted without asking. This is
# an exact list on purpose: trusting whole "sklearn." / "numpy." / "scipy." prefixes would let a
# crafted file call functions such as numpy.testing's `runstring`, which runs `exec`.
_SAFE_SKOPS_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
    }
)

_TYPE_PREFIXES = (
    ("datetime", "datetime"),
    ("categor", "category"),
    ("enum", "category"),
    ("boolean", "bool"),
    ("utf8", "string"),
    ("str", "string"),
)


@dataclass(frozen=True)
class SavedModel:
    """What `save_model` wrote; the registry stores it next to the files."""

    flavor: str
    format: str
    trusted: bool
    files: list[str]
    signature: dict[str, Any] | None
    requirements: list[str]
    library_version: str | None


def _module(name: str, flavor: str, pip: str, verb: str = "loading") -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InvalidInput(f"{verb} a {flavor} model needs {pip}: pip install {pip}") from exc


def _loaded(module: str, *names: str) -> tuple[type, ...]:
    """Classes `names` of `module` if it is already imported (a model of them implies it is)."""
    mod = sys.modules.get(module)
    return tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))


def detect_flavor(model: Any) -> str:
    """The flavor of `model`, without importing any library the model does not come from."""
    top = type(model).__module__.split(".")[0]
    # xgboost and lightgbm first: their scikit-learn wrappers are sklearn estimators too.
    if top == "xgboost" or isinstance(model, _loaded("xgboost", "Booster", "XGBModel")):
        return "xgboost"
    if top == "lightgbm" or isinstance(model, _loaded("lightgbm", "Booster", "LGBMModel")):
        return "lightgbm"
    if top == "onnx" or isinstance(model, _loaded("onnx", "ModelProto")):
        return "onnx"
    if top == "sklearn" or isinstance(model, _loaded("sklearn.base", "BaseEstimator")):
        return "sklearn"
    if callable(model) or callable(getattr(model, "predict", None)):
        return "python"
    raise InvalidInput(f"cannot tell the flavor of a {type(model).__qualname__}: pass flavor=")


def _installed(name: str) -> tuple[str, str] | None:
    """(distribution, version) of `name` or of a variant build of it, if installed."""
    from importlib import metadata  # not at the top: it costs more than the rest of the module

    for dist in (name, *_VARIANTS.get(name, ())):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _requirements(flavor: str, model: Any, used_cloudpickle: bool) -> list[str]:
    from importlib import metadata

    names = list(_REQUIREMENTS.get(flavor, []))
    if flavor == "python":
        names += ["cloudpickle"] if used_cloudpickle else []
        top = str(getattr(model, "__module__", None) or type(model).__module__).split(".")[0]
        with contextlib.suppress(Exception):  # best effort: never fail a save over this
            names += metadata.packages_distributions().get(top, [])
    found = (_installed(name) for name in dict.fromkeys(names))
    return [f"{dist}=={version}" for dist, version in filter(None, found)]


def _version(flavor: str) -> str | None:
    found = _installed(_LIBRARY[flavor]) if flavor in _LIBRARY else None
    return found[1] if found else None


def _write(model: Any, flavor: str, path: Path) -> bool:
    """Write `model` to `path`; True if cloudpickle was used."""
    if flavor == "sklearn":
        _module("skops.io", flavor, "skops", "saving").dump(model, path)
    elif flavor == "xgboost" or flavor == "lightgbm":
        booster = getattr(model, "booster_", model) if flavor == "lightgbm" else model
        booster.save_model(str(path))
    elif flavor == "onnx":
        _module("onnx", flavor, "onnx", "saving").save_model(model, str(path))
    else:
        try:
            dumper: Any = importlib.import_module("cloudpickle")
        except ImportError:
            dumper = pickle
        with path.open("wb") as file:
            dumper.dump(model, file)
        return dumper is not pickle
    return False


def _check_signature(signature: Any) -> dict[str, Any]:
    def columns(value: Any, key: str) -> list[dict[str, str]]:
        if not isinstance(value, list) or not all(
            isinstance(c, dict)
            and set(c) == {"name", "type"}
            and all(isinstance(v, str) for v in c.values())
            for c in value
        ):
            raise InvalidInput(f'signature["{key}"] must be a list of {{"name", "type"}} strings')
        return [{"name": c["name"], "type": c["type"]} for c in value]

    if (
        not isinstance(signature, dict)
        or "inputs" not in signature
        or set(signature) - {"inputs", "outputs"}
    ):
        raise InvalidInput('a signature is a dict with "inputs" and optionally "outputs"')
    outputs = signature.get("outputs")
    return {
        "inputs": columns(signature["inputs"], "inputs"),
        "outputs": None if outputs is None else columns(outputs, "outputs"),
    }


def _predict(model: Any, flavor: str, example: Any) -> Any:
    """The model's output on `example`, or None: a signature never fails a save."""
    predict = getattr(model, "predict", None)
    if flavor == "onnx" or (flavor == "xgboost" and not hasattr(model, "fit")):
        return None  # ONNX needs a runtime, a raw xgboost Booster a DMatrix
    if predict is None:
        predict = model if flavor == "python" and callable(model) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return None if predict is None else predict(example)
    except Exception:  # the user's model failed on its example: the save goes on, said in the log
        log.info("the model's predict failed on its example: no output signature", exc_info=True)
        return None


def save_model(
    model: Any,
    folder: Path,
    *,
    flavor: str | None = None,
    example: Any = None,
    signature: dict[str, Any] | None = None,
    trusted: bool = False,
) -> SavedModel:
    """Write `model` into `folder` in its flavor's safe format (pickle only if `trusted`)."""
    if flavor is not None and flavor not in FLAVORS:
        raise InvalidInput(f"unknown flavor {flavor!r}: use one of {', '.join(FLAVORS)}")
    flavor = flavor or detect_flavor(model)
    if flavor == "python" and not trusted:
        raise InvalidInput(
            "a generic Python function can only be stored with pickle, which runs code when "
            "loaded; pass trusted=True to store it"
        )
    checked = _check_signature(signature) if signature is not None else None
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    try:
        used_cloudpickle = _write(model, flavor, folder / _FILES[flavor])
    except Exception as exc:
        for path in set(folder.iterdir()) - before:  # leave nothing half-written behind
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"could not save the model as {flavor}: {exc}") from exc
    if checked is None and example is not None:
        checked = infer_signature(example, _predict(model, flavor, example))
    return SavedModel(
        flavor=flavor,
        format=_FORMAT[flavor],
        trusted=flavor == "python",
        files=[_FILES[flavor]],
        signature=checked,
        requirements=_requirements(flavor, model, used_cloudpickle),
        library_version=_version(flavor),
    )


def _coerce(saved: SavedModel | Mapping[str, Any]) -> SavedModel:
    if isinstance(saved, SavedModel):
        return saved
    try:
        return SavedModel(
            flavor=str(saved["flavor"]),
            format=str(saved["format"]),
            trusted=bool(saved.get("trusted", False)),
            files=saved["files"],  # checked by _model_file
            signature=saved.get("signature"),
            requirements=list(saved.get("requirements") or []),
            library_version=saved.get("library_version"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"not a saved model record: missing or bad {exc}") from exc


def _model_file(folder: Path, files: Any) -> Path:
    """The first of `files`, checked to be a plain name of an existing file inside `folder`."""
    if not isinstance(files, list) or not files:
        raise InvalidInput("the saved model lists no files")
    root = folder.resolve()
    for name in files:
        bad = not isinstance(name, str) or name in ("", ".", "..") or "/" in name
        if bad or "\\" in name or "\x00" in name or Path(name).is_absolute():
            raise InvalidInput(f"unsafe file name in the saved model: {name!r}")
        path = (root / name).resolve()
        if path.parent != root or not path.is_file():
            raise InvalidInput(f"file {name!r} of the saved model is missing from {folder}")
    return root / str(files[0])


def load_model(
    folder: Path, saved: SavedModel | Mapping[str, Any], *, trusted: bool = False
) -> Any:
    """Load a model `save_model` wrote into `folder`; pickle needs `trusted=True`."""
    saved = _coerce(saved)
    if saved.format not in FORMATS:
        raise InvalidInput(f"unknown model format {saved.format!r}: use one of {FORMATS}")
    if saved.format == "pickle" and not trusted:
        raise InvalidInput(
            "this model is stored with pickle, which runs code when loaded; pass trusted=True "
            "if you trust who logged it"
        )
    path, flavor = _model_file(folder, saved.files), str(saved.flavor)
    try:
        return _read(path, flavor, saved.format, trusted)
    except InvalidInput:
        raise
    except Exception as exc:  # a file that is not what its format claims
        raise InvalidInput(
            f"the model file {path.name} is not a readable {saved.format} file "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def _read(path: Path, flavor: str, format: str, trusted: bool) -> Any:
    if format == "skops":
        sio = _module("skops.io", flavor, "skops")
        _module("sklearn", flavor, "scikit-learn")
        unknown = [t for t in sio.get_untrusted_types(file=path) if t not in _SAFE_SKOPS_TYPES]
        if unknown and not trusted:
            raise InvalidInput(
                f"the model contains types skops does not trust: {', '.join(unknown[:5])}"
                f"{' ...' if len(unknown) > 5 else ''}; check them, then pass trusted=True"
            )
        return sio.load(path, trusted=[*unknown, *_SAFE_SKOPS_TYPES])
    if format == "xgboost-json":
        booster = _module("xgboost", flavor, "xgboost").Booster()
        booster.load_model(str(path))
        return booster
    if format == "lightgbm-text":
        return _module("lightgbm", flavor, "lightgbm").Booster(model_file=str(path))
    if format == "onnx":
        return _module("onnx", flavor, "onnx").load(str(path))
    with path.open("rb") as file:  # trusted pickle; cloudpickle output loads with pickle
        return pickle.load(file)


def _type_name(dtype: Any) -> str:
    """One spelling of a column type across numpy, pandas and polars."""
    kind = getattr(dtype, "kind", None)
    name = str(dtype.name if kind is not None else dtype).lower()
    for prefix, normal in _TYPE_PREFIXES:
        if name.startswith(prefix):
            return normal
    if kind in ("U", "S", "O"):
        return "string"
    return "datetime" if kind == "M" else name


def _columns(data: Any, default: str) -> list[dict[str, str]]:
    module = type(data).__module__.split(".")[0]
    if module in ("pandas", "polars") and hasattr(data, "columns"):
        return [
            {"name": str(c), "type": _type_name(t)}
            for c, t in zip(data.columns, data.dtypes, strict=True)
        ]
    if module in ("pandas", "polars") and hasattr(data, "dtype"):
        name = default if data.name is None or data.name == "" else str(data.name)
        return [{"name": name, "type": _type_name(data.dtype)}]
    np = importlib.import_module("numpy")
    if isinstance(data, Mapping):
        return [{"name": str(k), "type": _type_name(np.asarray(v).dtype)} for k, v in data.items()]
    array = np.asarray(data)
    if array.ndim == 2:
        return [{"name": str(i), "type": _type_name(array.dtype)} for i in range(array.shape[1])]
    return [{"name": default, "type": _type_name(array.dtype)}]


def infer_signature(example: Any, output: Any = None) -> dict[str, Any]:
    """Input (and output) columns with types from a pandas/polars frame, array or dict."""
    try:
        return {
            "inputs": _columns(example, "0"),
            "outputs": None if output is None else _columns(output, "prediction"),
        }
    except Exception as exc:
        raise InvalidInput(f"cannot infer a signature from a {type(example).__name__}") from exc
