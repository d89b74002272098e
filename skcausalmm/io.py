"""Save and load fitted estimators without pickle: parameters as JSON, weights as safetensors.

A pickle (and a skorch or skops file that embeds one) runs code when it is
loaded, so it is only safe from a trusted source. The model file written by
:func:`save` holds data only:

* ``estimator.json``: the format name and version, the package version, the
  estimator's class name, its ``get_params()``, its fitted attributes (every
  instance attribute ending in ``_`` but ``net_`` and ``history_``) and the
  structure of the optimiser state, in a tagged JSON encoding of numpy arrays
  and scalars, tuples, slices and dicts. A few non-data fitted attributes have
  a dedicated encoding: the scikit-learn objects of an allow-list (``PCA``,
  ``FastICA``, ``KMeans``: their parameters and the fitted arrays their
  ``transform`` / ``predict`` need), the torch modules of an allow-list (their
  tensors) and a fitted estimator of the package (a nested record whose
  tensors sit under ``fitted.<attribute>.`` in the weights);
* ``weights.safetensors``: the state dicts of the network (``module.``), the
  fixed input layer (``standardizer.``), the loss (``criterion.``) and the
  optimiser state's tensors (``optimizer.``);
* ``history.json`` (when it is plain data): the training history.

The three members sit in one zip archive: one file to share, written
atomically, whose members are read by name and never extracted to disk.

:func:`load` rebuilds the estimator from its own class (only the package's
estimators are allowed), sets the fitted attributes, builds the network with
the estimator's ``_make_net`` on the loading machine's device, loads the
weights strictly (same keys, shapes and dtypes) and restores the optimiser
state. Nothing is unpickled and no name in the file is imported.
"""

import copy
import json
import math
import numbers
import os
import re
import uuid
import warnings
import zipfile

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as _load_safetensors
from safetensors.torch import save as _save_safetensors
from sklearn.utils.validation import check_is_fitted

__all__ = ["load", "save"]

#: Identifies a skcausalmm model file.
FORMAT_NAME = "skcausalmm.estimator"

#: Version of the file layout written by :func:`save` (2: optimiser state and the dedicated object encodings).
FORMAT_VERSION = 2

#: Versions :func:`load` reads (a version-1 file has no optimiser state: the loaded optimiser starts afresh).
SUPPORTED_FORMAT_VERSIONS = (1, 2)

_META = "estimator.json"
_WEIGHTS = "weights.safetensors"
_HISTORY = "history.json"
_MEMBERS = (_META, _WEIGHTS, _HISTORY)

#: Largest JSON member read (bytes); a model's JSON is far smaller.
_MAX_JSON_BYTES = 256 * 2**20

#: Network parts saved, as (prefix in the weights file, attribute of the skorch net).
_PARTS = (("module", "module_"), ("standardizer", "standardizer_"), ("criterion", "criterion_"))

#: Prefix of the optimiser state's tensors, and of the tensors of nested estimators.
_OPTIMIZER_PREFIX = "optimizer"
_FITTED_PREFIX = "fitted"

#: Fitted attributes that are not saved as JSON (the net is rebuilt; the history has its own member).
_NOT_SAVED = ("net_", "history_")

#: Fitted attributes every estimator on the shared base needs to rebuild its network.
_REQUIRED_FITTED = ("modality_names_", "modality_shapes_", "input_scaling_")

#: How deep fitted estimators may nest (ATE-D's first-stage model is one level).
_MAX_DEPTH = 2

_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DTYPE = re.compile(r"^[<>|=]?[biufUO][0-9]*$")

