"""Multimodal input containers and validation.

Every estimator of the package receives its modalities through
:func:`check_modalities`, which turns any supported input (a dict of arrays,
a :class:`ModalityDict`, a 2-D array or a pandas DataFrame with a column
selector per modality) into a dict of C-contiguous ``float32`` arrays that
share their first dimension, and raises a clear ``ValueError`` or
``TypeError`` that names the modality and the problem otherwise.

Memory: an array that is already C-contiguous ``float32`` is kept as it is (no
copy); other arrays are converted into one preallocated ``float32`` array, a
few megabytes at a time, and the checks (finiteness, missing rows) read in
chunks too. A ``float32`` :class:`numpy.memmap` (or a view of one, e.g. a
column slice of a mapped table) stays memory-mapped: it is checked chunk by
chunk and the estimators read it batch by batch. Array-likes with ``shape``,
``dtype`` and ``__getitem__`` (h5py or zarr datasets, dask arrays) are read in
chunks into ``float32``.

Missing modalities: a sample's modality is *missing* when all its values are
NaN. :func:`check_modalities` keeps such blocks when ``allow_missing=True``
(a block that is only partly NaN is an error naming the modality and the
rows); :func:`split_missing` turns them into an availability mask and
zero-filled arrays.
"""

import warnings
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import validate_data
from skorch.helper import SliceDict

from .batching import is_mapped, release_pages
from .registry import estimators_accepting_missing

__all__ = ["ModalityDict", "check_modalities", "split_missing"]

#: Name of the single modality when a plain 2-D array is given without ``modalities``.
DEFAULT_MODALITY = "X"
# the DataFrame.attrs key with which ModalityTransformer marks its flattened pandas output
FLATTENED_MODALITIES_ATTR = "skcausalmm_modalities"

#: Bytes (counted as float64) that the chunked conversions and checks read at a time.
CHUNK_BYTES = 8 * 2**20

#: Accepted forms of a ``modalities`` selector, for error messages.
SELECTOR_FORMS = (
    "a slice (slice(0, 240)), integer column indices ([0, 1, 2]), a boolean mask over the columns, "
    "column names of a DataFrame (['a', 'b']), or a (selector, per-sample shape) pair such as "
    "(slice(0, 240), (1, 16, 15)) for an image"
)


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
                items[name] = _as_array(name, value)
        lengths = {name: _first_dim(name, value) for name, value in items.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "All modalities must have the same number of samples; got "
                + ", ".join(f"{k}={v}" for k, v in lengths.items())
                + "."
            )
        dict.__init__(self, **items)
        self._len = next(iter(lengths.values())) if lengths else 0

    def __getitem__(self, key):
        if isinstance(key, str):
            return dict.__getitem__(self, key)
        if isinstance(key, tuple) and len(key) == 2 and key[1] is Ellipsis:
            key = key[0]  # scikit-learn indexes arrays as X[rows, ...]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            raise ValueError(
                f"A ModalityDict cannot be indexed by integers (that would drop the sample axis); index it "
                f"with a slice, an index array or a boolean mask, e.g. [{key}:{key + 1}] for one sample."
            )
        return type(self)({name: _take_rows(value, key) for name, value in self.items()})

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError(f"Modality names must be strings, got {key!r}.")
        if not hasattr(value, "shape"):
            value = _as_array(key, value)
        length = _first_dim(key, value)
        if len(self) and self.keys() - {key} and length != self._len:
            raise ValueError(f"Modality {key!r} has {length} samples, but the other modalities have {self._len}.")
        if not (self.keys() - {key}):
            self._len = length
        dict.__setitem__(self, key, value)

    def update(self, other=(), /, **kwargs):
        """Set several modalities (each checked like ``X[name] = value``)."""
        for key, value in {**dict(other), **kwargs}.items():
            self[key] = value

    def __repr__(self):
        parts = ", ".join(f"{name}: {tuple(value.shape)}" for name, value in self.items())
        return f"ModalityDict({{{parts}}})"

    def __eq__(self, other):
        return SliceDict.__eq__(self, other)

    def __array__(self, dtype=None, copy=None):
        # scikit-learn tools that need one 2-D array call np.asarray(X); say what works instead
        raise TypeError(
            f"A ModalityDict ({', '.join(map(repr, self))}) is not one array: this tool needs a single 2-D "
            "table. Pass the table form instead: the modalities' columns side by side (e.g. "
            "np.hstack of the flattened blocks) with the estimator's `modalities=` column selectors "
            "(and `image_shapes=` for images); see the inputs guide, 'Tools that need one table'."
        )

    __hash__ = None

    def __reduce__(self):
        # pickle would set the items before the instance's own state (the shared length);
        # rebuild through __init__ instead, so that copies sent to other processes are checked too
        return (type(self), (dict(self),))


