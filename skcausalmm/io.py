"""Save and load fitted estimators without pickle: parameters as JSON, weights as safetensors.

A pickle (and a skorch or skops file that embeds one) runs code when it is
loaded, so it is only safe from a trusted source. The model file written by
:func:`save` holds data only:

* ``estimator.json``: the format name and version, the package version, the
  estimator's class name, its ``get_params()`` and its fitted attributes (every
  instance attribute ending in ``_`` but ``net_`` and ``history_``), in a
  tagged JSON encoding of numpy arrays and scalars, tuples, slices and dicts;
* ``weights.safetensors``: the state dicts of the network (``module.``), the
  fixed input layer (``standardizer.``) and the loss (``criterion.``);
* ``history.json`` (when it is plain data): the training history.

The three members sit in one zip archive: one file to share, written
atomically, whose members are read by name and never extracted to disk.

:func:`load` rebuilds the estimator from its own class (only the package's
estimators are allowed), sets the fitted attributes, builds the network with
the estimator's ``_make_net`` on the loading machine's device, and loads the
weights strictly (same keys, shapes and dtypes). Nothing is unpickled and no
name in the file is imported.
"""

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

#: Version of the file layout written by :func:`save`.
FORMAT_VERSION = 1

#: Versions :func:`load` reads.
SUPPORTED_FORMAT_VERSIONS = (1,)

_META = "estimator.json"
_WEIGHTS = "weights.safetensors"
_HISTORY = "history.json"
_MEMBERS = (_META, _WEIGHTS, _HISTORY)

#: Largest JSON member read (bytes); a model's JSON is far smaller.
_MAX_JSON_BYTES = 256 * 2**20

#: Network parts saved, as (prefix in the weights file, attribute of the skorch net).
_PARTS = (("module", "module_"), ("standardizer", "standardizer_"), ("criterion", "criterion_"))

#: Fitted attributes that are not saved as JSON (the net is rebuilt; the history has its own member).
_NOT_SAVED = ("net_", "history_")

#: Fitted attributes every estimator on the shared base needs to rebuild its network.
_REQUIRED_FITTED = ("modality_names_", "modality_shapes_", "input_scaling_")

_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")
_DTYPE = re.compile(r"^[<>|=]?[biufUO][0-9]*$")

#: JSON tags of the values plain JSON cannot express.
_TAGS = ("__tuple__", "__ndarray__", "__scalar__", "__float__", "__items__", "__slice__", "__dict__")

_HINTS = {
    "encoders": "pass encoder kinds by name ('mlp', 'cnn', 'rnn'); a torch.nn.Module or a callable is code, "
    "which a model file never stores",
    "callbacks": "skorch callbacks are objects with code; set callbacks=None before saving (they only act in fit)",
    "optimizer": "name the optimiser ('adam', 'adamw' or 'sgd'); an optimiser class is code",
    "random_state": "use an int or None; a RandomState instance is not plain data",
}


# --------------------------------------------------------------------------- allow-list
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