#: JSON tags of the values plain JSON cannot express.
_TAGS = (
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
_OBJECT_TAGS = ("__sklearn__", "__module__", "__estimator__")

_HINTS = {
    "encoders": "pass encoder kinds by name ('mlp', 'cnn', 'rnn'); a torch.nn.Module or a callable is code, "
    "which a model file never stores",
    "callbacks": "skorch callbacks are objects with code; set callbacks=None before saving (they only act in fit)",
    "optimizer": "name the optimiser ('adam', 'adamw' or 'sgd'); an optimiser class is code",
    "random_state": "use an int or None; a RandomState instance is not plain data",
}

#: scikit-learn classes a fitted attribute may hold, with the fitted attributes saved:
#: (required for ``transform`` / ``predict``, optional). Nothing else of the object is kept.
_SKLEARN_STATE = {
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


# --------------------------------------------------------------------------- allow-lists
def _estimator_classes():
    """The package's own estimator classes by name: public names of ``skcausalmm`` on the shared base."""
    import inspect

    import skcausalmm
    from skcausalmm._base import BaseMultimodalEstimator

    classes = {}
    for name in skcausalmm.__all__:
        obj = getattr(skcausalmm, name, None)
        if inspect.isclass(obj) and issubclass(obj, BaseMultimodalEstimator) and not inspect.isabstract(obj):
            classes[obj.__name__] = obj
    return classes


def _sklearn_classes():
    """The scikit-learn classes of :data:`_SKLEARN_STATE`, by name."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA, FastICA

    return {"PCA": PCA, "FastICA": FastICA, "KMeans": KMeans}


def _tied_autoencoder(state):
    from .modules.infomin import TiedLinearAutoencoder

    weight = state.get("weight")
    if not (isinstance(weight, np.ndarray) and weight.ndim == 2 and 1 <= weight.shape[0] <= weight.shape[1]):
        raise _BadFile("a TiedLinearAutoencoder needs a 2-D 'weight' of shape (code_size, in_features).")
    return TiedLinearAutoencoder(weight.shape[1], weight.shape[0])


#: torch modules a fitted attribute may hold: class name -> builder from the decoded state (arrays).
_MODULE_BUILDERS = {"TiedLinearAutoencoder": _tied_autoencoder}


def _module_classes():
    from .modules.infomin import TiedLinearAutoencoder

    return {"TiedLinearAutoencoder": TiedLinearAutoencoder}


def _restore_infomin(estimator):
    """ATE-D: rebuild the private frozen first-stage features that its network is built from."""
    if getattr(estimator, "method", None) != "ate":
        return
    from .modules.infomin import FrozenFeatures, TiedLinearAutoencoder

    biased = estimator.__dict__.get("biased_estimator_")
    names = estimator.__dict__.get("confounder_modalities_")
    if type(biased).__name__ != "LateFusionClassifier" or not hasattr(biased, "net_"):
        raise _BadFile("CausalInfoMinClassifier(method='ate') needs its fitted biased_estimator_.")
    if not isinstance(estimator.__dict__.get("confounder_autoencoder_"), TiedLinearAutoencoder):
        raise _BadFile("CausalInfoMinClassifier(method='ate') needs its confounder_autoencoder_.")
    if not (isinstance(names, list) and names and all(n in estimator.modality_names_ for n in names)):
        raise _BadFile("confounder_modalities_ must be a non-empty list of the fitted modalities.")
    estimator._frozen_features = FrozenFeatures(copy.deepcopy(biased.net_.module_.encoders).cpu(), names)


#: Private state some estimators need rebuilt (from their loaded fitted attributes) before their network is.
_RESTORERS = {"CausalInfoMinClassifier": _restore_infomin}


# --------------------------------------------------------------------------- JSON encoding
class _Unencodable(TypeError):
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
        raise _Unencodable(where, dtype)


def _encode(value, where, objects=False):
    """Tagged JSON for ``value``; ``where`` names it in errors.

    ``objects=True`` (fitted attributes) also encodes the allow-listed
    scikit-learn objects and torch modules.
    """
    if isinstance(value, np.generic):  # first: np.float64 and np.str_ are also float and str
        _check_dtype(value.dtype, where)
        return {"__scalar__": {"dtype": value.dtype.str, "value": _encode(value.item(), where)}}
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
                    raise _Unencodable(f"{where}[{i}]", item)
                data.append(_encode(item, where))
        elif value.dtype.kind == "f":
            data = [v if math.isfinite(v) else {"__float__": repr(v)} for v in items]
        else:
            data = items
        return {"__ndarray__": {"dtype": value.dtype.str, "shape": list(value.shape), "data": data}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]", objects) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]", objects) for i, v in enumerate(value)]
    if isinstance(value, slice):
        parts = (value.start, value.stop, value.step)
        if not all(p is None or (isinstance(p, numbers.Integral) and not isinstance(p, bool)) for p in parts):
            raise _Unencodable(where, value)
        return {"__slice__": [None if p is None else int(p) for p in parts]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            encoded = {k: _encode(v, f"{where}[{k!r}]", objects) for k, v in value.items()}
            return {"__dict__": encoded} if any(_is_reserved(k) for k in value) else encoded
        items = []
        for k, v in value.items():
            if not (k is None or isinstance(k, (bool, str, numbers.Integral, float, np.generic))):
                raise _Unencodable(f"{where} (a key)", k)
            items.append([_encode(k, f"{where} (a key)"), _encode(v, f"{where}[{k!r}]", objects)])
        return {"__items__": items}
    if objects:
        if _sklearn_classes().get(type(value).__name__) is type(value):
            return _encode_sklearn(value, where)
        if isinstance(value, torch.nn.Module) and _module_classes().get(type(value).__name__) is type(value):
            return _encode_module(value, where)
    raise _Unencodable(where, value)


def _encode_sklearn(obj, where):
    """``{"__sklearn__": {"class", "params", "fitted"}}``: the parameters and the allow-listed fitted arrays."""
    name = type(obj).__name__
    required, optional = _SKLEARN_STATE[name]
    state = vars(obj)
    absent = [key for key in required if key not in state]
    if absent:
        raise _Unencodable(f"{where}.{absent[0]} (absent: the {name} is not fitted)", obj)
    params = {k: _encode(v, f"{where}.{k}") for k, v in obj.get_params(deep=False).items()}
    fitted = {k: _encode(state[k], f"{where}.{k}") for k in (*required, *optional) if k in state}
    return {"__sklearn__": {"class": name, "params": params, "fitted": fitted}}


def _encode_module(module, where):
    """``{"__module__": {"class", "state"}}``: the module's state dict as float arrays."""
    state = {}
    for key, tensor in module.state_dict().items():
        if not tensor.is_floating_point() or tensor.dtype not in (torch.float32, torch.float64):
            raise _Unencodable(f"{where}.{key}", tensor)
        state[key] = _encode(tensor.detach().to("cpu").numpy().copy(), f"{where}.{key}")
    return {"__module__": {"class": type(module).__name__, "state": state}}


def _is_reserved(key):
    return key.startswith("__") and key.endswith("__")


class _BadFile(ValueError):
    pass


def _numpy_dtype(text, where):
    if not isinstance(text, str) or not _DTYPE.match(text) or not _allowed_dtype(np.dtype(text)):
        raise _BadFile(f"{where}: dtype {text!r} is not an allowed numpy dtype (bool, int, uint, float, str, object).")
    return np.dtype(text)


def _plain_item(item, kind, where):
    """Check one decoded array element against its dtype kind."""
    if isinstance(item, dict) and set(item) == {"__float__"} and kind in "fO":
        return _decode(item, where)
    ok = {
        "b": lambda v: isinstance(v, bool),
        "i": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "u": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "f": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "U": lambda v: isinstance(v, str),
        "O": lambda v: v is None or isinstance(v, (bool, int, float, str)),
    }[kind]
    if not ok(item):
        raise _BadFile(f"{where}: element {item!r:.40} does not fit the array's dtype kind {kind!r}.")
    return item


def _decode(obj, where, objects=False):
    """Inverse of :func:`_encode`; refuses anything it does not know (never imports or calls a name).

    ``objects=True`` (fitted attributes) also rebuilds the allow-listed
    scikit-learn objects and torch modules.
    """
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [_decode(v, f"{where}[{i}]", objects) for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        raise _BadFile(f"{where}: unexpected JSON value of type {type(obj).__name__}.")
    if len(obj) == 1 and next(iter(obj)) in _TAGS:
        tag, body = next(iter(obj.items()))
        return _decode_tagged(tag, body, where, objects)
    reserved = [k for k in obj if _is_reserved(k)]
    if reserved:
        raise _BadFile(f"{where}: unknown tag {reserved[0]!r}; this file was not written by skcausalmm.io.save.")
    return {k: _decode(v, f"{where}[{k!r}]", objects) for k, v in obj.items()}


def _decode_tagged(tag, body, where, objects=False):
    if tag in _OBJECT_TAGS:
        if tag == "__estimator__" or not objects:
            raise _BadFile(f"{where}: the tag {tag!r} is not allowed here (only as a fitted attribute).")
        return _decode_sklearn(body, where) if tag == "__sklearn__" else _decode_module(body, where)
    if tag == "__float__":
        if body not in ("nan", "inf", "-inf"):
            raise _BadFile(f"{where}: bad non-finite float {body!r}.")
        return float(body)
    if tag == "__tuple__":
        if not isinstance(body, list):
            raise _BadFile(f"{where}: a tuple must be a JSON list.")
        return tuple(_decode(v, f"{where}[{i}]", objects) for i, v in enumerate(body))
    if tag == "__dict__":
        if not isinstance(body, dict):
            raise _BadFile(f"{where}: __dict__ must hold a JSON object.")
        return {k: _decode(v, f"{where}[{k!r}]", objects) for k, v in body.items()}
    if tag == "__items__":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            raise _BadFile(f"{where}: __items__ must be a list of [key, value] pairs.")
        out = {}
        for key, value in body:
            key = _decode(key, f"{where} (a key)")
            if not (key is None or isinstance(key, (bool, str, int, float, np.generic))):
                raise _BadFile(f"{where}: dict keys must be scalars, got {type(key).__name__}.")
            out[key] = _decode(value, f"{where}[{key!r}]", objects)
        return out
    if tag == "__slice__":
        if not (
            isinstance(body, list)
            and len(body) == 3
            and all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in body)
        ):
            raise _BadFile(f"{where}: a slice must be [start, stop, step] of ints or null.")
        return slice(*body)
    if tag == "__scalar__":
        if not isinstance(body, dict) or set(body) != {"dtype", "value"}:
            raise _BadFile(f"{where}: __scalar__ must hold 'dtype' and 'value'.")
        dtype = _numpy_dtype(body["dtype"], where)
        if dtype.kind == "O":
            raise _BadFile(f"{where}: object scalars are not allowed.")
        value = _plain_item(body["value"], dtype.kind, where)
        return np.array(value, dtype=dtype)[()]
    if tag == "__ndarray__":
        if not isinstance(body, dict) or set(body) != {"dtype", "shape", "data"}:
            raise _BadFile(f"{where}: __ndarray__ must hold 'dtype', 'shape' and 'data'.")
        dtype = _numpy_dtype(body["dtype"], where)
        shape, data = body["shape"], body["data"]
        if not (
            isinstance(shape, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        ):
            raise _BadFile(f"{where}: an array shape must be a list of non-negative ints.")
        if not isinstance(data, list) or len(data) != math.prod(shape):
            raise _BadFile(f"{where}: array data must be a flat list of {math.prod(shape)} elements.")
        items = [_plain_item(item, dtype.kind, where) for item in data]
        if dtype.kind == "O":
            array = np.empty(len(items), dtype=object)
            array[:] = items
        else:
            array = np.array(items, dtype=dtype)
        return array.reshape(shape)
    raise _BadFile(f"{where}: unknown tag {tag!r}.")  # pragma: no cover - _TAGS lists the handled ones


def _float_array(value, ndim, where):
    if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == ndim):
        raise _BadFile(f"{where} must be a {ndim}-D float array.")
    if not np.isfinite(value).all():
        raise _BadFile(f"{where} holds NaN or infinite values.")
    return value


def _decode_sklearn(body, where):
    """Rebuild an allow-listed scikit-learn object from its parameters and fitted arrays, then try it."""
    if not isinstance(body, dict) or set(body) != {"class", "params", "fitted"}:
        raise _BadFile(f"{where}: __sklearn__ must hold 'class', 'params' and 'fitted'.")
    classes = _sklearn_classes()
    name = body["class"]
    if not isinstance(name, str) or name not in classes:
        raise _BadFile(
            f"{where}: the scikit-learn class {name!r:.80} is not one of those a model file may hold {sorted(classes)}."
        )
    cls = classes[name]
    params, fitted = body["params"], body["fitted"]
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise _BadFile(f"{where}: the params and fitted of a {name} must be JSON objects.")
    params = {k: _decode(v, f"{where}.{k}") for k, v in params.items()}
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise _BadFile(f"{where}: {name} has no parameter {unknown[0]!r}.")
    obj = cls(**params)
    try:
        obj._validate_params()
    except (ValueError, TypeError) as exc:
        raise _BadFile(f"{where}: invalid {name} parameters: {exc}") from None
    required, optional = _SKLEARN_STATE[name]
    unknown = sorted(set(fitted) - set(required) - set(optional))
    if unknown:
        raise _BadFile(f"{where}: {unknown[0]!r} is not a fitted attribute a {name} is saved with.")
    absent = [k for k in required if k not in fitted]
    if absent:
        raise _BadFile(f"{where}: the fitted attribute {absent[0]!r} of the {name} is missing.")
    for key, value in fitted.items():
        setattr(obj, key, _decode(value, f"{where}.{key}"))
    _check_sklearn(obj, name, where)
    return obj


def _check_sklearn(obj, name, where):
    """Shapes that fit together, and a finite result on one all-zero sample."""
    n_features = obj.n_features_in_
    if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral) or n_features < 1:
        raise _BadFile(f"{where}.n_features_in_ must be a positive int.")
    if name == "KMeans":
        centers = _float_array(obj.cluster_centers_, 2, f"{where}.cluster_centers_")
        if centers.shape[1] != n_features or centers.shape[0] < 1:
            raise _BadFile(f"{where}.cluster_centers_ does not have n_features_in_={n_features} columns.")
        try:
            from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

            obj._n_threads = _openmp_effective_n_threads()
        except ImportError:  # pragma: no cover - a private helper of scikit-learn
            obj._n_threads = 1
    else:
        components = _float_array(obj.components_, 2, f"{where}.components_")
        if components.shape[1] != n_features:
            raise _BadFile(f"{where}.components_ does not have n_features_in_={n_features} columns.")
        for key in ("mean_", "explained_variance_", "whitening_", "mixing_"):
            if getattr(obj, key, None) is not None:
                _float_array(getattr(obj, key), 1 if key in ("mean_", "explained_variance_") else 2, f"{where}.{key}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zero = np.zeros((2, n_features))
            out = obj.predict(zero) if name == "KMeans" else obj.transform(zero)
    except Exception as exc:  # anything: the file made an object that cannot be used
        raise _BadFile(f"{where}: the rebuilt {name} fails on a test sample: {type(exc).__name__}: {exc}") from None
    if name == "KMeans":
        if not (out.shape == (2,) and 0 <= out.min() and out.max() < obj.cluster_centers_.shape[0]):
            raise _BadFile(f"{where}: the rebuilt KMeans predicts labels out of range.")
    elif not (out.shape == (2, obj.components_.shape[0]) and np.isfinite(out).all()):
        raise _BadFile(f"{where}: the rebuilt {name} returns a non-finite or misshapen transform.")


def _decode_module(body, where):
    """Rebuild an allow-listed torch module from its state arrays (strictly: same keys, shapes and dtypes)."""
    if not isinstance(body, dict) or set(body) != {"class", "state"} or not isinstance(body["state"], dict):
        raise _BadFile(f"{where}: __module__ must hold 'class' and a 'state' object.")
    name = body["class"]
    if not isinstance(name, str) or name not in _MODULE_BUILDERS:
        raise _BadFile(
            f"{where}: the module class {name!r:.80} is not one of those a model file may hold "
            f"{sorted(_MODULE_BUILDERS)}."
        )
    state = {k: _decode(v, f"{where}.{k}") for k, v in body["state"].items()}
    with torch.random.fork_rng(devices=[]):  # the constructor draws initial weights: leave the global RNG alone
        module = _MODULE_BUILDERS[name](state)
    expected = module.state_dict()
    if list(state) != list(expected):
        raise _BadFile(f"{where}: the {name} state has keys {list(state)}, expected {list(expected)}.")
    tensors = {}
    for key, value in state.items():
        value = _float_array(value, expected[key].dim(), f"{where}.{key}")
        if value.shape != tuple(expected[key].shape) or value.dtype != expected[key].numpy().dtype:
            raise _BadFile(f"{where}.{key} does not have the shape and dtype of the {name}'s {key}.")
        tensors[key] = torch.from_numpy(value.copy())
    module.load_state_dict(tensors, strict=True)
    return module


# --------------------------------------------------------------------------- save
def _state_tensors(net):
    """Every tensor of the saved network parts, on the CPU, with prefixed keys."""
    tensors = {}
    for prefix, attribute in _PARTS:
        part = getattr(net, attribute, None)
        if part is None:
            continue
        for key, value in part.state_dict().items():
            tensors[f"{prefix}.{key}"] = value.detach().to("cpu").contiguous().clone()
    return tensors


def _optimizer_names(net):
    return [name for name in getattr(net, "_optimizers", None) or ["optimizer"] if hasattr(net, name + "_")]


def _optimizer_state(net, name):
    """The JSON structure and the tensors (keys ``optimizer.<name>.<index>.<key>``) of the net's optimisers.

    Returns ``(None, {})``, with a warning, when a state is not plain data.
    """
    spec, tensors = {}, {}
    try:
        for opt_name in _optimizer_names(net):
            if not _IDENTIFIER.match(opt_name):
                raise _Unencodable("the optimiser's name", opt_name)
            state_dict = getattr(net, opt_name + "_").state_dict()
            plain, tensor_keys = {}, []
            for index, entries in state_dict["state"].items():
                if isinstance(index, bool) or not isinstance(index, int):
                    raise _Unencodable(f"{opt_name} state (a key)", index)
                plain[index] = {}
                for key, value in entries.items():
                    if not (isinstance(key, str) and _IDENTIFIER.match(key)):
                        raise _Unencodable(f"{opt_name} state[{index}] (a key)", key)
                    if isinstance(value, torch.Tensor):
                        if value.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
                            raise _Unencodable(f"{opt_name} state[{index}][{key!r}]", value)
                        full = f"{_OPTIMIZER_PREFIX}.{opt_name}.{index}.{key}"
                        tensors[full] = value.detach().to("cpu").contiguous().clone()
                        tensor_keys.append(f"{opt_name}.{index}.{key}")
                    else:
                        plain[index][key] = value
            spec[opt_name] = {
                "param_groups": _encode(state_dict["param_groups"], f"{opt_name} param_groups"),
                "state": _encode(plain, f"{opt_name} state"),
                "tensors": sorted(tensor_keys),
            }
    except _Unencodable as exc:
        warnings.warn(
            f"{name}: the optimiser state is not plain data ({exc}); the file is saved without it "
            "(a loaded model predicts as saved; its optimiser starts afresh).",
            UserWarning,
        )
        return None, {}
    return spec, tensors


def _record(estimator, depth=0):
    """``(record, tensors, history)`` of a fitted estimator: its JSON (class, parameters, fitted attributes,
    net), its tensors (keys relative to the record) and its encoded history (None when it is not plain data).
    """
    from ._base import BaseMultimodalEstimator

    classes = _estimator_classes()
    cls = type(estimator)
    if classes.get(cls.__name__) is not cls:
        raise TypeError(
            f"save() writes the package's own estimators ({sorted(classes)}); got {cls.__module__}.{cls.__qualname__}."
        )
    check_is_fitted(estimator, "net_")
    name = cls.__name__

    params = {}
    for key, value in estimator.get_params(deep=False).items():
        try:
            params[key] = _encode(value, key)
        except _Unencodable as exc:
            hint = _HINTS.get(
                key, "only plain data (numbers, strings, None, lists, tuples, dicts, numpy arrays) is saved"
            )
            raise TypeError(
                f"Cannot save {name}: parameter {key!r} is not JSON-representable ({exc}); {hint}."
            ) from None

    fitted, tensors = {}, {}
    for key, value in vars(estimator).items():
        if not key.endswith("_") or key.startswith("_") or key in _NOT_SAVED:
            continue
        if isinstance(value, BaseMultimodalEstimator):
            if depth + 1 > _MAX_DEPTH:
                raise TypeError(f"Cannot save {name}: fitted estimators nest deeper than {_MAX_DEPTH} levels.")
            nested, nested_tensors, nested_history = _record(value, depth + 1)
            if nested_history is not None:
                nested["history"] = nested_history
            fitted[key] = {"__estimator__": nested}
            tensors.update({f"{_FITTED_PREFIX}.{key}.{k}": v for k, v in nested_tensors.items()})
            continue
        try:
            fitted[key] = _encode(value, key, objects=True)
        except _Unencodable as exc:
            raise TypeError(
                f"Cannot save {name}: fitted attribute {key!r} is not JSON-representable ({exc}); skcausalmm.io "
                "saves numpy arrays and scalars, numbers, strings, None, lists, tuples and dicts, fitted "
                f"estimators of the package, the scikit-learn objects {sorted(_SKLEARN_STATE)} and the modules "
                f"{sorted(_MODULE_BUILDERS)}. Report this: {name} needs a dedicated encoding."
            ) from None

    net = estimator.net_
    class_weight = getattr(net.criterion_, "class_weight", None)
    if isinstance(class_weight, torch.Tensor):
        class_weight = _encode(class_weight.detach().to("cpu", torch.float32).numpy(), "class_weight")
    else:
        class_weight = None
    optimizers, optimizer_tensors = _optimizer_state(net, name)
    tensors.update(_state_tensors(net))
    tensors.update(optimizer_tensors)

    record = {
        "estimator": name,
        "params": params,
        "fitted": fitted,
        "net": {
            "class_weight": class_weight,
            "saved_device": str(getattr(estimator, "device_", "cpu")),
            "optimizers": optimizers,
        },
    }
    history = None
    raw_history = getattr(estimator, "history_", None)
    if raw_history is not None:
        try:
            history = _encode(list(raw_history), "history_")
        except _Unencodable as exc:
            warnings.warn(f"{name}.history_ is not plain data ({exc}); the file is saved without it.", UserWarning)
    return record, tensors, history


def save(estimator, path):
    """Save a fitted skcausalmm estimator to a model file, without pickle.

    The file is a zip archive holding ``estimator.json`` (format version,
    package version, class name, parameters, fitted attributes and the
    optimiser state's structure as JSON), ``weights.safetensors`` (the
    network's, the input layer's, the loss's and the optimiser state's
    tensors) and, when it is plain data, ``history.json``. See the user guide
    page "Saving and loading models".

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator of the package (one of the classes exported by
        ``skcausalmm`` that train a network).
    path : str or os.PathLike
        Where to write the file (replaced atomically if it exists).

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    TypeError
        If ``estimator`` is not one of the package's estimators, or a
        parameter or fitted attribute is not plain data (e.g. a
        ``torch.nn.Module`` in ``encoders``, skorch ``callbacks``, an
        optimiser class) and has no dedicated encoding; the message names it.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    See Also
    --------
    load : Rebuild the estimator from the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skcausalmm import LateFusionClassifier
    >>> from skcausalmm.io import load, save
    >>> rng = np.random.RandomState(0)
    >>> X = {"a": rng.randn(40, 3), "b": rng.randn(40, 2)}
    >>> y = (X["a"][:, 0] > 0).astype(int)
    >>> clf = LateFusionClassifier(max_epochs=2, hidden_size=8, device="cpu", random_state=0).fit(X, y)
    >>> path = save(clf, os.path.join(tempfile.mkdtemp(), "model.zip"))
    >>> bool(np.allclose(load(path).predict_proba(X), clf.predict_proba(X), atol=1e-6))
    True
    """
    record, tensors, history = _record(estimator)

    from . import __version__

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skcausalmm_version": __version__,
        **record,
    }
    weights = _save_safetensors(tensors, metadata={"format": FORMAT_NAME})
    if history is not None:
        history = json.dumps(history, allow_nan=False)

    path = os.fspath(path)
    # a temporary file beside the target, then an atomic rename (open(..., "xb") keeps the umask's permissions)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as handle, zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(
                _META, json.dumps(meta, separators=(",", ":"), allow_nan=False), compress_type=zipfile.ZIP_DEFLATED
            )
            archive.writestr(_WEIGHTS, weights, compress_type=zipfile.ZIP_STORED)
            if history is not None:
                archive.writestr(_HISTORY, history, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# --------------------------------------------------------------------------- load
def _read_members(path):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path!r} is not a skcausalmm model file (not a zip archive written by save): {exc}"
        ) from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{path!r}: member {duplicated[0]!r} appears twice; the file was tampered with.")
        unknown = [n for n in names if n not in _MEMBERS]
        if unknown:
            raise ValueError(
                f"{path!r}: unexpected member {unknown[0]!r}; a skcausalmm model file holds only {list(_MEMBERS)}."
            )
        for required in (_META, _WEIGHTS):
            if required not in names:
                raise ValueError(f"{path!r}: the member {required!r} is missing; this is not a complete model file.")
        members = {}
        for info in infos:
            if info.filename != _WEIGHTS and info.file_size > _MAX_JSON_BYTES:
                raise ValueError(f"{path!r}: {info.filename!r} is implausibly large ({info.file_size} bytes).")
            try:
                members[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"{path!r}: cannot read {info.filename!r}: {exc}") from None
    return members