def _as_array(name, value):
    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"Modality {name!r} is not a rectangular array: {exc}") from None


def check_same_length(data):
    """Raise a ValueError naming each modality's length unless all of ``data``'s arrays have the same first dimension."""
    lengths = {name: values.shape[0] for name, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "All modalities must have the same number of samples; got "
            + ", ".join(f"{k}={v}" for k, v in lengths.items())
            + "."
        )


def check_modality_name(name):
    """Refuse a modality name that is not a string or that starts with the reserved ``"__"``."""
    if not isinstance(name, str):
        raise TypeError(f"Modality names must be strings, got {name!r}.")
    if name.startswith("__"):
        raise ValueError(f"Modality names may not start with '__' (reserved), got {name!r}.")


def _take_rows(value, index):
    """Rows ``index`` of one modality (by position: ``.iloc`` for pandas objects)."""
    if hasattr(value, "iloc"):
        return value.iloc[index]
    if isinstance(value, torch.Tensor) and isinstance(index, slice) and (index.step or 1) < 0:
        index = torch.as_tensor(np.arange(value.shape[0])[index].copy())  # torch slices take no negative step
    return value[index]


def _first_dim(name, value):
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) == 0:
        raise ValueError(f"Modality {name!r} must be an array with a sample axis.")
    return shape[0]


def _to_numpy(name, value):
    """Convert one modality to a numpy array (no copy when possible)."""
    if sp.issparse(value):
        raise TypeError(
            f"Modality {name!r} is a scipy sparse matrix; sparse input is not supported. Densify it "
            "first with .toarray() (or reduce it, e.g. with TruncatedSVD)."
        )
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "to_numpy"):  # pandas
        return value.to_numpy()
    if _is_lazy(value):  # h5py / zarr datasets, dask arrays: read in chunks by _check_one
        return value
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"Modality {name!r} could not be converted to an array: {exc}") from exc


def _is_lazy(value):
    """An array-like read by indexing (``shape``, ``dtype``, ``__getitem__``), not a numpy array."""
    if isinstance(value, np.ndarray) or not all(hasattr(value, a) for a in ("shape", "dtype", "__getitem__")):
        return False
    try:
        return len(value.shape) >= 1 and isinstance(np.dtype(value.dtype).kind, str)
    except TypeError:
        return False


