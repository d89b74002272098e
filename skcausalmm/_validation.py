"""Multimodal input containers and validation.

Every estimator of the package receives its modalities through
:func:`check_modalities`, which turns any supported input (a dict of arrays,
a :class:`ModalityDict`, a 2-D array or a pandas DataFrame with a column
selector per modality) into a dict of C-contiguous ``float32`` arrays that
share their first dimension, and raises a clear ``ValueError`` or
``TypeError`` that names the modality and the problem otherwise.
"""

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from skorch.helper import SliceDict
from sklearn.utils.validation import validate_data

__all__ = ["ModalityDict", "check_modalities"]

#: Name of the single modality when a plain 2-D array is given without ``modalities``.
DEFAULT_MODALITY = "X"


class ModalityDict(SliceDict):
    """A dict of modality arrays that scikit-learn can index by sample.

    scikit-learn's model selection tools (``GridSearchCV``,
    ``cross_val_score``, ``train_test_split``) index their input by sample,
    which a plain ``dict`` does not support. ``ModalityDict`` keeps the
    modalities as a mapping ``{name: array}`` and slices every array at once
    when it is indexed with a slice, an index array or a boolean mask. It is a
    subclass of skorch's :class:`skorch.helper.SliceDict`, so either can be
    passed to the estimators of this package.

    Parameters
    ----------
    data : mapping of str to array-like, default=None
        The modalities. Arrays (numpy arrays, torch tensors, pandas
        DataFrames) must share their first dimension.
    **modalities : array-like
        Further modalities given as keyword arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm import ModalityDict
    >>> X = ModalityDict({"image": np.zeros((4, 1, 8, 8)), "tabular": np.ones((4, 3))})
    >>> len(X), X.shape
    (4, (4,))
    >>> X[[0, 2]]["tabular"].shape
    (2, 3)
    """

    def __init__(self, data=None, /, **modalities):
        items = dict(data or {})
        items.update(modalities)
        for name, value in items.items():
            if not isinstance(name, str):
                raise TypeError(f"Modality names must be strings, got {name!r}.")
            if not hasattr(value, "shape"):
                items[name] = np.asarray(value)
        lengths = {name: _first_dim(name, value) for name, value in items.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "All modalities must have the same number of samples; got "
                + ", ".join(f"{k}={v}" for k, v in lengths.items())
                + "."
            )
        super().__init__(**items)

    def __repr__(self):
        parts = ", ".join(
            f"{name}: {tuple(value.shape)}" for name, value in self.items()
        )
        return f"ModalityDict({{{parts}}})"

    def __eq__(self, other):
        return SliceDict.__eq__(self, other)

    __hash__ = None


def _first_dim(name, value):
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) == 0:
        raise ValueError(f"Modality {name!r} must be an array with a sample axis.")
    return shape[0]