def _parse_json(raw, member):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also ints too long to parse
        raise ValueError(f"{member} is not valid UTF-8 JSON: {exc}") from None


def _loading_device(saved, device):
    """The device to load on: ``device`` if given, else the saved ``device`` parameter where it exists."""
    from ._base import resolve_device

    if device is not None:
        return resolve_device(device)
    try:
        return resolve_device(saved if isinstance(saved, str) else "auto")
    except ValueError:
        warnings.warn(
            f"The model was saved with device={saved!r}, which this machine does not have; it is loaded on the CPU "
            "(pass device=... to load to choose).",
            UserWarning,
        )
        return "cpu"


def _group_tensors(tensors, where):
    """Sort the tensors of one record by prefix: the network parts, the optimiser, the nested estimators."""
    groups = {prefix: {} for prefix, _ in _PARTS}
    groups[_OPTIMIZER_PREFIX] = {}
    groups[_FITTED_PREFIX] = {}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in groups or not rest:
            raise ValueError(
                f"{_WEIGHTS}: unexpected tensor {where + key!r}; keys start with {[p + '.' for p in groups]}."
            )
        if prefix == _FITTED_PREFIX:
            attribute, _, rest = rest.partition(".")
            if not rest:
                raise ValueError(f"{_WEIGHTS}: unexpected tensor {where + key!r}.")
            groups[prefix].setdefault(attribute, {})[rest] = value
        else:
            groups[prefix][rest] = value
    return groups