def _chunk_rows(array, nbytes=None):
    """Rows per chunk so that one chunk holds (or spans, for a strided view) about ``CHUNK_BYTES`` as float64."""
    width = int(np.prod(array.shape[1:], dtype=np.int64)) if len(array.shape) > 1 else 1
    row = 8 * max(width, 1)
    if isinstance(array, np.ndarray) and array.ndim:
        row = max(row, abs(array.strides[0]))
    return max(1, int(nbytes or CHUNK_BYTES) // row)


def _row_chunks(array, nbytes=None):
    """Yield ``(start, stop)`` of consecutive row chunks of ``array``."""
    n = array.shape[0]
    step = _chunk_rows(array, nbytes)
    for start in range(0, n, step):
        yield start, min(start + step, n)


def as_float32(array, columns=None, nbytes=None):
    """``array`` (or ``array[:, columns]``) as float32, converted in chunks into one preallocated array.

    A C-contiguous float32 numpy array, and a float32 memory map (or a view of one,
    any strides), are returned as they are, without a copy. Anything else is read
    a chunk of rows at a time (``nbytes`` as float64, :data:`CHUNK_BYTES` by default)
    and cast into the result: no transient copy of the whole input.
    """
    if columns is None and isinstance(array, np.ndarray) and array.dtype == np.float32:
        if array.flags.c_contiguous or is_mapped(array):
            return array
    shape = tuple(array.shape) if columns is None else (array.shape[0], len(columns))
    out = np.empty(shape, dtype=np.float32)
    mapped = is_mapped(array)
    for start, stop in _row_chunks(array, nbytes):
        block = array[start:stop]
        if not isinstance(block, np.ndarray):
            block = np.asarray(block)
        out[start:stop] = block if columns is None else block[:, columns]
        if mapped:
            release_pages(array)
    return out


def _first_values(array):
    """The first value of each row (chunked for memory maps, whose pages are handed back)."""
    first = array[(slice(None),) + (0,) * (array.ndim - 1)]
    if not is_mapped(array):
        return np.asarray(first)
    out = np.empty(array.shape[0], dtype=array.dtype)
    for start, stop in _row_chunks(array):
        out[start:stop] = first[start:stop]
        release_pages(array)
    return out


def _check_values(name, array, allow_missing):
    """Finiteness and missing-row checks of a float32 modality, a chunk of rows at a time."""
    mapped = is_mapped(array)
    inf_rows, partial_rows, n_missing = [], [], 0
    for start, stop in _row_chunks(array):
        block = array[start:stop].reshape(stop - start, -1)
        finite = np.isfinite(block).all()
        if mapped:
            release_pages(array)
        if finite:
            continue
        inf_rows.append(start + np.flatnonzero(np.isinf(block).any(axis=1)))
        nan = np.isnan(block)
        partial_rows.append(start + np.flatnonzero(nan.any(axis=1) & ~nan.all(axis=1)))
        n_missing += int(nan.all(axis=1).sum())
    rows = np.concatenate(inf_rows) if inf_rows else np.zeros(0, dtype=np.int64)
    if rows.size:
        raise ValueError(f"Modality {name!r} contains infinity or a value too large for float32 (rows {_rows(rows)}).")
    partial = np.concatenate(partial_rows) if partial_rows else rows
    if partial.size:
        raise ValueError(
            f"Modality {name!r} contains NaN in only part of its values in rows {_rows(partial)}. "
            "A missing modality is marked by setting all of its values in a row to NaN; impute "
            "missing values inside a block first."
        )
    if n_missing and not allow_missing:
        raise ValueError(
            f"Modality {name!r} contains NaN: it is missing (all NaN) in {n_missing} "
            f"of {array.shape[0]} rows, and this estimator does not handle missing modalities; use one that "
            f"does ({', '.join(estimators_accepting_missing())}), impute, or drop those rows."
        )


def _check_one(name, array, allow_missing=False):
    """Check one modality array and return it as float32 (all-NaN rows kept if ``allow_missing``)."""
    if not isinstance(array, np.ndarray) and np.dtype(array.dtype).kind not in "biuf":
        array = _to_numpy(name, np.asarray(array))  # a lazy array-like of strings or objects
    if array.dtype.kind in "USV" or (array.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in array.flat)):
        raise TypeError(
            f"Modality {name!r} must be numeric, got dtype {array.dtype} (strings); convert them to "
            "numbers first (e.g. with OneHotEncoder or OrdinalEncoder for categories)."
        )
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Modality {name!r} must be numeric, got dtype {array.dtype} that cannot be converted to float ({exc})."
            ) from exc
    elif array.dtype.kind == "c":
        raise TypeError(f"Modality {name!r} has complex dtype {array.dtype}; use real data.")
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"Modality {name!r} must be numeric, got dtype {array.dtype}.")
    ndim = len(array.shape)
    if ndim < 2:
        raise ValueError(
            f"Modality {name!r} is {ndim}-D with shape {tuple(array.shape)}; expected "
            "2-D (n_samples, n_features) for tabular data, 3-D (n, H, W) or "
            "(n, T, D), or 4-D (n, C, H, W). Reshape a single feature with "
            "reshape(-1, 1)."
        )
    if ndim > 4:
        raise ValueError(
            f"Modality {name!r} has {ndim} dimensions (shape {tuple(array.shape)}); "
            "at most 4 (n, C, H, W) are supported."
        )
    if array.shape[0] == 0:
        raise ValueError(f"Modality {name!r} is empty: it has 0 samples.")
    if any(s == 0 for s in array.shape[1:]):
        raise ValueError(f"Modality {name!r} has an empty feature axis: shape {tuple(array.shape)}.")
    array = as_float32(array)
    _check_values(name, array, allow_missing)
    return array