def _encode(value, where):
    """Tagged JSON for ``value``; ``where`` names it in errors."""
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
        return {"__tuple__": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, slice):
        parts = (value.start, value.stop, value.step)
        if not all(p is None or (isinstance(p, numbers.Integral) and not isinstance(p, bool)) for p in parts):
            raise _Unencodable(where, value)
        return {"__slice__": [None if p is None else int(p) for p in parts]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            encoded = {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {"__dict__": encoded} if any(_is_reserved(k) for k in value) else encoded
        items = []
        for k, v in value.items():
            if not (k is None or isinstance(k, (bool, str, numbers.Integral, float, np.generic))):
                raise _Unencodable(f"{where} (a key)", k)
            items.append([_encode(k, f"{where} (a key)"), _encode(v, f"{where}[{k!r}]")])
        return {"__items__": items}
    raise _Unencodable(where, value)


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


def _decode(obj, where):
    """Inverse of :func:`_encode`; refuses anything it does not know (never imports or calls a name)."""
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [_decode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        raise _BadFile(f"{where}: unexpected JSON value of type {type(obj).__name__}.")
    if len(obj) == 1 and next(iter(obj)) in _TAGS:
        tag, body = next(iter(obj.items()))
        return _decode_tagged(tag, body, where)
    reserved = [k for k in obj if _is_reserved(k)]
    if reserved:
        raise _BadFile(f"{where}: unknown tag {reserved[0]!r}; this file was not written by skcausalmm.io.save.")
    return {k: _decode(v, f"{where}[{k!r}]") for k, v in obj.items()}


def _decode_tagged(tag, body, where):
    if tag == "__float__":
        if body not in ("nan", "inf", "-inf"):
            raise _BadFile(f"{where}: bad non-finite float {body!r}.")
        return float(body)
    if tag == "__tuple__":
        if not isinstance(body, list):
            raise _BadFile(f"{where}: a tuple must be a JSON list.")
        return tuple(_decode(v, f"{where}[{i}]") for i, v in enumerate(body))
    if tag == "__dict__":
        if not isinstance(body, dict):
            raise _BadFile(f"{where}: __dict__ must hold a JSON object.")
        return {k: _decode(v, f"{where}[{k!r}]") for k, v in body.items()}
    if tag == "__items__":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            raise _BadFile(f"{where}: __items__ must be a list of [key, value] pairs.")
        out = {}
        for key, value in body:
            key = _decode(key, f"{where} (a key)")
            if not (key is None or isinstance(key, (bool, str, int, float, np.generic))):
                raise _BadFile(f"{where}: dict keys must be scalars, got {type(key).__name__}.")
            out[key] = _decode(value, f"{where}[{key!r}]")
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


def save(estimator, path):
    """Save a fitted skcausalmm estimator to a model file, without pickle.

    The file is a zip archive holding ``estimator.json`` (format version,
    package version, class name, parameters and fitted attributes as JSON),
    ``weights.safetensors`` (the network's, the input layer's and the loss's
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
        optimiser class); the message names it.
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

    fitted = {}
    for key, value in vars(estimator).items():
        if not key.endswith("_") or key.startswith("_") or key in _NOT_SAVED:
            continue
        try:
            fitted[key] = _encode(value, key)
        except _Unencodable as exc:
            raise TypeError(
                f"Cannot save {name}: fitted attribute {key!r} is not JSON-representable ({exc}); skcausalmm.io "
                "saves numpy arrays and scalars, numbers, strings, None, lists, tuples and dicts. Report this: "
                f"{name} needs a dedicated encoding."
            ) from None

    net = estimator.net_
    class_weight = getattr(net.criterion_, "class_weight", None)
    if isinstance(class_weight, torch.Tensor):
        class_weight = _encode(class_weight.detach().to("cpu", torch.float32).numpy(), "class_weight")
    else:
        class_weight = None

    from . import __version__

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skcausalmm_version": __version__,
        "estimator": name,
        "params": params,
        "fitted": fitted,
        "net": {"class_weight": class_weight, "saved_device": str(getattr(estimator, "device_", "cpu"))},
    }
    weights = _save_safetensors(_state_tensors(net), metadata={"format": FORMAT_NAME})

    history = None
    raw_history = getattr(estimator, "history_", None)
    if raw_history is not None:
        try:
            history = json.dumps(_encode(list(raw_history), "history_"), allow_nan=False)
        except _Unencodable as exc:
            warnings.warn(f"{name}.history_ is not plain data ({exc}); the file is saved without it.", UserWarning)

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


def _load_weights(net, raw):
    try:
        tensors = _load_safetensors(raw)
    except (SafetensorError, ValueError, RuntimeError, TypeError, OverflowError) as exc:
        raise ValueError(f"{_WEIGHTS} is not a valid safetensors file: {exc}") from None
    parts = {prefix: {} for prefix, _ in _PARTS}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in parts or not rest:
            raise ValueError(f"{_WEIGHTS}: unexpected tensor {key!r}; keys start with {[p + '.' for p in parts]}.")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"{_WEIGHTS}: tensor {key!r} holds NaN or infinite values.")
        parts[prefix][rest] = value
    for prefix, attribute in _PARTS:
        target = getattr(net, attribute)
        expected = target.state_dict()
        given = parts[prefix]
        missing = [k for k in expected if k not in given]
        if missing:
            raise ValueError(f"{_WEIGHTS} does not match the rebuilt network: {prefix}.{missing[0]} is missing.")
        for key, value in given.items():
            if key in expected:
                if tuple(value.shape) != tuple(expected[key].shape):
                    raise ValueError(
                        f"{_WEIGHTS} does not match the rebuilt network: {prefix}.{key} has shape "
                        f"{tuple(value.shape)}, the network expects {tuple(expected[key].shape)}."
                    )
                if value.dtype != expected[key].dtype:
                    raise ValueError(
                        f"{_WEIGHTS} does not match the rebuilt network: {prefix}.{key} has dtype "
                        f"{value.dtype}, the network expects {expected[key].dtype}."
                    )
        try:
            target.load_state_dict(given, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{_WEIGHTS} does not match the rebuilt network ({prefix}): {exc}") from None
        for key, value in target.state_dict().items():  # e.g. buffers sized from the file
            if key in given and (tuple(value.shape) != tuple(given[key].shape) or value.dtype != given[key].dtype):
                raise ValueError(f"{_WEIGHTS}: {prefix}.{key} could not be loaded as saved.")


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
    if (
        not isinstance(out, torch.Tensor)
        or out.shape[0] != 2
        or (n_outputs is not None and out.shape[1:] != (n_outputs,))
    ):
        raise ValueError(f"The loaded {type(estimator).__name__} returns outputs of the wrong shape on a test batch.")
    if not torch.isfinite(out).all():
        raise ValueError(f"The loaded {type(estimator).__name__} returns non-finite outputs on a test batch.")


def load(path, *, device=None):
    """Load an estimator saved by :func:`save`, without unpickling anything.

    The estimator's class must be one of the package's estimators; the
    parameters and fitted attributes are plain JSON data; the network is
    rebuilt by the estimator itself and its weights are loaded from the
    safetensors member, strictly.

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
        estimators, has an unknown format version, holds invalid parameters
        or attributes, or weights whose keys, shapes or dtypes do not match the
        rebuilt network.

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

    classes = _estimator_classes()
    name = meta.get("estimator")
    if not isinstance(name, str) or name not in classes:
        raise ValueError(
            f"{_META} names the class {name!r:.80}, which is not one of the package's estimators "
            f"{sorted(classes)}; refusing to load it."
        )
    cls = classes[name]

    try:
        params = _decode(meta.get("params"), "params")
        fitted = _decode(meta.get("fitted"), "fitted")
        net_meta = meta.get("net")
        if not isinstance(net_meta, dict):
            raise _BadFile("'net' must be a JSON object.")
        class_weight = _decode(net_meta.get("class_weight"), "net.class_weight")
    except RecursionError:
        raise ValueError(f"{_META} is nested too deeply.") from None
    except _BadFile as exc:
        raise ValueError(f"{_META}: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an int too large for its array's dtype
        raise ValueError(f"{_META} holds a value numpy cannot rebuild: {exc}") from None
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise ValueError(f"{_META}: 'params' and 'fitted' must be JSON objects.")

    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{_META}: {name} has no parameter {unknown[0]!r}.")
    if params.get("callbacks") not in (None, []):
        raise ValueError(f"{_META}: callbacks must be null; a model file holds no callbacks.")
    estimator = cls(**params)
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{_META} holds invalid parameters for {name}: {exc}") from None

    for key in _REQUIRED_FITTED:
        if key not in fitted:
            raise ValueError(f"{_META}: the fitted attribute {key!r} is missing.")
    for key, value in fitted.items():
        if not _ATTRIBUTE_NAME.match(key) or key in _NOT_SAVED or hasattr(cls, key):
            raise ValueError(f"{_META}: {key!r} is not a fitted attribute name {name} can take.")
        setattr(estimator, key, value)
    if not (
        isinstance(estimator.modality_names_, list)
        and isinstance(estimator.modality_shapes_, dict)
        and list(estimator.modality_shapes_) == estimator.modality_names_
    ):
        raise ValueError(f"{_META}: modality_names_ and modality_shapes_ do not agree.")

    if class_weight is not None:
        if not (isinstance(class_weight, np.ndarray) and class_weight.ndim == 1 and class_weight.dtype.kind == "f"):
            raise ValueError(f"{_META}: net.class_weight must be a 1-D float array or null.")
        class_weight = torch.as_tensor(class_weight, dtype=torch.float32)

    estimator.device_ = _loading_device(params.get("device", "auto"), device)
    cuda = estimator.device_.startswith("cuda")
    try:
        # building the network draws initial weights: leave the caller's global RNG as it was
        with torch.random.fork_rng(devices=[torch.device(estimator.device_).index or 0] if cuda else []):
            net = estimator._make_net(class_weight, train_split=None)
            net.initialize()
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        raise ValueError(f"{_META}: the network of {name} cannot be rebuilt from the saved settings: {exc}") from None
    _load_weights(net, members[_WEIGHTS])
    net.module_.eval()
    estimator.net_ = net
    _check_runs(estimator)

    from skorch.history import History

    history = History()
    if _HISTORY in members:
        try:
            decoded = _decode(_parse_json(members[_HISTORY], _HISTORY), "history")
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ValueError(f"{_HISTORY}: {exc}") from None
        if not isinstance(decoded, list) or not all(isinstance(row, dict) for row in decoded):
            raise ValueError(f"{_HISTORY} must be a list of per-epoch objects.")
        history = History(decoded)
    net.history_ = history
    estimator.history_ = history
    return estimator