def _to_numpy(name, value):
    """Convert one modality to a numpy array (no copy when possible)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "to_numpy"):  # pandas
        return value.to_numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"Modality {name!r} could not be converted to an array: {exc}"
        ) from exc


def _check_one(name, array):
    """Check one modality array and return it as float32."""
    if array.dtype.kind in "OUSV":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Modality {name!r} must be numeric, got dtype {array.dtype} "
                f"that cannot be converted to float ({exc})."
            ) from exc
    elif array.dtype.kind == "c":
        raise TypeError(f"Modality {name!r} has complex dtype {array.dtype}; use real data.")
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"Modality {name!r} must be numeric, got dtype {array.dtype}.")
    if array.ndim < 2:
        raise ValueError(
            f"Modality {name!r} is {array.ndim}-D with shape {array.shape}; expected "
            "2-D (n_samples, n_features) for tabular data, 3-D (n, H, W) or "
            "(n, T, D), or 4-D (n, C, H, W). Reshape a single feature with "
            "reshape(-1, 1)."
        )
    if array.ndim > 4:
        raise ValueError(
            f"Modality {name!r} has {array.ndim} dimensions (shape {array.shape}); "
            "at most 4 (n, C, H, W) are supported."
        )
    if array.shape[0] == 0:
        raise ValueError(f"Modality {name!r} is empty: it has 0 samples.")
    if any(s == 0 for s in array.shape[1:]):
        raise ValueError(f"Modality {name!r} has an empty feature axis: shape {array.shape}.")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        if np.isnan(array).any():
            raise ValueError(
                f"Modality {name!r} contains NaN. This estimator does not handle "
                "missing values or missing modalities; impute or drop those samples."
            )
        raise ValueError(
            f"Modality {name!r} contains infinity or a value too large for float32."
        )
    return array


def _resolve_selector(name, selector, columns, n_columns):
    """Turn a column selector into an integer index array."""
    if isinstance(selector, slice):
        return np.arange(n_columns)[selector]
    sel = np.asarray(selector)
    if sel.ndim == 0:
        sel = sel.reshape(1)
    if sel.dtype.kind == "b":
        if sel.shape[0] != n_columns:
            raise ValueError(
                f"Boolean column selector of modality {name!r} has length "
                f"{sel.shape[0]}, X has {n_columns} columns."
            )
        return np.flatnonzero(sel)
    if sel.dtype.kind in "iu":
        if sel.size and (sel.min() < -n_columns or sel.max() >= n_columns):
            raise ValueError(
                f"Column selector of modality {name!r} is out of range for X with "
                f"{n_columns} columns."
            )
        return sel % n_columns
    if columns is None:
        raise ValueError(
            f"Modality {name!r} selects columns by name ({list(sel[:3])}...), "
            "which needs a pandas DataFrame; X has no column names."
        )
    index = columns.get_indexer(sel)
    if (index < 0).any():
        missing = [str(c) for c, i in zip(sel, index) if i < 0]
        raise ValueError(f"Modality {name!r} selects unknown columns: {missing}.")
    return index


def _split_table(estimator, X, modalities, image_shapes, reset):
    """Validate a 2-D array or DataFrame and split it into modalities."""
    columns = getattr(X, "columns", None)
    table = validate_data(
        estimator, X, reset=reset, dtype=np.float64, ensure_all_finite=False
    )
    if modalities is None:
        return {DEFAULT_MODALITY: table}
    if not isinstance(modalities, Mapping) or not modalities:
        raise TypeError(
            "`modalities` must be a non-empty dict mapping modality names to "
            f"column selectors, got {modalities!r}."
        )
    out = {}
    for name, selector in modalities.items():
        index = _resolve_selector(name, selector, columns, table.shape[1])
        if index.size == 0:
            raise ValueError(f"The column selector of modality {name!r} selects no column.")
        out[name] = table[:, index]
    for name, shape in (image_shapes or {}).items():
        if name not in out:
            raise ValueError(
                f"`image_shapes` names {name!r}, which is not one of the modalities "
                f"{sorted(out)}."
            )
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != out[name].shape[1]:
            raise ValueError(
                f"Modality {name!r} has {out[name].shape[1]} columns, which cannot "
                f"be reshaped to the image shape {shape}."
            )
        out[name] = out[name].reshape((-1,) + shape)
    return out


def check_modalities(X, *, estimator=None, modalities=None, image_shapes=None, reset=True):
    """Validate multimodal input and return a dict of float32 arrays.

    Parameters
    ----------
    X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
        The input. A mapping gives one array per modality. A 2-D array or a
        DataFrame is split into modalities by ``modalities``; without it, it
        is a single tabular modality named ``"X"``.
    estimator : estimator instance, default=None
        The estimator whose ``n_features_in_`` and ``feature_names_in_`` are
        set (``reset=True``) or checked (``reset=False``) on the table path,
        and whose ``modality_shapes_`` is checked when ``reset=False``.
    modalities : dict of str to selector, default=None
        For table input: a column selector (slice, integer indices, boolean
        mask or column names) per modality.
    image_shapes : dict of str to tuple, default=None
        For table input: the per-sample shape, e.g. ``(1, 16, 15)``, to
        reshape a modality's columns into.
    reset : bool, default=True
        Whether this is a call from ``fit`` (True) or from a prediction
        method (False, the modalities must match those seen in ``fit``).

    Returns
    -------
    data : dict of str to ndarray
        One C-contiguous float32 array per modality, all with the same first
        dimension.
    """
    if isinstance(X, Mapping) and not sp.issparse(X):
        if modalities is not None:
            raise ValueError(
                "`modalities` selects columns of a 2-D array or DataFrame, but X "
                "is already a dict of modalities; leave `modalities=None`."
            )
        if len(X) == 0:
            raise ValueError("X is an empty dict: at least one modality is required.")
        data = {}
        for name, value in X.items():
            if not isinstance(name, str):
                raise TypeError(f"Modality names must be strings, got {name!r}.")
            data[name] = _check_one(name, _to_numpy(name, value))
    elif sp.issparse(X) or hasattr(X, "ndim") or isinstance(X, (list, tuple)) or hasattr(X, "__array__"):
        if estimator is None:
            raise TypeError("Table input needs the estimator to validate against.")
        data = {
            name: _check_one(name, array)
            for name, array in _split_table(
                estimator, X, modalities, image_shapes, reset
            ).items()
        }
    else:
        raise TypeError(
            "X must be a dict of modality arrays, a ModalityDict, a 2-D array or a "
            f"pandas DataFrame; got {type(X).__name__}."
        )
    lengths = {name: array.shape[0] for name, array in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "All modalities must have the same number of samples; got "
            + ", ".join(f"{k}={v}" for k, v in lengths.items())
            + "."
        )
    if not reset and estimator is not None and hasattr(estimator, "modality_shapes_"):
        _check_against_fit(data, estimator.modality_shapes_)
    return data


def _check_against_fit(data, fitted_shapes):
    missing = [name for name in fitted_shapes if name not in data]
    extra = [name for name in data if name not in fitted_shapes]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing modalities {missing}")
        if extra:
            parts.append(f"unexpected modalities {extra}")
        raise ValueError(
            "X does not have the modalities the estimator was fitted on ("
            + "; ".join(parts)
            + f"); expected {sorted(fitted_shapes)}."
        )
    for name, shape in fitted_shapes.items():
        got = tuple(data[name].shape[1:])
        if got != tuple(shape):
            raise ValueError(
                f"Modality {name!r} has per-sample shape {got}, but the estimator "
                f"was fitted with {tuple(shape)}."
            )