def _rows(rows, limit=5):
    """Format row indices for an error message."""
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return f"{shown}, ... ({rows.size} rows)" if rows.size > limit else shown


def split_missing(data, names=None):
    """Availability mask and zero-filled copies of modalities whose missing rows are all-NaN.

    Parameters
    ----------
    data : dict of str to ndarray
        Validated modalities (see :func:`check_modalities` with
        ``allow_missing=True``).
    names : list of str, default=None
        Column order of the mask (the keys of ``data`` when None).

    Returns
    -------
    filled : dict of str to ndarray
        The modalities with missing rows set to zero (arrays without missing
        rows are returned as they are, not copied). A memory-mapped modality is
        returned as it is, NaN rows included: the estimators zero those rows
        batch by batch when they read it.
    availability : ndarray of shape (n_samples, n_modalities) of bool
        True where the modality is present.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm._core.validation import split_missing
    >>> filled, mask = split_missing({"a": np.array([[1.0, 2.0], [np.nan, np.nan]], dtype=np.float32)})
    >>> mask.ravel().tolist(), filled["a"][1].tolist()
    ([True, False], [0.0, 0.0])
    """
    names = list(data) if names is None else list(names)
    n = next(iter(data.values())).shape[0]
    availability = np.ones((n, len(names)), dtype=bool)
    filled = {}
    for j, name in enumerate(names):
        array = data[name]
        missing = np.isnan(_first_values(array))
        if missing.any():
            if not is_mapped(array):
                array = array.copy()
                array[missing] = 0.0
            availability[:, j] = ~missing
        filled[name] = array
    return filled, availability


def _split_selector(name, selector):
    """Return ``(selector, shape or None)``: a ``(selector, shape)`` pair is a shorthand for ``image_shapes``."""
    if (
        isinstance(selector, tuple)
        and len(selector) == 2
        and isinstance(selector[1], (tuple, list))
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in selector[1])
        and not isinstance(selector[0], (int, np.integer))
    ):
        return selector[0], tuple(int(s) for s in selector[1])
    return selector, None


def modality_columns(modalities, columns, n_columns):
    """Integer column indices of each modality of a table (what ``modalities`` selects).

    ``modalities=None`` is one modality, ``"X"``, made of every column; a
    ``(selector, shape)`` pair selects by its selector. Used by the metrics
    that replace a modality's block in a table.
    """
    if modalities is None:
        return {DEFAULT_MODALITY: np.arange(n_columns)}
    return {
        name: _resolve_selector(name, _split_selector(name, selector)[0], columns, n_columns)
        for name, selector in modalities.items()
    }


def _resolve_selector(name, selector, columns, n_columns):
    """Turn a column selector into an integer index array."""
    if isinstance(selector, slice):
        return np.arange(n_columns)[selector]
    try:
        sel = np.asarray(selector)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The column selector of modality {name!r} ({selector!r}) is not one of the accepted forms: "
            f"{SELECTOR_FORMS}."
        ) from exc
    if sel.ndim == 1 and sel.size == 0:
        raise ValueError(f"The column selector of modality {name!r} is empty: it selects no column.")
    if sel.ndim > 1 or sel.dtype.kind not in "biuUSO":
        raise ValueError(
            f"The column selector of modality {name!r} ({selector!r}) is not one of the accepted forms: "
            f"{SELECTOR_FORMS}."
        )
    if sel.ndim == 0:
        sel = sel.reshape(1)
    if sel.dtype.kind == "b":
        if sel.shape[0] != n_columns:
            raise ValueError(
                f"Boolean column selector of modality {name!r} has length {sel.shape[0]}, X has {n_columns} columns."
            )
        return np.flatnonzero(sel)
    if sel.dtype.kind in "iu":
        if sel.size and (sel.min() < -n_columns or sel.max() >= n_columns):
            raise ValueError(f"Column selector of modality {name!r} is out of range for X with {n_columns} columns.")
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