def _read_weights(raw):
    try:
        tensors = _load_safetensors(raw)
    except (SafetensorError, ValueError, RuntimeError, TypeError, OverflowError) as exc:
        raise ValueError(f"{_WEIGHTS} is not a valid safetensors file: {exc}") from None
    for key, value in tensors.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"{_WEIGHTS}: tensor {key!r} holds NaN or infinite values.")
    return tensors


def _load_weights(net, groups, where=""):
    for prefix, attribute in _PARTS:
        target = getattr(net, attribute)
        expected = target.state_dict()
        given = groups[prefix]
        missing = [k for k in expected if k not in given]
        if missing:
            raise ValueError(f"{_WEIGHTS} does not match the rebuilt network: {where}{prefix}.{missing[0]} is missing.")
        for key, value in given.items():
            if key in expected:
                if tuple(value.shape) != tuple(expected[key].shape):
                    raise ValueError(
                        f"{_WEIGHTS} does not match the rebuilt network: {where}{prefix}.{key} has shape "
                        f"{tuple(value.shape)}, the network expects {tuple(expected[key].shape)}."
                    )
                if value.dtype != expected[key].dtype:
                    raise ValueError(
                        f"{_WEIGHTS} does not match the rebuilt network: {where}{prefix}.{key} has dtype "
                        f"{value.dtype}, the network expects {expected[key].dtype}."
                    )
        try:
            target.load_state_dict(given, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{_WEIGHTS} does not match the rebuilt network ({where}{prefix}): {exc}") from None
        for key, value in target.state_dict().items():  # e.g. buffers sized from the file
            if key in given and (tuple(value.shape) != tuple(given[key].shape) or value.dtype != given[key].dtype):
                raise ValueError(f"{_WEIGHTS}: {where}{prefix}.{key} could not be loaded as saved.")


def _same_kind(saved, current):
    """Whether a saved optimiser setting has the kind of the fresh optimiser's value."""
    if current is None or isinstance(current, bool):
        return saved is None or isinstance(saved, bool)
    if isinstance(current, numbers.Real):
        return isinstance(saved, numbers.Real) and not isinstance(saved, bool) and math.isfinite(saved)
    if isinstance(current, (tuple, list)):
        return (
            isinstance(saved, (tuple, list))
            and len(saved) == len(current)
            and all(_same_kind(a, b) for a, b in zip(saved, current))
        )
    if isinstance(current, str):
        return isinstance(saved, str)
    return False


def _optimizer_state_dict(optimizer, opt_name, body, tensors, where):
    """Check one saved optimiser state against the rebuilt optimiser and return it as a state dict."""
    bad = f"{_META}: {where}net.optimizers[{opt_name!r}]"
    current = optimizer.state_dict()["param_groups"]
    groups = body["param_groups"]
    if not (isinstance(groups, list) and len(groups) == len(current) and all(isinstance(g, dict) for g in groups)):
        raise ValueError(f"{bad}: param_groups must be a list of {len(current)} objects.")
    ids, params = [], []
    for group, fresh, live in zip(groups, current, optimizer.param_groups):
        indices = group.get("params")
        if not (
            isinstance(indices, list)
            and len(indices) == len(fresh["params"])
            and all(isinstance(i, int) and not isinstance(i, bool) for i in indices)
        ):
            raise ValueError(f"{bad}: each param group's 'params' must list {len(fresh['params'])} indices.")
        for key, value in group.items():
            if key == "params":
                continue
            if key not in fresh and key != "initial_lr":
                raise ValueError(f"{bad}: unknown optimiser setting {key!r}.")
            if not _same_kind(value, fresh.get(key, 0.0)):
                raise ValueError(f"{bad}: the setting {key!r} has the wrong kind of value ({value!r:.40}).")
        ids.extend(indices)
        params.extend(live["params"])
    if len(set(ids)) != len(ids):
        raise ValueError(f"{bad}: a parameter index appears twice in param_groups.")
    shapes = {i: tuple(p.shape) for i, p in zip(ids, params)}
    state = body["state"]
    if not isinstance(state, dict) or not all(
        isinstance(i, int) and i in shapes and isinstance(entries, dict) for i, entries in state.items()
    ):
        raise ValueError(f"{bad}: state must map parameter indices of param_groups to objects.")
    state = {i: dict(entries) for i, entries in state.items()}
    for key, value in tensors.items():
        index, _, entry = key.partition(".")
        if not (index.isdigit() and int(index) in state and _IDENTIFIER.match(entry)):
            raise ValueError(f"{_WEIGHTS}: optimiser tensor {where}optimizer.{opt_name}.{key!r} is not in the state.")
        index = int(index)
        if value.dim() > 0 and tuple(value.shape) != shapes[index]:
            raise ValueError(
                f"{_WEIGHTS}: optimiser tensor {where}optimizer.{opt_name}.{key} has shape {tuple(value.shape)}, "
                f"its parameter has {shapes[index]}."
            )
        state[index][entry] = value
    return {"state": state, "param_groups": groups}


def _load_optimizers(net, spec, tensors, where=""):
    """Restore the optimiser state saved with the net (a version-1 file has none: the optimiser stays fresh)."""
    if spec is None:
        if tensors:
            raise ValueError(
                f"{_WEIGHTS}: unexpected tensor {where}optimizer.{next(iter(tensors))!r}; the JSON describes no "
                "optimiser state."
            )
        return
    names = _optimizer_names(net)
    if not isinstance(spec, dict) or not all(k in names for k in spec):
        raise ValueError(f"{_META}: {where}net.optimizers must map the net's optimisers {names} to their state.")
    per_optimizer = {name: {} for name in spec}
    for key, value in tensors.items():
        opt_name, _, rest = key.partition(".")
        if opt_name not in per_optimizer:
            raise ValueError(f"{_WEIGHTS}: unexpected tensor {where}optimizer.{key!r}.")
        per_optimizer[opt_name][rest] = value
    for opt_name, body in spec.items():
        if not isinstance(body, dict) or set(body) != {"param_groups", "state", "tensors"}:
            raise ValueError(f"{_META}: {where}net.optimizers[{opt_name!r}] must hold param_groups, state, tensors.")
        listed = body["tensors"]
        if not (isinstance(listed, list) and all(isinstance(k, str) for k in listed)):
            raise ValueError(f"{_META}: {where}net.optimizers[{opt_name!r}].tensors must list tensor names.")
        given = sorted(f"{opt_name}.{k}" for k in per_optimizer[opt_name])
        if sorted(listed) != given:
            lost = sorted(set(listed) - set(given)) or sorted(set(given) - set(listed))
            raise ValueError(f"{_WEIGHTS}: the optimiser tensors do not match the JSON (e.g. optimizer.{lost[0]}).")
        optimizer = getattr(net, opt_name + "_")
        state_dict = _optimizer_state_dict(optimizer, opt_name, body, per_optimizer[opt_name], where)
        try:
            optimizer.load_state_dict(state_dict)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"{_META}: {where}the optimiser state of {opt_name!r} cannot be loaded: {exc}") from None


