"""The tagged JSON of a model file: plain data, numpy arrays and the few objects a fitted model holds.

JSON cannot express tuples, numpy arrays and scalars, non-finite floats, slices or dicts
with non-string keys; each gets a one-key tagged object (``{"__tuple__": [...]}``). A
fitted attribute may also hold:

* a scikit-learn object of an allow-list (``PCA``, ``FastICA``, ``KMeans``): its parameters
  and the fitted arrays its ``transform`` / ``predict`` need (``__sklearn__``);
* a torch module of a class the estimator's ``_fitted_module_classes`` names: its state as
  float arrays, rebuilt by the class's ``from_state`` (``__module__``).

Decoding refuses anything it does not know; it never imports or calls a name from the file.
"""

import math
import numbers
import re
import warnings

import numpy as np
import torch

from .._compat import _openmp_effective_n_threads
from .._core.rng import isolated

__all__ = ["BadFile", "SKLEARN_STATE", "TAGS", "Unencodable", "decode", "encode", "is_reserved"]

_DTYPE = re.compile(r"^[<>|=]?[biufUO][0-9]*$")

#: JSON tags of the values plain JSON cannot express.
TAGS = (
    "__tuple__",
    "__ndarray__",
    "__scalar__",
    "__float__",
    "__items__",
    "__slice__",
    "__dict__",
    "__sklearn__",
    "__module__",
    "__estimator__",
)

#: The tags of fitted objects, allowed only in fitted attributes.
OBJECT_TAGS = ("__sklearn__", "__module__", "__estimator__")

#: scikit-learn classes a fitted attribute may hold, with the fitted attributes saved:
#: (required for ``transform`` / ``predict``, optional). Nothing else of the object is kept.
SKLEARN_STATE = {
    "PCA": (
        ("components_", "mean_", "explained_variance_", "n_components_", "n_features_in_"),
        ("explained_variance_ratio_", "singular_values_", "noise_variance_", "n_samples_", "feature_names_in_"),
    ),
    "FastICA": (
        ("components_", "mixing_", "n_features_in_"),
        ("mean_", "whitening_", "n_iter_", "feature_names_in_"),
    ),
    "KMeans": (
        ("cluster_centers_", "n_features_in_"),
        ("labels_", "inertia_", "n_iter_", "feature_names_in_"),
    ),
}