def _index_slice(index):
    """The slice equivalent to increasing, evenly spaced column indices, or None."""
    index = np.asarray(index)
    if index.size == 1:
        return slice(int(index[0]), int(index[0]) + 1)
    step = int(index[1] - index[0])
    if step < 1 or not np.all(np.diff(index) == step):
        return None
    return slice(int(index[0]), int(index[-1]) + 1, step)


def _split_table(estimator, X, modalities, image_shapes, reset):
    """Validate a 2-D array or DataFrame and split it into modalities (views of the table where possible)."""
    columns = getattr(X, "columns", None)
    table = validate_data(  # float32 stays float32 (no upcast copy); other numbers become float64
        estimator, X, reset=reset, dtype=(np.float64, np.float32), ensure_all_finite=False
    )
    if modalities is None:
        flattened = getattr(X, "attrs", {}).get(FLATTENED_MODALITIES_ATTR)
        if flattened:
            raise TypeError(
                f"X is one DataFrame of the flattened modalities {list(flattened)} (ModalityTransformer's "
                "pandas output), so this estimator would learn one table instead of the modalities. "
                "ModalityTransformer returns a dict of modalities unless set_output(transform='pandas') was "
                "called on it (Pipeline.set_output calls it on every step): call "
                "set_output(transform='default') on the ModalityTransformer, or pass `modalities=` "
                "selectors to split the table."
            )
        return {DEFAULT_MODALITY: table}
    if not isinstance(modalities, Mapping) or not modalities:
        raise TypeError(
            f"`modalities` must be a non-empty dict mapping modality names to column selectors, got {modalities!r}."
        )
    out = {}
    shapes = {}
    for name, selector in modalities.items():
        selector, shape = _split_selector(name, selector)
        if shape is not None:
            if image_shapes and name in image_shapes:
                raise ValueError(
                    f"Modality {name!r} has a shape both in its (selector, shape) pair and in `image_shapes`; "
                    "give it once."
                )
            shapes[name] = shape
        index = _resolve_selector(name, selector, columns, table.shape[1])
        if index.size == 0:
            raise ValueError(
                f"The column selector of modality {name!r} selects no column of X, which has "
                f"n_features = {table.shape[1]}."
            )
        as_slice = _index_slice(index)
        # a slice is a view of the table (converted once, later); other indices are taken in chunks
        out[name] = table[:, as_slice] if as_slice is not None else as_float32(table, columns=index)
    for name, shape in {**(image_shapes or {}), **shapes}.items():
        if name not in out:
            raise ValueError(f"`image_shapes` names {name!r}, which is not one of the modalities {sorted(out)}.")
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != out[name].shape[1]:
            raise ValueError(
                f"Modality {name!r} has {out[name].shape[1]} columns, which cannot "
                f"be reshaped to the image shape {shape}."
            )
        out[name] = out[name].reshape((-1,) + shape)
    return out