def _check_runs(estimator):
    """Run the loaded network on two all-zero samples: state sized by the file (e.g. a dictionary) must fit."""
    from ._training import AVAILABILITY_KEY

    names = estimator.modality_names_
    device = estimator.device_
    try:
        batch = {name: torch.zeros((2, *estimator.modality_shapes_[name]), device=device) for name in names}
        if estimator._supports_missing:
            batch[AVAILABILITY_KEY] = torch.ones((2, len(names)), device=device)
        module = estimator.net_.module_
        with torch.no_grad():
            modalities, mask = estimator.net_.prepare_batch(batch)
            if hasattr(estimator, "_predict_batch"):
                out = estimator._predict_batch(module, modalities, mask, **estimator._predict_params())
                n_outputs = len(estimator.classes_)
            else:
                out = estimator._transform_batch(module, modalities, mask)
                n_outputs = None
    except Exception as exc:  # anything: the file made a network that cannot predict
        raise ValueError(
            f"The loaded {type(estimator).__name__} fails on a test batch: {type(exc).__name__}: {exc}"
        ) from None
    outs = list(out.values()) if isinstance(out, dict) and out else [out]  # a transformer may return per-modality
    for part in outs:
        if (
            not isinstance(part, torch.Tensor)
            or part.dim() < 1
            or part.shape[0] != 2
            or (n_outputs is not None and part.shape[1:] != (n_outputs,))
        ):
            raise ValueError(
                f"The loaded {type(estimator).__name__} returns outputs of the wrong shape on a test batch."
            )
        if not torch.isfinite(part).all():
            raise ValueError(f"The loaded {type(estimator).__name__} returns non-finite outputs on a test batch.")


