"""Counting discrete samples: integer codes by value range, by categorical codes or by hashing.

One combined code per row and one ``numpy.bincount``; rows are never sorted: labels are put in
order on the (small) count table. Also the column roles of a table and the outcome column.
"""

import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import assert_all_finite, column_or_1d

__all__ = []


# Integer columns whose value range is at most max(2 n, _MIN_DENSE_SPAN) are coded by their
# offset from the minimum (no hashing); a count table over at most max(n, _MIN_DENSE_SPAN)
# cells is counted before the unobserved labels are dropped.
_MIN_DENSE_SPAN = 1 << 16
_MAX_TABLE_CELLS = 1 << 28  # the dense int64 count table is refused beyond this (2 GiB)
_MAX_ROLE_COMBINATIONS = 1 << 62
_ROLES = ("x", "a", "m", "y")
_ROLE_NAMES = {"x": "treatment", "a": "auxiliary", "m": "mediator", "y": "outcome"}


#: pandas' wrapper of a plain numpy column (a DataFrame column of a numpy dtype, e.g. complex or float)
_NUMPY_WRAPPER = getattr(pd.arrays, "NumpyExtensionArray", None) or pd.arrays.PandasArray


def _missing_error(name):
    return ValueError(f"{name} contains missing values (NaN/None).")


def _factorize(values, name):
    """Codes (order of first appearance) and uniques by hashing; rejects missing and unhashable values."""
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError as exc:  # e.g. a dict or a list among the values
        raise TypeError(
            f"{name} holds an unhashable value ({exc}): every argument must be a hashable "
            "label such as a string or a number."
        ) from exc
    if codes.size and codes.min() < 0:
        raise _missing_error(name)
    return codes, np.asarray(uniques)