def _sklearn_classes():
    """The scikit-learn classes of :data:`SKLEARN_STATE`, by name."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA, FastICA

    return {"PCA": PCA, "FastICA": FastICA, "KMeans": KMeans}

class Unencodable(TypeError):
    def __init__(self, where, value):
        self.where = where
        self.value = value
        super().__init__(f"{where} holds {type(value).__module__}.{type(value).__qualname__} {value!r:.80}")


def _allowed_dtype(dtype):
    """bool, int and uint, float up to 64 bits, str and object (of scalars): what JSON numbers and strings carry."""
    if dtype.fields is not None or dtype.subdtype is not None:
        return False
    return dtype.kind in "UO" or (dtype.kind in "biuf" and dtype.itemsize <= 8)


def _check_dtype(dtype, where):
    if not _allowed_dtype(dtype):
        raise Unencodable(where, dtype)


def encode(value, where, objects=None):
    """Tagged JSON for ``value``; ``where`` names it in errors.

    ``objects`` (fitted attributes only: a dict, possibly empty, of the torch module
    classes the estimator allows, by class name) also encodes the allow-listed
    scikit-learn objects and those modules; None encodes plain data only.
    """
    if isinstance(value, np.generic):  # first: np.float64 and np.str_ are also float and str
        _check_dtype(value.dtype, where)
        return {"__scalar__": {"dtype": value.dtype.str, "value": encode(value.item(), where)}}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        _check_dtype(value.dtype, where)
        items = value.ravel().tolist()
        if value.dtype.kind == "O":
            data = []
            for i, item in enumerate(items):
                if isinstance(item, np.generic) and _allowed_dtype(item.dtype) and item.dtype.kind != "O":
                    item = item.item()
                if not (item is None or isinstance(item, (bool, str, int, float))):
                    raise Unencodable(f"{where}[{i}]", item)
                data.append(encode(item, where))
        elif value.dtype.kind == "f":
            data = [v if math.isfinite(v) else {"__float__": repr(v)} for v in items]
        else:
            data = items
        return {"__ndarray__": {"dtype": value.dtype.str, "shape": list(value.shape), "data": data}}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, f"{where}[{i}]", objects) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]", objects) for i, v in enumerate(value)]
    if isinstance(value, slice):
        parts = (value.start, value.stop, value.step)
        if not all(p is None or (isinstance(p, numbers.Integral) and not isinstance(p, bool)) for p in parts):
            raise Unencodable(where, value)
        return {"__slice__": [None if p is None else int(p) for p in parts]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            encoded = {k: encode(v, f"{where}[{k!r}]", objects) for k, v in value.items()}
            return {"__dict__": encoded} if any(is_reserved(k) for k in value) else encoded
        items = []
        for k, v in value.items():
            if not (k is None or isinstance(k, (bool, str, numbers.Integral, float, np.generic))):
                raise Unencodable(f"{where} (a key)", k)
            items.append([encode(k, f"{where} (a key)"), encode(v, f"{where}[{k!r}]", objects)])
        return {"__items__": items}
    if objects is not None:
        if _sklearn_classes().get(type(value).__name__) is type(value):
            return _encode_sklearn(value, where)
        if isinstance(value, torch.nn.Module) and objects.get(type(value).__name__) is type(value):
            return _encode_module(value, where)
    raise Unencodable(where, value)


def _encode_sklearn(obj, where):
    """``{"__sklearn__": {"class", "params", "fitted"}}``: the parameters and the allow-listed fitted arrays."""
    name = type(obj).__name__
    required, optional = SKLEARN_STATE[name]
    state = vars(obj)
    absent = [key for key in required if key not in state]
    if absent:
        raise Unencodable(f"{where}.{absent[0]} (absent: the {name} is not fitted)", obj)
    params = {k: encode(v, f"{where}.{k}") for k, v in obj.get_params(deep=False).items()}
    fitted = {k: encode(state[k], f"{where}.{k}") for k in (*required, *optional) if k in state}
    return {"__sklearn__": {"class": name, "params": params, "fitted": fitted}}


def _encode_module(module, where):
    """``{"__module__": {"class", "state"}}``: the module's state dict as float arrays."""
    state = {}
    for key, tensor in module.state_dict().items():
        if not tensor.is_floating_point() or tensor.dtype not in (torch.float32, torch.float64):
            raise Unencodable(f"{where}.{key}", tensor)
        state[key] = encode(tensor.detach().to("cpu").numpy().copy(), f"{where}.{key}")
    return {"__module__": {"class": type(module).__name__, "state": state}}


def is_reserved(key):
    return key.startswith("__") and key.endswith("__")


class BadFile(ValueError):
    pass


def _numpy_dtype(text, where):
    if not isinstance(text, str) or not _DTYPE.match(text) or not _allowed_dtype(np.dtype(text)):
        raise BadFile(f"{where}: dtype {text!r} is not an allowed numpy dtype (bool, int, uint, float, str, object).")
    return np.dtype(text)


def _plain_item(item, kind, where):
    """Check one decoded array element against its dtype kind."""
    if isinstance(item, dict) and set(item) == {"__float__"} and kind in "fO":
        return decode(item, where)
    ok = {
        "b": lambda v: isinstance(v, bool),
        "i": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "u": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "f": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "U": lambda v: isinstance(v, str),
        "O": lambda v: v is None or isinstance(v, (bool, int, float, str)),
    }[kind]
    if not ok(item):
        raise BadFile(f"{where}: element {item!r:.40} does not fit the array's dtype kind {kind!r}.")
    return item