def check_modalities(X, *, estimator=None, modalities=None, image_shapes=None, reset=True, allow_missing=False):
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
    allow_missing : bool, default=False
        Keep rows in which a modality is all NaN (a missing modality); when
        False they are an error. A partly-NaN block is always an error.

    Returns
    -------
    data : dict of str to ndarray
        One C-contiguous float32 array per modality, all with the same first
        dimension; C-contiguous float32 input is returned without a copy, and
        a float32 memory map (or a view of one) is returned as it is (it may
        be strided).
    """
    if isinstance(X, Mapping) and not sp.issparse(X):
        if modalities is not None:
            raise ValueError(
                "`modalities` selects columns of a 2-D array or DataFrame, but X "
                "is already a dict of modalities; leave `modalities=None`."
            )
        if image_shapes:
            raise ValueError(
                "`image_shapes` reshapes columns of a 2-D array or DataFrame, but X is already a dict of "
                "modalities; give each image modality its shape in the dict (e.g. (n, 1, 16, 15)) and leave "
                "`image_shapes=None`."
            )
        if len(X) == 0:
            raise ValueError("X is an empty dict: at least one modality is required.")
        data = {}
        for name, value in X.items():
            check_modality_name(name)
            data[name] = _check_one(name, _to_numpy(name, value), allow_missing)
        if estimator is not None:
            _check_feature_names(estimator, X, reset)
            if reset:
                _warn_channels_last(data)
    elif isinstance(X, (list, tuple)) and X and all(getattr(v, "ndim", 0) >= 2 for v in X):
        raise TypeError(
            f"X is a {type(X).__name__} of {len(X)} arrays; pass a dict {{name: array}} (or a "
            "ModalityDict) so that each modality has a name, or one 2-D table with `modalities`."
        )
    elif sp.issparse(X):
        raise TypeError(
            "X is a scipy sparse matrix; sparse input is not supported. Densify it first with "
            ".toarray(), or pass a dict of dense modality arrays."
        )
    elif hasattr(X, "ndim") or isinstance(X, (list, tuple)) or hasattr(X, "__array__"):
        if estimator is None:
            raise TypeError("Table input needs the estimator to validate against.")
        data = {
            name: _check_one(name, array, allow_missing)
            for name, array in _split_table(estimator, X, modalities, image_shapes, reset).items()
        }
    else:
        raise TypeError(
            "X must be a dict of modality arrays, a ModalityDict, a 2-D array or a "
            f"pandas DataFrame; got {type(X).__name__}."
        )
    check_same_length(data)
    if not reset and estimator is not None and hasattr(estimator, "modality_shapes_"):
        _check_against_fit(data, estimator.modality_shapes_)
    if allow_missing and len(data) > 0:
        n = next(iter(data.values())).shape[0]
        absent = np.ones(n, dtype=bool)
        for array in data.values():
            absent &= np.isnan(_first_values(array))
        if absent.any():
            rows = np.flatnonzero(absent)
            raise ValueError(
                f"Every modality is missing (all NaN) in rows {_rows(rows)}; a sample needs at least one "
                "present modality. Drop those rows."
            )
    return data


def _frame_columns(value):
    if hasattr(value, "columns") and hasattr(value, "iloc"):  # a pandas DataFrame
        return np.asarray(value.columns, dtype=object)
    return None


def _check_feature_names(estimator, X, reset):
    """Per-modality ``feature_names_in_``: DataFrame modalities keep their columns, in the order of fit."""
    names = {name: columns for name, columns in ((n, _frame_columns(v)) for n, v in X.items()) if columns is not None}
    if reset:
        if names:
            estimator.modality_feature_names_ = names
        else:
            estimator.__dict__.pop("modality_feature_names_", None)
        return
    fitted = getattr(estimator, "modality_feature_names_", None) or {}
    for name, expected in fitted.items():
        if name not in X:
            continue  # the missing modality is reported with the others
        got = names.get(name)
        if got is None:
            warnings.warn(
                f"Modality {name!r} has no column names, but {type(estimator).__name__} was fitted with a "
                "DataFrame for it; its columns are taken in the order of fit.",
                UserWarning,
                stacklevel=4,
            )
            continue
        if len(got) == len(expected) and (got == expected).all():
            continue
        unseen = [c for c in got if c not in set(expected)]
        absent = [c for c in expected if c not in set(got)]
        if not unseen and not absent:
            raise ValueError(
                f"Modality {name!r} has the columns seen in fit in another order; reorder them as in fit "
                f"(modality_feature_names_[{name!r}], e.g. X[{name!r}][list(clf.modality_feature_names_[{name!r}])])."
            )
        parts = []
        if unseen:
            parts.append(f"columns not seen in fit {[str(c) for c in unseen[:5]]}")
        if absent:
            parts.append(f"columns seen in fit but missing now {[str(c) for c in absent[:5]]}")
        raise ValueError(f"Modality {name!r} does not have the columns seen in fit: {'; '.join(parts)}.")


def _warn_channels_last(data):
    """(n, H, W, C) images with few channels are read as C channels of H x W pixels: say so."""
    for name, array in data.items():
        if array.ndim == 4 and array.shape[3] in (1, 3, 4) and array.shape[1] > 4:
            warnings.warn(
                f"Modality {name!r} has per-sample shape {tuple(array.shape[1:])}, read as {array.shape[1]} "
                f"channels of {array.shape[2]}x{array.shape[3]} pixels (channels first, as torch expects). If "
                f"its last axis holds the channels, move it first: np.moveaxis(X[{name!r}], -1, 1).",
                UserWarning,
                stacklevel=4,
            )


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
                f"Modality {name!r} has per-sample shape {got}, but the estimator was fitted with {tuple(shape)}."
            )