def _history(decoded, member):
    from skorch.history import History

    if not isinstance(decoded, list) or not all(isinstance(row, dict) for row in decoded):
        raise ValueError(f"{member} must be a list of per-epoch objects.")
    return History(decoded)


def _build(record, tensors, device, depth=0, where=""):
    """Rebuild one estimator from its record and its tensors (``where``: the path of a nested one)."""
    label = _META if not where else f"{_META} ({where.rstrip('.')})"
    if not isinstance(record, dict):
        raise ValueError(f"{label} must hold a JSON object.")
    classes = _estimator_classes()
    name = record.get("estimator")
    if not isinstance(name, str) or name not in classes:
        raise ValueError(
            f"{label} names the class {name!r:.80}, which is not one of the package's estimators "
            f"{sorted(classes)}; refusing to load it."
        )
    cls = classes[name]
    groups = _group_tensors(tensors, where)

    raw_fitted = record.get("fitted")
    nested = {}
    try:
        if not isinstance(raw_fitted, dict):
            raise _BadFile("'params' and 'fitted' must be JSON objects.")
        reserved = [k for k in raw_fitted if _is_reserved(k)]
        if reserved:
            raise _BadFile(f"fitted: unknown tag {reserved[0]!r}; this file was not written by skcausalmm.io.save.")
        nested = {
            k: v["__estimator__"] for k, v in raw_fitted.items() if isinstance(v, dict) and set(v) == {"__estimator__"}
        }
        if nested and depth + 1 > _MAX_DEPTH:
            raise _BadFile(f"fitted estimators nest deeper than {_MAX_DEPTH} levels.")
        params = _decode(record.get("params"), "params")
        fitted = {k: _decode(v, f"fitted[{k!r}]", objects=True) for k, v in raw_fitted.items() if k not in nested}
        net_meta = record.get("net")
        if not isinstance(net_meta, dict):
            raise _BadFile("'net' must be a JSON object.")
        class_weight = _decode(net_meta.get("class_weight"), "net.class_weight")
        optimizers = _decode(net_meta.get("optimizers"), "net.optimizers")
    except RecursionError:
        raise ValueError(f"{label} is nested too deeply.") from None
    except _BadFile as exc:
        raise ValueError(f"{label}: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an int too large for its array's dtype
        raise ValueError(f"{label} holds a value numpy cannot rebuild: {exc}") from None
    if not isinstance(params, dict):
        raise ValueError(f"{label}: 'params' and 'fitted' must be JSON objects.")

    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{label}: {name} has no parameter {unknown[0]!r}.")
    if params.get("callbacks") not in (None, []):
        raise ValueError(f"{label}: callbacks must be null; a model file holds no callbacks.")
    estimator = cls(**params)
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{label} holds invalid parameters for {name}: {exc}") from None

    for key in _REQUIRED_FITTED:
        if key not in fitted:
            raise ValueError(f"{label}: the fitted attribute {key!r} is missing.")
    for key in raw_fitted:
        if not _ATTRIBUTE_NAME.match(key) or key in _NOT_SAVED or hasattr(cls, key):
            raise ValueError(f"{label}: {key!r} is not a fitted attribute name {name} can take.")
    for key, value in fitted.items():
        setattr(estimator, key, value)
    if not (
        isinstance(estimator.modality_names_, list)
        and isinstance(estimator.modality_shapes_, dict)
        and list(estimator.modality_shapes_) == estimator.modality_names_
    ):
        raise ValueError(f"{label}: modality_names_ and modality_shapes_ do not agree.")

    if class_weight is not None:
        if not (isinstance(class_weight, np.ndarray) and class_weight.ndim == 1 and class_weight.dtype.kind == "f"):
            raise ValueError(f"{label}: net.class_weight must be a 1-D float array or null.")
        class_weight = torch.as_tensor(class_weight, dtype=torch.float32)

    estimator.device_ = _loading_device(params.get("device", "auto"), device)
    stray = sorted(set(groups[_FITTED_PREFIX]) - set(nested))
    if stray:
        raise ValueError(f"{_WEIGHTS}: unexpected tensors under {where}{_FITTED_PREFIX}.{stray[0]}.")
    for key, body in nested.items():
        child = _build(body, groups[_FITTED_PREFIX].get(key, {}), estimator.device_, depth + 1, f"{where}fitted.{key}.")
        setattr(estimator, key, child)
    restore = _RESTORERS.get(name)
    if restore is not None:
        try:
            restore(estimator)
        except _BadFile as exc:
            raise ValueError(f"{label}: {exc}") from None

    cuda = estimator.device_.startswith("cuda")
    try:
        # building the network draws initial weights: leave the caller's global RNG as it was
        with torch.random.fork_rng(devices=[torch.device(estimator.device_).index or 0] if cuda else []):
            net = estimator._make_net(class_weight, train_split=None)
            net.initialize()
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        raise ValueError(f"{label}: the network of {name} cannot be rebuilt from the saved settings: {exc}") from None
    _load_weights(net, groups, where)
    _load_optimizers(net, optimizers, groups[_OPTIMIZER_PREFIX], where)
    net.module_.eval()
    estimator.net_ = net
    _check_runs(estimator)

    history = _history([], _HISTORY)
    if "history" in record:
        if not where:
            raise ValueError(f"{label}: the top-level history belongs in {_HISTORY}.")
        try:
            history = _history(_decode(record["history"], f"{where}history"), f"{label}: history")
        except _BadFile as exc:
            raise ValueError(f"{label}: {exc}") from None
    net.history_ = history
    estimator.history_ = history
    return estimator


def load(path, *, device=None):
    """Load an estimator saved by :func:`save`, without unpickling anything.

    The estimator's class must be one of the package's estimators; the
    parameters and fitted attributes are plain JSON data (or the dedicated
    encodings of the allow-listed scikit-learn objects, torch modules and
    nested package estimators); the network is rebuilt by the estimator
    itself, its weights are loaded from the safetensors member, strictly, and
    its optimiser state is restored (a version-1 file has none: the
    optimiser starts afresh).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str or None, default=None
        Device to load the network on (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"auto"``); sets ``device_``, not the ``device`` parameter. None
        resolves the saved ``device`` parameter on this machine and falls back
        to the CPU, with a warning, when it names a device this machine lacks
        (a model trained on a GPU loads on a CPU-only machine).

    Returns
    -------
    estimator : estimator instance
        The fitted estimator; it predicts as the saved one did.

    Raises
    ------
    ValueError
        If the file is not a model file, names a class outside the package's
        estimators (or outside the allow-listed scikit-learn objects and torch
        modules), has an unknown format version, holds invalid parameters or
        attributes, weights whose keys, shapes or dtypes do not match the
        rebuilt network, or an optimiser state that does not match the
        rebuilt optimiser.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skcausalmm import MLAClassifier
    >>> from skcausalmm.io import load, save
    >>> rng = np.random.RandomState(0)
    >>> X = {"a": rng.randn(40, 3), "b": rng.randn(40, 2)}
    >>> y = np.where(X["b"][:, 0] > 0, "yes", "no")
    >>> clf = MLAClassifier(max_epochs=1, hidden_size=8, random_state=0).fit(X, y)
    >>> loaded = load(save(clf, os.path.join(tempfile.mkdtemp(), "mla.zip")), device="cpu")
    >>> type(loaded).__name__, loaded.classes_.tolist(), loaded.device_
    ('MLAClassifier', ['no', 'yes'], 'cpu')
    """
    path = os.fspath(path)
    members = _read_members(path)
    meta = _parse_json(members[_META], _META)
    if not isinstance(meta, dict):
        raise ValueError(f"{_META} must hold a JSON object.")
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{_META}: format {meta.get('format')!r} is not {FORMAT_NAME!r}; not a skcausalmm model file.")
    version = meta.get("format_version")
    if isinstance(version, bool) or version not in SUPPORTED_FORMAT_VERSIONS:
        raise ValueError(
            f"{_META}: unknown format version {version!r}; this skcausalmm reads versions "
            f"{list(SUPPORTED_FORMAT_VERSIONS)}. A newer file needs a newer skcausalmm."
        )
    from . import __version__

    saved_version = meta.get("skcausalmm_version")
    if saved_version != __version__:
        warnings.warn(
            f"The model was saved with skcausalmm {saved_version!r} and is loaded with {__version__!r}; "
            "check its predictions.",
            UserWarning,
        )
    record = {k: v for k, v in meta.items() if k not in ("format", "format_version", "skcausalmm_version")}
    if "history" in record:
        raise ValueError(f"{_META}: the top-level history belongs in {_HISTORY}.")
    estimator = _build(record, _read_weights(members[_WEIGHTS]), device)

    if _HISTORY in members:
        try:
            decoded = _decode(_parse_json(members[_HISTORY], _HISTORY), "history")
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ValueError(f"{_HISTORY}: {exc}") from None
        history = _history(decoded, _HISTORY)
        estimator.net_.history_ = history
        estimator.history_ = history
    return estimator