def decode(obj, where, objects=None):
    """Inverse of :func:`_encode`; refuses anything it does not know (never imports or calls a name).

    ``objects`` (fitted attributes only: the torch module classes the estimator allows,
    by class name) also rebuilds the allow-listed scikit-learn objects and those modules.
    """
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [decode(v, f"{where}[{i}]", objects) for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        raise BadFile(f"{where}: unexpected JSON value of type {type(obj).__name__}.")
    if len(obj) == 1 and next(iter(obj)) in TAGS:
        tag, body = next(iter(obj.items()))
        return _decode_tagged(tag, body, where, objects)
    reserved = [k for k in obj if is_reserved(k)]
    if reserved:
        raise BadFile(f"{where}: unknown tag {reserved[0]!r}; this file was not written by skcausalmm.io.save.")
    return {k: decode(v, f"{where}[{k!r}]", objects) for k, v in obj.items()}


def _decode_tagged(tag, body, where, objects=None):
    if tag in OBJECT_TAGS:
        if tag == "__estimator__" or objects is None:
            raise BadFile(f"{where}: the tag {tag!r} is not allowed here (only as a fitted attribute).")
        return _decode_sklearn(body, where) if tag == "__sklearn__" else _decode_module(body, where, objects)
    if tag == "__float__":
        if body not in ("nan", "inf", "-inf"):
            raise BadFile(f"{where}: bad non-finite float {body!r}.")
        return float(body)
    if tag == "__tuple__":
        if not isinstance(body, list):
            raise BadFile(f"{where}: a tuple must be a JSON list.")
        return tuple(decode(v, f"{where}[{i}]", objects) for i, v in enumerate(body))
    if tag == "__dict__":
        if not isinstance(body, dict):
            raise BadFile(f"{where}: __dict__ must hold a JSON object.")
        return {k: decode(v, f"{where}[{k!r}]", objects) for k, v in body.items()}
    if tag == "__items__":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            raise BadFile(f"{where}: __items__ must be a list of [key, value] pairs.")
        out = {}
        for key, value in body:
            key = decode(key, f"{where} (a key)")
            if not (key is None or isinstance(key, (bool, str, int, float, np.generic))):
                raise BadFile(f"{where}: dict keys must be scalars, got {type(key).__name__}.")
            out[key] = decode(value, f"{where}[{key!r}]", objects)
        return out
    if tag == "__slice__":
        if not (
            isinstance(body, list)
            and len(body) == 3
            and all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in body)
        ):
            raise BadFile(f"{where}: a slice must be [start, stop, step] of ints or null.")
        return slice(*body)
    if tag == "__scalar__":
        if not isinstance(body, dict) or set(body) != {"dtype", "value"}:
            raise BadFile(f"{where}: __scalar__ must hold 'dtype' and 'value'.")
        dtype = _numpy_dtype(body["dtype"], where)
        if dtype.kind == "O":
            raise BadFile(f"{where}: object scalars are not allowed.")
        value = _plain_item(body["value"], dtype.kind, where)
        return np.array(value, dtype=dtype)[()]
    if tag == "__ndarray__":
        if not isinstance(body, dict) or set(body) != {"dtype", "shape", "data"}:
            raise BadFile(f"{where}: __ndarray__ must hold 'dtype', 'shape' and 'data'.")
        dtype = _numpy_dtype(body["dtype"], where)
        shape, data = body["shape"], body["data"]
        if not (
            isinstance(shape, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        ):
            raise BadFile(f"{where}: an array shape must be a list of non-negative ints.")
        if not isinstance(data, list) or len(data) != math.prod(shape):
            raise BadFile(f"{where}: array data must be a flat list of {math.prod(shape)} elements.")
        items = [_plain_item(item, dtype.kind, where) for item in data]
        if dtype.kind == "O":
            array = np.empty(len(items), dtype=object)
            array[:] = items
        else:
            array = np.array(items, dtype=dtype)
        return array.reshape(shape)
    raise BadFile(f"{where}: unknown tag {tag!r}.")  # pragma: no cover - TAGS lists the handled ones


def _float_array(value, ndim, where):
    if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == ndim):
        raise BadFile(f"{where} must be a {ndim}-D float array.")
    if not np.isfinite(value).all():
        raise BadFile(f"{where} holds NaN or infinite values.")
    return value


def _decode_sklearn(body, where):
    """Rebuild an allow-listed scikit-learn object from its parameters and fitted arrays, then try it."""
    if not isinstance(body, dict) or set(body) != {"class", "params", "fitted"}:
        raise BadFile(f"{where}: __sklearn__ must hold 'class', 'params' and 'fitted'.")
    classes = _sklearn_classes()
    name = body["class"]
    if not isinstance(name, str) or name not in classes:
        raise BadFile(
            f"{where}: the scikit-learn class {name!r:.80} is not one of those a model file may hold {sorted(classes)}."
        )
    cls = classes[name]
    params, fitted = body["params"], body["fitted"]
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise BadFile(f"{where}: the params and fitted of a {name} must be JSON objects.")
    params = {k: decode(v, f"{where}.{k}") for k, v in params.items()}
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise BadFile(f"{where}: {name} has no parameter {unknown[0]!r}.")
    obj = cls(**params)
    try:
        obj._validate_params()
    except (ValueError, TypeError) as exc:
        raise BadFile(f"{where}: invalid {name} parameters: {exc}") from None
    required, optional = SKLEARN_STATE[name]
    unknown = sorted(set(fitted) - set(required) - set(optional))
    if unknown:
        raise BadFile(f"{where}: {unknown[0]!r} is not a fitted attribute a {name} is saved with.")
    absent = [k for k in required if k not in fitted]
    if absent:
        raise BadFile(f"{where}: the fitted attribute {absent[0]!r} of the {name} is missing.")
    for key, value in fitted.items():
        setattr(obj, key, decode(value, f"{where}.{key}"))
    _check_sklearn(obj, name, where)
    return obj


