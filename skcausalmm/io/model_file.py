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
  ``transform`` / ``predict`` need), the torch modules the estimator's class
  allows (``_fitted_module_classes``: their tensors) and a fitted estimator of
  the package (a nested record whose tensors sit under ``fitted.<attribute>.``
  in the weights);
* ``weights.safetensors``: the state dicts of the network (``module.``), the
  fixed input layer (``standardizer.``), the loss (``criterion.``) and the
  optimiser state's tensors (``optimizer.``);
* ``history.json`` (when it is plain data): the training history.

The three members sit in one zip archive: one file to share, written
atomically, whose members are read by name and never extracted to disk.

:func:`load` rebuilds the estimator from its own class (only the package's
estimators, and those registered with
:func:`skcausalmm.base.register_estimator`, are allowed), sets the fitted
attributes, lets the estimator restore private state from them
(``_restore_fitted_state``), builds the network with the estimator's
``_make_net`` on the loading machine's device, loads the weights strictly
(same keys, shapes and dtypes) and restores the optimiser state. Nothing is
unpickled and no name in the file is imported.

The file layout is :mod:`skcausalmm.io.archive`, its JSON
:mod:`skcausalmm.io.codec`, the net's tensors and optimiser state
:mod:`skcausalmm.io.state`.
"""

import json
import os
import re
import warnings

import numpy as np
import torch
from safetensors.torch import save as _save_safetensors
from sklearn.utils.validation import check_is_fitted

from .._core.base import BaseMultimodalEstimator
from .._core.data import AVAILABILITY_KEY
from .._core.device import resolve_device
from .._core.registry import estimator_class, estimator_name, known_names
from .._core.rng import isolated
from .archive import HISTORY, META, WEIGHTS, ModelFile, write_archive
from .codec import SKLEARN_STATE, BadFile, Unencodable, decode, encode, is_reserved
from .state import (
    FITTED_PREFIX,
    OPTIMIZER_PREFIX,
    group_tensors,
    load_optimizers,
    load_weights,
    optimizer_state,
    state_tensors,
)

__all__ = ["load", "save"]

#: Identifies a skcausalmm model file.
FORMAT_NAME = "skcausalmm.estimator"

#: Version of the file layout written by :func:`save` (2: optimiser state and the dedicated object encodings).
FORMAT_VERSION = 2

#: Versions :func:`load` reads (a version-1 file has no optimiser state: the loaded optimiser starts afresh).
SUPPORTED_FORMAT_VERSIONS = (1, 2)

#: Fitted attributes that are not saved as JSON (the net is rebuilt; the history has its own member).
_NOT_SAVED = ("net_", "history_")

#: Fitted attributes every estimator on the shared base needs to rebuild its network.
_REQUIRED_FITTED = ("modality_names_", "modality_shapes_", "input_scaling_")

#: How deep fitted estimators may nest (ATE-D's first-stage model is one level).
_MAX_DEPTH = 2

_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")

_HINTS = {
    "encoders": "pass encoder kinds by name ('mlp', 'cnn', 'rnn'); a torch.nn.Module or a callable is code, "
    "which a model file never stores",
    "callbacks": "skorch callbacks are objects with code; set callbacks=None before saving (they only act in fit)",
    "optimizer": "name the optimiser ('adam', 'adamw' or 'sgd'); an optimiser class is code",
    "random_state": "use an int or None; a RandomState instance is not plain data",
}


def _module_classes(cls):
    """The torch module classes a fitted attribute of ``cls`` may hold, by class name."""
    return {module.__name__: module for module in getattr(cls, "_fitted_module_classes", ())}


def _record(estimator, depth=0):
    """``(record, tensors, history)`` of a fitted estimator: its JSON (class, parameters, fitted attributes,
    net), its tensors (keys relative to the record) and its encoded history (None when it is not plain data).
    """
    cls = type(estimator)
    name = estimator_name(cls)
    if name is None:
        raise TypeError(
            f"save() writes the package's own estimators and those registered with "
            f"skcausalmm.base.register_estimator ({known_names()}); got {cls.__module__}.{cls.__qualname__}."
        )
    check_is_fitted(estimator, "net_")

    params = {}
    for key, value in estimator.get_params(deep=False).items():
        try:
            params[key] = encode(value, key)
        except Unencodable as exc:
            hint = _HINTS.get(
                key, "only plain data (numbers, strings, None, lists, tuples, dicts, numpy arrays) is saved"
            )
            raise TypeError(
                f"Cannot save {name}: parameter {key!r} is not JSON-representable ({exc}); {hint}."
            ) from None

    fitted, tensors = {}, {}
    modules = _module_classes(cls)
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
            tensors.update({f"{FITTED_PREFIX}.{key}.{k}": v for k, v in nested_tensors.items()})
            continue
        try:
            fitted[key] = encode(value, key, objects=modules)
        except Unencodable as exc:
            raise TypeError(
                f"Cannot save {name}: fitted attribute {key!r} is not JSON-representable ({exc}); skcausalmm.io "
                "saves numpy arrays and scalars, numbers, strings, None, lists, tuples and dicts, fitted "
                f"estimators of the package, the scikit-learn objects {sorted(SKLEARN_STATE)} and the torch "
                f"modules its class names in _fitted_module_classes ({sorted(modules)}). Report this: {name} "
                "needs a dedicated encoding."
            ) from None

    net = estimator.net_
    class_weight = getattr(net.criterion_, "class_weight", None)
    if isinstance(class_weight, torch.Tensor):
        class_weight = encode(class_weight.detach().to("cpu", torch.float32).numpy(), "class_weight")
    else:
        class_weight = None
    optimizers, optimizer_tensors = optimizer_state(net, name)
    tensors.update(state_tensors(net))
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
            history = encode(list(raw_history), "history_")
        except Unencodable as exc:
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

    from .. import __version__

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skcausalmm_version": __version__,
        **record,
    }
    weights = _save_safetensors(tensors, metadata={"format": FORMAT_NAME})
    if history is not None:
        history = json.dumps(history, allow_nan=False)

    return write_archive(path, meta, weights, history)


# --------------------------------------------------------------------------- load

def _loading_device(saved, device):
    """The device to load on: ``device`` if given, else the saved ``device`` parameter where it exists."""
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

def _check_runs(estimator):
    """Run the loaded network on two all-zero samples: state sized by the file (e.g. a dictionary) must fit."""
    names = estimator.modality_names_
    device = estimator.device_
    try:
        batch = {name: torch.zeros((2, *estimator.modality_shapes_[name]), device=device) for name in names}
        # the net hands the mask on to the networks that take one
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


def _build(record, tensors, weights, device, depth=0, where=""):
    """Rebuild one estimator from its record and its tensors (``where``: the path of a nested one).

    ``tensors`` maps the record's tensor names to their :class:`~skcausalmm.io.archive.TensorSpec`;
    ``weights`` reads their bytes once they match the rebuilt network.
    """
    label = META if not where else f"{META} ({where.rstrip('.')})"
    if not isinstance(record, dict):
        raise ValueError(f"{label} must hold a JSON object.")
    name = record.get("estimator")
    cls = estimator_class(name)
    if cls is None:
        raise ValueError(
            f"{label} names the class {name!r:.80}, which is not one of the package's estimators or those "
            f"registered with skcausalmm.base.register_estimator {known_names()}; refusing to load it."
        )
    groups = group_tensors(tensors, where)

    raw_fitted = record.get("fitted")
    nested = {}
    try:
        if not isinstance(raw_fitted, dict):
            raise BadFile("'params' and 'fitted' must be JSON objects.")
        reserved = [k for k in raw_fitted if is_reserved(k)]
        if reserved:
            raise BadFile(f"fitted: unknown tag {reserved[0]!r}; this file was not written by skcausalmm.io.save.")
        nested = {
            k: v["__estimator__"] for k, v in raw_fitted.items() if isinstance(v, dict) and set(v) == {"__estimator__"}
        }
        if nested and depth + 1 > _MAX_DEPTH:
            raise BadFile(f"fitted estimators nest deeper than {_MAX_DEPTH} levels.")
        params = decode(record.get("params"), "params")
        modules = _module_classes(cls)
        fitted = {k: decode(v, f"fitted[{k!r}]", objects=modules) for k, v in raw_fitted.items() if k not in nested}
        net_meta = record.get("net")
        if not isinstance(net_meta, dict):
            raise BadFile("'net' must be a JSON object.")
        class_weight = decode(net_meta.get("class_weight"), "net.class_weight")
        optimizers = decode(net_meta.get("optimizers"), "net.optimizers")
    except RecursionError:
        raise ValueError(f"{label} is nested too deeply.") from None
    except BadFile as exc:
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
    stray = sorted(set(groups[FITTED_PREFIX]) - set(nested))
    if stray:
        raise ValueError(f"{WEIGHTS}: unexpected tensors under {where}{FITTED_PREFIX}.{stray[0]}.")
    for key, body in nested.items():
        child = _build(
            body, groups[FITTED_PREFIX].get(key, {}), weights, estimator.device_, depth + 1, f"{where}fitted.{key}."
        )
        setattr(estimator, key, child)
    try:
        estimator._restore_fitted_state()
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{label}: {exc}") from None

    try:
        # building the network draws initial weights: leave the caller's global RNG (and fits in threads) alone
        with isolated(estimator.device_):
            net = estimator._make_net(class_weight, train_split=None)
            net.initialize()
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        raise ValueError(f"{label}: the network of {name} cannot be rebuilt from the saved settings: {exc}") from None
    load_weights(net, groups, weights, where)
    load_optimizers(net, optimizers, groups[OPTIMIZER_PREFIX], weights, where)
    net.module_.eval()
    estimator.net_ = net
    _check_runs(estimator)

    history = _history([], HISTORY)
    if "history" in record:
        if not where:
            raise ValueError(f"{label}: the top-level history belongs in {HISTORY}.")
        try:
            history = _history(decode(record["history"], f"{where}history"), f"{label}: history")
        except RecursionError:
            raise ValueError(f"{label}: the history is nested too deeply.") from None
        except BadFile as exc:
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
        rebuilt optimiser; or if a member exceeds the size limits of
        :mod:`skcausalmm.io.archive` (checked before it is read: a tensor's
        bytes are read only once its name, shape and dtype match the network).

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
    with ModelFile(path) as archive:
        return _load(archive, device)


def _load(archive, device):
    meta = archive.read_json(META)
    if not isinstance(meta, dict):
        raise ValueError(f"{META} must hold a JSON object.")
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{META}: format {meta.get('format')!r} is not {FORMAT_NAME!r}; not a skcausalmm model file.")
    version = meta.get("format_version")
    if isinstance(version, bool) or version not in SUPPORTED_FORMAT_VERSIONS:
        raise ValueError(
            f"{META}: unknown format version {version!r}; this skcausalmm reads versions "
            f"{list(SUPPORTED_FORMAT_VERSIONS)}. A newer file needs a newer skcausalmm."
        )
    from .. import __version__

    saved_version = meta.get("skcausalmm_version")
    if saved_version != __version__:
        warnings.warn(
            f"The model was saved with skcausalmm {saved_version!r} and is loaded with {__version__!r}; "
            "check its predictions.",
            UserWarning,
        )
    record = {k: v for k, v in meta.items() if k not in ("format", "format_version", "skcausalmm_version")}
    if "history" in record:
        raise ValueError(f"{META}: the top-level history belongs in {HISTORY}.")
    weights = archive.weights()
    estimator = _build(record, weights.specs, weights, device)
    weights.finish()

    if HISTORY in archive:
        try:
            decoded = decode(archive.read_json(HISTORY), "history")
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ValueError(f"{HISTORY}: {exc}") from None
        history = _history(decoded, HISTORY)
        estimator.net_.history_ = history
        estimator.history_ = history
    return estimator