def _as_1d(values, name):
    """``values`` as a 1-D column (pandas columns are kept as they are), non-empty."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.array
    if not isinstance(values, pd.api.extensions.ExtensionArray):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one discrete value per sample); got shape {values.shape}.")
    if len(values) == 0:
        raise ValueError(f"{name} is empty; at least one sample is needed.")
    return values


def _column_codes(values, name):
    """Integer codes of one discrete column and the candidate labels they index.

    Booleans and integers with a small value range are coded by their offset
    from the minimum (the candidate labels may then hold values that do not
    occur; the count table drops them), categoricals by their codes, and
    everything else by hashing (`pandas.factorize`).  Missing values, infinite
    floats, complex numbers and unhashable values are rejected.
    """
    values = _as_1d(values, name)
    if isinstance(values, pd.Categorical):
        codes = np.asarray(values.codes)
        if codes.min() < 0:
            raise _missing_error(name)
        return codes, np.asarray(values.categories)
    if isinstance(values, pd.api.extensions.ExtensionArray):
        if isinstance(values.dtype, np.dtype) or isinstance(values, _NUMPY_WRAPPER):  # a numpy array in a pandas wrapper
            return _column_codes(values.to_numpy(), name)
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "python":
            # the object array inside (no copy) is hashed faster than through the wrapper
            return _factorize(values.to_numpy(), name)
        return _factorize(values, name)
    kind = values.dtype.kind
    if kind == "b":
        return values.view(np.uint8), np.array([False, True])
    if kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo + 1 > max(2 * values.size, _MIN_DENSE_SPAN):
            return _factorize(values, name)
        labels = np.arange(lo, hi + 1, dtype=values.dtype)
        if lo == 0:
            return values, labels
        # the difference is small: computing it modulo 2**64 in int64 is exact
        return np.subtract(values, values.dtype.type(lo), dtype=np.int64, casting="unsafe"), labels
    if kind == "f":
        lo, hi = values.min(), values.max()  # NaN propagates; no temporary array
        if np.isnan(lo):
            raise _missing_error(name)
        if np.isinf(lo) or np.isinf(hi):
            raise ValueError(f"{name} contains infinite values.")
        return _factorize(values, name)
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} has dtype {values.dtype}. Discrete labels must be "
            "integers, booleans, strings or other hashable values."
        )
    if kind in "OUSMm":
        return _factorize(values, name)
    raise TypeError(f"{name} has dtype {values.dtype}, which cannot hold discrete labels.")


def _sort_order(labels):
    """Stable sorting order of ``labels``, or None when they cannot be ordered."""
    try:
        return np.argsort(labels, kind="stable")
    except TypeError:  # mixed, unorderable labels: keep the order of first appearance
        return None


def _bincount_input(codes):
    """``codes`` in a dtype that `np.bincount` accepts."""
    return codes.astype(np.intp) if codes.dtype.kind == "u" and codes.dtype.itemsize >= 8 else codes


def _compact(codes, labels):
    """Codes ``0..k-1`` of the observed labels only, in sorted label order when sortable."""
    present = np.bincount(_bincount_input(codes), minlength=len(labels)) > 0
    observed = np.flatnonzero(present)
    order = _sort_order(labels[observed])
    if order is not None:
        observed = observed[order]
    lut = np.zeros(len(labels), dtype=np.intp)  # entries of unobserved labels are never read
    lut[observed] = np.arange(len(observed))
    return lut[codes], labels[observed]


def _python_values(labels):
    """Labels as Python objects (for tuples of labels)."""
    return labels.tolist() if isinstance(labels, np.ndarray) else list(labels)


def _role_codes(columns, names, role):
    """Codes of a role made of several columns: one label per observed combination (a tuple).

    Returns the codes, the tuple labels (sorted lexicographically when every
    column's labels are sortable) and what prediction needs to find a
    combination again.
    """
    subs = [_compact(*_column_codes(column, name)) for column, name in zip(columns, names)]
    sizes = [len(labels) for _, labels in subs]
    if math.prod(sizes) >= _MAX_ROLE_COMBINATIONS:
        raise ValueError(
            f"role {role!r} combines {len(columns)} columns with {math.prod(sizes):.3g} possible "
            "combinations of their values; merge sparse categories or give the role fewer columns."
        )
    combined = _horner([codes for codes, _ in subs], sizes)
    codes, combos = pd.factorize(combined, sort=True)
    parts = np.unravel_index(combos, sizes)
    values = [_python_values(labels[part]) for (_, labels), part in zip(subs, parts)]
    labels = np.empty(len(combos), dtype=object)
    for i, combination in enumerate(zip(*values)):
        labels[i] = combination
    encoder = {"labels": [labels for _, labels in subs], "sizes": sizes, "combos": combos}
    return codes, labels, encoder


def _horner(code_columns, sizes):
    """One int64 code per row for the combination of ``code_columns`` (mixed radix ``sizes``)."""
    flat = code_columns[0].astype(np.int64)  # a copy: the inputs are never written to
    for codes, size in zip(code_columns[1:], sizes[1:]):
        np.multiply(flat, size, out=flat)
        np.add(flat, codes, out=flat, dtype=np.int64, casting="unsafe")
    return flat


def _count_table(axes, roles):
    """Dense counts over ``axes`` [(codes, candidate labels)], keeping observed labels only.

    Returns the counts, the labels of each axis (sorted when sortable) and, per
    axis, the candidate index of each kept label.
    """
    n_samples = len(axes[0][0])
    shape = [len(labels) for _, labels in axes]
    if math.prod(shape) > max(n_samples, _MIN_DENSE_SPAN):  # too many unobserved candidates
        axes = [_compact(codes, labels) for codes, labels in axes]
        shape = [len(labels) for _, labels in axes]
    cells = math.prod(shape)
    if cells > _MAX_TABLE_CELLS:
        sizes = ", ".join(f"{role}: {size}" for role, size in zip(roles, shape))
        raise ValueError(
            f"The count table over ({', '.join(roles)}) would have {cells:,} cells (numbers of "
            f"distinct values {sizes}); merge sparse categories or give the roles fewer columns."
        )
    flat = _horner([codes for codes, _ in axes], shape)
    counts = np.bincount(flat, minlength=cells).reshape(shape)
    del flat
    kept_labels, kept_indices = [], []
    for axis, (_, labels) in enumerate(axes):
        marginal = counts.sum(axis=tuple(i for i in range(counts.ndim) if i != axis))
        keep = np.flatnonzero(marginal)
        order = _sort_order(labels[keep])
        if order is not None:
            keep = keep[order]
        if len(keep) != counts.shape[axis] or np.any(keep != np.arange(len(keep))):
            counts = np.take(counts, keep, axis=axis)
        kept_labels.append(labels[keep])
        kept_indices.append(keep)
    return counts, kept_labels, kept_indices


def _label_array(values, labels):
    """Query labels as a 1-D array (a tuple is one label when the labels are tuples)."""
    tuple_labels = labels.dtype == object and len(labels) > 0 and isinstance(labels[0], tuple)
    if tuple_labels and not isinstance(values, np.ndarray):
        items = [values] if isinstance(values, tuple) else list(values)
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = item
        return out
    values = np.asarray(values)
    return values.reshape(1) if values.ndim == 0 else values.ravel()


def _lookup(values, labels, name):
    """Indices of ``values`` in ``labels``; ValueError naming unknown labels."""
    values = _label_array(values, labels)
    index = pd.Index(labels, tupleize_cols=False).get_indexer(values)
    if np.any(index < 0):
        unknown = list(dict.fromkeys(values[index < 0].tolist()))
        raise ValueError(
            f"Unknown {name} value(s) {unknown[:10]}; fitted values are {labels.tolist()}."
        )
    return index


def _resolve_columns(columns, n_features, feature_names):
    """Column positions of each role from the ``columns`` parameter."""
    if columns is None:
        if n_features < 2:
            raise ValueError(
                f"X has {n_features} feature(s), but FrontDoorAdjustment needs at least 2 columns: the "
                "treatment x (first) and the mediator m (second); further columns form the auxiliary "
                "a. Give other roles with the columns parameter."
            )
        roles = {"x": [0], "m": [1]}
        if n_features > 2:
            roles["a"] = list(range(2, n_features))
        return roles
    unknown = sorted(map(repr, set(columns) - {"x", "m", "a"}))
    if unknown:
        raise ValueError(f"columns has unknown role(s) {', '.join(unknown)}; the roles are 'x', 'm' and 'a'.")
    missing = [role for role in ("x", "m") if columns.get(role) is None]
    if missing:
        raise ValueError(f"columns must give the role(s) {missing}; got {columns!r}.")
    roles, owner = {}, {}
    for role in ("x", "m", "a"):
        spec = columns.get(role)
        if spec is None:
            continue
        items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
        if not items:
            raise ValueError(f"columns[{role!r}] is empty; give at least one column or leave the role out.")
        positions = []
        for item in items:
            if isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_)):
                if not -n_features <= item < n_features:
                    raise ValueError(f"columns[{role!r}] refers to column {item}, but X has {n_features} columns.")
                position = int(item) % n_features
            elif isinstance(item, str):
                if feature_names is None:
                    raise ValueError(
                        f"columns[{role!r}] names the column {item!r}, but X has no column names: pass a "
                        "pandas DataFrame or give column positions."
                    )
                if item not in feature_names:
                    raise ValueError(f"columns[{role!r}]: X has no column {item!r}; its columns are {feature_names}.")
                position = feature_names.index(item)
            else:
                raise TypeError(
                    f"columns[{role!r}] must be a column position (int), a column name (str) or a list of "
                    f"them; got {item!r}."
                )
            if position in owner:
                raise ValueError(f"columns gives the column {item!r} two roles: {owner[position]!r} and {role!r}.")
            owner[position] = role
            positions.append(position)
        roles[role] = positions
    return roles


def _outcome_column(y):
    """The outcome of ``fit(X, y)`` as a 1-D column, with scikit-learn's checks and messages."""
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y should be a 1d array, got a DataFrame of shape {y.shape} instead.")
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape of y "
            "to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.iloc[:, 0]
    if isinstance(y, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        return y
    y = column_or_1d(y, warn=True)
    if y.dtype.kind == "f":
        assert_all_finite(y, input_name="y")
    return y