def _check_sklearn(obj, name, where):
    """Shapes that fit together, and a finite result on one all-zero sample."""
    n_features = obj.n_features_in_
    if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) or n_features < 1:
        raise BadFile(f"{where}.n_features_in_ must be a positive int.")
    if name == "KMeans":
        centers = _float_array(obj.cluster_centers_, 2, f"{where}.cluster_centers_")
        if centers.shape[1] != n_features or centers.shape[0] < 1:
            raise BadFile(f"{where}.cluster_centers_ does not have n_features_in_={n_features} columns.")
        obj._n_threads = _openmp_effective_n_threads()
    else:
        components = _float_array(obj.components_, 2, f"{where}.components_")
        if components.shape[1] != n_features:
            raise BadFile(f"{where}.components_ does not have n_features_in_={n_features} columns.")
        for key in ("mean_", "explained_variance_", "whitening_", "mixing_"):
            if getattr(obj, key, None) is not None:
                _float_array(getattr(obj, key), 1 if key in ("mean_", "explained_variance_") else 2, f"{where}.{key}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zero = np.zeros((2, n_features))
            out = obj.predict(zero) if name == "KMeans" else obj.transform(zero)
    except Exception as exc:  # anything: the file made an object that cannot be used
        raise BadFile(f"{where}: the rebuilt {name} fails on a test sample: {type(exc).__name__}: {exc}") from None
    if name == "KMeans":
        if not (out.shape == (2,) and 0 <= out.min() and out.max() < obj.cluster_centers_.shape[0]):
            raise BadFile(f"{where}: the rebuilt KMeans predicts labels out of range.")
    elif not (out.shape == (2, obj.components_.shape[0]) and np.isfinite(out).all()):
        raise BadFile(f"{where}: the rebuilt {name} returns a non-finite or misshapen transform.")


def _decode_module(body, where, classes):
    """Rebuild an allowed torch module from its state arrays (strictly: same keys, shapes and dtypes).

    ``classes`` maps the allowed class names to their classes; ``cls.from_state(state)``
    builds an instance shaped for the state (raising ``ValueError`` when it cannot), whose
    weights are then loaded strictly.
    """
    if not isinstance(body, dict) or set(body) != {"class", "state"} or not isinstance(body["state"], dict):
        raise BadFile(f"{where}: __module__ must hold 'class' and a 'state' object.")
    name = body["class"]
    if not isinstance(name, str) or name not in classes:
        raise BadFile(
            f"{where}: the module class {name!r:.80} is not one of those this estimator's model file may hold "
            f"{sorted(classes)}."
        )
    state = {k: decode(v, f"{where}.{k}") for k, v in body["state"].items()}
    with isolated():  # the constructor draws initial weights: leave the global RNG (and fits in threads) alone
        try:
            module = classes[name].from_state(state)
        except (ValueError, TypeError) as exc:
            raise BadFile(f"{where}: {exc}") from None
    expected = module.state_dict()
    if list(state) != list(expected):
        raise BadFile(f"{where}: the {name} state has keys {list(state)}, expected {list(expected)}.")
    tensors = {}
    for key, value in state.items():
        value = _float_array(value, expected[key].dim(), f"{where}.{key}")
        if value.shape != tuple(expected[key].shape) or value.dtype != expected[key].numpy().dtype:
            raise BadFile(f"{where}.{key} does not have the shape and dtype of the {name}'s {key}.")
        tensors[key] = torch.from_numpy(value.copy())
    module.load_state_dict(tensors, strict=True)
    return module
