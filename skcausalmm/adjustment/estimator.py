r"""Exact discrete β-generalised front-door adjustment.

This module computes, from a discrete observed joint distribution (or from
columns of discrete samples), the β-generalised front-door adjustment of
skcausalmm (see ``docs/adjustment.md``).  The formulation is our own
derivation: the source paper's exact formula was not available to us in a form
we could read.

Notation: ``X`` is the treatment (the predominant modality), ``A`` the
auxiliary modality (pre-treatment), ``M`` the mediator, ``Y`` the outcome, and
``U`` a hidden confounder of ``X`` and ``Y``.  For a set of variables ``S`` the
back-door adjustment of the step ``M -> Y`` is

$$B_S(y \mid m) = \sum_s P(s)\, P(y \mid m, s).$$

Pearl's front-door formula and its version inside a stratum of ``A`` are

$$FD(y \mid do(x)) = \sum_m P(m \mid x)\, B_X(y \mid m),$$

$$FD_a(y \mid do(x), a) = \sum_m P(m \mid x, a)
    \sum_{x'} P(x' \mid a)\, P(y \mid m, x', a),$$

and every variant mixes a Pearl term and an auxiliary term with the single
β formula `_beta_mix`:

* ``"conditional"``: $\beta FD + (1-\beta) FD_a$, shape ``(n_x, n_a, n_y)``;
* ``"covariate"``: $\beta FD + (1-\beta) \sum_a P(a) FD_a$;
* ``"mixture"``: $\sum_m P(m \mid x) [\beta B_X + (1-\beta) B_S]$
  with ``S = {X, A}`` or ``S = {A}``.

Every variant is Pearl's formula at β = 1; without an auxiliary axis every
population variant is Pearl's formula for every β.

`FrontDoorAdjustment` estimates the tables from discrete samples, as a
scikit-learn classifier (``fit(X, y)`` with column roles, or the convenience
form ``fit(x, m, y, a)``); it counts by value range or hashing, never by
sorting the rows.
"""

import math
import numbers
import warnings
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import assert_all_finite, check_array, check_consistent_length, column_or_1d, metadata_routing
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import Interval, StrOptions, validate_params

__all__ = ["FrontDoorAdjustment", "PositivityError", "front_door_adjustment"]

_VARIANTS = ("conditional", "covariate", "mixture")
_ADJUSTMENT_SETS = ("X+A", "A")
_NORMALISATION_ATOL = 1e-6
_DTYPE_HINTS = {
    "c": " (complex numbers are not probabilities)",
    "b": " (booleans are not probabilities)",
    "U": " (strings, even numeric ones, are not converted: pass numbers)",
    "S": " (bytes, even numeric ones, are not converted: pass numbers)",
    "O": " (an object array: pass a numeric array, e.g. np.asarray(joint, dtype=float))",
}
_MAX_LISTED_CELLS = 10


class PositivityError(ValueError):
    """A probability that the adjustment divides by is zero.

    Raised by `front_door_adjustment` and `FrontDoorAdjustment`
    when a conditional distribution that enters a term with non-zero weight
    is undefined.  The message names the term and the empty cells.  It is a
    subclass of `ValueError`.
    """


# ---------------------------------------------------------------------------
# The formula: one helper per term, and the β mix in exactly one place.
# ---------------------------------------------------------------------------


def _beta_mix(beta, pearl_term, auxiliary_term):
    """Return ``beta * pearl_term + (1 - beta) * auxiliary_term``.

    This is the only place where β enters.  A term whose weight is zero is
    not needed (it may be ``None``, it was not computed and its positivity
    was not required).
    """
    if beta == 1.0:
        return pearl_term
    if beta == 0.0:
        return auxiliary_term
    return beta * pearl_term + (1.0 - beta) * auxiliary_term


def _safe_divide(numerator, denominator):
    """Divide where the denominator is positive and return 0 elsewhere.

    Zero denominators only occur for cells that enter with zero weight once
    positivity has been checked, so the value put there does not matter; 0
    keeps every product finite.
    """
    shape = np.broadcast_shapes(numerator.shape, denominator.shape)
    out = np.zeros(shape)
    np.divide(numerator, denominator, out=out, where=np.broadcast_to(denominator > 0, shape))
    return out


def _mediator_given_treatment(joint_xmy):
    """P(m | x) from a joint with trailing axes (x, m, y); shape ``(..., n_x, n_m)``."""
    p_xm = joint_xmy.sum(axis=-1)
    return _safe_divide(p_xm, p_xm.sum(axis=-1, keepdims=True))


def _backdoor(joint_smy):
    """Back-door adjustment ``B_S(y|m) = sum_s P(s) P(y|m,s)``.

    Parameters
    ----------
    joint_smy : ndarray of shape (..., n_s, n_m, n_y)
        Joint of the adjustment variables (flattened to one axis ``s``), the
        mediator and the outcome; leading axes are batch axes.

    Returns
    -------
    ndarray of shape (..., n_m, n_y)
    """
    p_sm = joint_smy.sum(axis=-1, keepdims=True)
    p_s = p_sm.sum(axis=-2, keepdims=True)
    y_given_ms = _safe_divide(joint_smy, p_sm)
    return (p_s * y_given_ms).sum(axis=-3)


def _compose(mediator_given_treatment, outcome_given_mediator):
    """``sum_m P(m|x) B(y|m)``; shapes ``(..., n_x, n_m)`` and ``(..., n_m, n_y)``."""
    return np.einsum("...xm,...my->...xy", mediator_given_treatment, outcome_given_mediator)


def _pearl_term(joint_xmy):
    """Pearl's front-door formula ``FD(y|do(x))`` with batch axes; ``(..., n_x, n_y)``."""
    return _compose(_mediator_given_treatment(joint_xmy), _backdoor(joint_xmy))


def _stratum_term(joint_xamy):
    """``FD_a(y|do(x), a)``: Pearl's formula inside each stratum of A; ``(n_x, n_a, n_y)``."""
    p_a = joint_xamy.sum(axis=(0, 2, 3))
    strata = _safe_divide(joint_xamy.transpose(1, 0, 2, 3), p_a[:, None, None, None])
    return _pearl_term(strata).transpose(1, 0, 2)


def _mixture_backdoor(joint_xamy, adjustment_set):
    """``B_S(y|m)`` for ``S = {X, A}`` (``"X+A"``) or ``S = {A}`` (``"A"``)."""
    n_x, n_a, n_m, n_y = joint_xamy.shape
    if adjustment_set == "X+A":
        return _backdoor(joint_xamy.reshape(n_x * n_a, n_m, n_y))
    return _backdoor(joint_xamy.sum(axis=0))


# ---------------------------------------------------------------------------
# Positivity: which cells each term needs.
# ---------------------------------------------------------------------------


def _format_cells(cells, axes, names):
    """Render index tuples as ``(x=..., m=...)`` using axis labels."""
    shown = []
    for cell in cells[:_MAX_LISTED_CELLS]:
        parts = [f"{axis}={_label(names, axis, i)!r}" for axis, i in zip(axes, cell)]
        shown.append("(" + ", ".join(parts) + ")")
    more = len(cells) - _MAX_LISTED_CELLS
    suffix = f" and {more} more" if more > 0 else ""
    return ", ".join(shown) + suffix


def _label(names, axis, index):
    """Label of ``index`` on ``axis`` (the index itself without labels)."""
    if names is None or names.get(axis) is None:
        return int(index)
    value = names[axis][index]
    return value.item() if isinstance(value, np.generic) else value


def _raise_if_any(violations, axes, names, term, condition):
    """Raise a `PositivityError` listing the cells where ``violations`` holds."""
    cells = np.argwhere(violations)
    if len(cells) == 0:
        return
    raise PositivityError(
        f"Positivity violated in {term}: {condition} is 0 where the term needs it, at "
        f"{_format_cells([tuple(c) for c in cells], axes, names)}. "
        "Use alpha > 0 (additive smoothing), merge sparse categories, or choose "
        "a variant/beta that does not need this term."
    )


def _check_treatment(p_x, names):
    """P(m | x) needs P(x) > 0 for every treatment value."""
    _raise_if_any(p_x <= 0, ("x",), names, "P(m | x)", "P(x)")


def _check_backdoor(p_sm, s_axes, names, term):
    """``B_S(y|m)`` needs ``P(s, m) > 0`` whenever ``P(s) > 0`` and ``P(m) > 0``.

    ``p_sm`` has the axes ``s_axes`` followed by ``m``.
    """
    p_s = p_sm.sum(axis=-1, keepdims=True)
    p_m = p_sm.reshape(-1, p_sm.shape[-1]).sum(axis=0)
    violations = (p_sm <= 0) & (p_s > 0) & (p_m > 0)
    condition = "P(" + ", ".join(f"{a}'" if a == "x" else a for a in s_axes) + ", m)"
    _raise_if_any(violations, (*s_axes, "m"), names, term, condition)


def _check_strata(p_xam, all_strata, names):
    """``FD_a`` needs, in every stratum a used, ``P(x, a) > 0`` for every x and
    ``P(x', m, a) > 0`` for every x' and every m with ``P(m, a) > 0``."""
    p_xa = p_xam.sum(axis=-1)
    p_a = p_xa.sum(axis=0)
    used = np.ones_like(p_a, dtype=bool) if all_strata else p_a > 0
    _raise_if_any(
        (p_xa <= 0) & used[None, :], ("x", "a"), names, "FD_a(y | do(x), a)", "P(x, a)"
    )
    p_am = p_xam.sum(axis=0)
    violations = (p_xam <= 0) & (p_am[None, :, :] > 0) & used[None, :, None]
    _raise_if_any(violations, ("x", "a", "m"), names, "FD_a(y | do(x), a)", "P(x', a, m)")


# ---------------------------------------------------------------------------
# Tables.
# ---------------------------------------------------------------------------


def _check_joint(joint):
    """Validate a probability table and return it as a normalised float array."""
    joint = np.asarray(joint)
    if joint.dtype.kind not in "iuf":
        # complex, boolean, string (even numeric strings such as "0.25") and object tables
        # are not probability tables: never convert them silently.
        raise TypeError(
            "joint must be a table of real numbers (an integer or floating dtype); got dtype "
            f"{joint.dtype}{_DTYPE_HINTS.get(joint.dtype.kind, '')}."
        )
    joint = joint.astype(float, copy=False)
    if joint.ndim not in (3, 4):
        raise ValueError(
            "joint must have axes (x, a, m, y) or (x, m, y); "
            f"got an array with {joint.ndim} axes and shape {joint.shape}."
        )
    if joint.shape[0] < 2:
        raise ValueError(
            "joint has a single treatment value (axis x has length "
            f"{joint.shape[0]}); an interventional distribution needs at least two."
        )
    if min(joint.shape) < 1:
        raise ValueError(f"joint has an empty axis: shape {joint.shape}.")
    if not np.all(np.isfinite(joint)):
        raise ValueError("joint contains NaN or infinite entries.")
    if np.any(joint < 0):
        raise ValueError(f"joint must be non-negative; its smallest entry is {joint.min():g}.")
    total = joint.sum()
    if abs(total - 1.0) > _NORMALISATION_ATOL:
        raise ValueError(
            f"joint must sum to 1 (a probability table); it sums to {total:.10g}. "
            "Divide counts by their total first."
        )
    return joint / total


def _conditional_table(joint, beta, names):
    """``P_β(y | do(x), a)`` of shape ``(n_x, n_a, n_y)`` from a 4-axis joint."""
    pearl = stratum = None
    p_xam = joint.sum(axis=-1)
    if beta > 0:
        p_xm = p_xam.sum(axis=1)
        _check_treatment(p_xm.sum(axis=-1), names)
        _check_backdoor(p_xm, ("x",), names, "B_X(y | m)")
        pearl = _pearl_term(joint.sum(axis=1))[:, None, :]
    if beta < 1:
        _check_strata(p_xam, all_strata=True, names=names)
        stratum = _stratum_term(joint)
    out = _beta_mix(beta, pearl, stratum)
    return np.broadcast_to(out, (joint.shape[0], joint.shape[1], joint.shape[-1])).copy()


def _population_table(joint, beta, variant, adjustment_set, names):
    """``P_β(y | do(x))`` of shape ``(n_x, n_y)`` for the population variants."""
    joint_xmy = joint.sum(axis=1) if joint.ndim == 4 else joint
    p_xm = joint_xmy.sum(axis=-1)
    _check_treatment(p_xm.sum(axis=-1), names)
    if joint.ndim == 3:  # no auxiliary axis: every variant is Pearl's formula
        _check_backdoor(p_xm, ("x",), names, "B_X(y | m)")
        return _pearl_term(joint_xmy)
    pearl = auxiliary = None
    if beta > 0:
        _check_backdoor(p_xm, ("x",), names, "B_X(y | m)")
        pearl = _pearl_term(joint_xmy)
    if beta < 1:
        if variant == "covariate":
            p_xam = joint.sum(axis=-1)
            _check_strata(p_xam, all_strata=False, names=names)
            p_a = p_xam.sum(axis=(0, 2))
            auxiliary = np.einsum("a,xay->xy", p_a, _stratum_term(joint))
        else:  # mixture
            p_xam = joint.sum(axis=-1)
            if adjustment_set == "X+A":
                _check_backdoor(p_xam, ("x", "a"), names, "B_{X,A}(y | m)")
            else:
                _check_backdoor(p_xam.sum(axis=0), ("a",), names, "B_A(y | m)")
            auxiliary = _compose(
                _mediator_given_treatment(joint_xmy), _mixture_backdoor(joint, adjustment_set)
            )
    return _beta_mix(beta, pearl, auxiliary)


def _observational_table(joint):
    """Observational ``P(y | x)`` of shape ``(n_x, n_y)``."""
    axes = tuple(range(1, joint.ndim - 1))
    p_xy = joint.sum(axis=axes)
    return _safe_divide(p_xy, p_xy.sum(axis=-1, keepdims=True))


@validate_params(
    {
        "joint": ["array-like"],
        "beta": [Interval(Real, 0, 1, closed="both")],
        "variant": [StrOptions(set(_VARIANTS))],
        "adjustment_set": [StrOptions(set(_ADJUSTMENT_SETS))],
    },
    prefer_skip_nested_validation=True,
)
def front_door_adjustment(joint, beta=1.0, variant="covariate", adjustment_set="X+A"):
    r"""β-generalised front-door adjustment of a discrete joint distribution.

    Parameters
    ----------
    joint : array-like of shape (n_x, n_a, n_m, n_y) or (n_x, n_m, n_y)
        Non-negative probability table of the observed variables, summing to
        1, with axes treatment ``x``, auxiliary ``a`` (optional), mediator
        ``m`` and outcome ``y``.
    beta : float in [0, 1], default=1.0
        Weight of Pearl's front-door term; ``1 - beta`` goes to the auxiliary
        term of the chosen variant.  ``beta=1`` is Pearl's formula in every
        variant.
    variant : {"covariate", "mixture", "conditional"}, default="covariate"
        ``"conditional"`` returns $P_\beta(y \mid do(x), a) = \beta FD +
        (1-\beta) FD_a$; ``"covariate"`` returns its average over
        $P(a)$; ``"mixture"`` returns
        $\sum_m P(m|x)[\beta B_X(y|m) + (1-\beta) B_S(y|m)]$.  Without an
        auxiliary axis every population variant is Pearl's formula and
        ``"conditional"`` is an error.
    adjustment_set : {"X+A", "A"}, default="X+A"
        The set ``S`` of the ``"mixture"`` variant; ignored by the others.

    Returns
    -------
    ndarray of shape (n_x, n_y), or (n_x, n_a, n_y) for ``"conditional"``
        Interventional distributions; each row sums to 1.

    Raises
    ------
    PositivityError
        If a conditional probability used by a term with non-zero weight is
        undefined: ``P(x) = 0``; for the Pearl term (β > 0) ``P(x', m) = 0``
        where ``P(m) > 0``; for ``FD_a`` (β < 1, ``"conditional"`` for every
        ``a``, ``"covariate"`` for every ``a`` with ``P(a) > 0``)
        ``P(x, a) = 0`` or ``P(x', a, m) = 0`` where ``P(a, m) > 0``; for
        mixture (β < 1) ``P(s, m) = 0`` where ``P(s) > 0`` and ``P(m) > 0``.
    TypeError
        If ``joint`` does not hold real numbers: complex, boolean, string
        (numeric strings included) and object arrays are rejected, never
        converted.
    ValueError
        If ``joint`` is malformed (wrong number of axes, a single treatment
        value, negative, non-finite or not summing to 1), or
        ``variant="conditional"`` is asked without an auxiliary axis.

    See Also
    --------
    FrontDoorAdjustment : The same adjustment estimated from samples.

    Notes
    -----
    The formulation is our own derivation (see the documentation page
    "Front-door adjustment"), not the source paper's formula.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm import front_door_adjustment
    >>> joint = np.full((2, 2, 2), 1 / 8)  # x, m, y
    >>> front_door_adjustment(joint)
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    joint = _check_joint(joint)
    return _tables(joint, beta, variant, adjustment_set, names=None)


def _tables(joint, beta, variant, adjustment_set, names):
    """Dispatch a checked joint to the table of ``variant``."""
    if variant == "conditional":
        if joint.ndim != 4:
            raise ValueError(
                "variant='conditional' needs an auxiliary variable: the joint has "
                "axes (x, m, y) without an 'a' axis."
            )
        return _conditional_table(joint, beta, names)
    return _population_table(joint, beta, variant, adjustment_set, names)


# ---------------------------------------------------------------------------
# Counting: integer codes by value range, by categorical codes or by hashing;
# one combined code and one bincount.  Rows are never sorted: labels are put in
# order on the (small) count table.
# ---------------------------------------------------------------------------

# Integer columns whose value range is at most max(2 n, _MIN_DENSE_SPAN) are coded by their
# offset from the minimum (no hashing); a count table over at most max(n, _MIN_DENSE_SPAN)
# cells is counted before the unobserved labels are dropped.
_MIN_DENSE_SPAN = 1 << 16
_MAX_TABLE_CELLS = 1 << 28  # the dense int64 count table is refused beyond this (2 GiB)
_MAX_ROLE_COMBINATIONS = 1 << 62
_ROLES = ("x", "a", "m", "y")
_ROLE_NAMES = {"x": "treatment", "a": "auxiliary", "m": "mediator", "y": "outcome"}


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
        if isinstance(values.dtype, np.dtype):  # a numpy array in a pandas wrapper
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


class FrontDoorAdjustment(ClassifierMixin, BaseEstimator):
    r"""Exact β-generalised front-door adjustment estimated from discrete samples.

    The estimator counts discrete samples of the treatment ``x``, the mediator
    ``m``, the outcome ``y`` and optionally the auxiliary (pre-treatment)
    variable ``a``, smooths the counts, and evaluates `front_door_adjustment`
    on the resulting joint distribution.  It is fitted in one of two forms:

    * ``fit(X, y)``, the scikit-learn form: ``X`` is a 2-D array or DataFrame
      whose columns hold ``x``, ``m`` and ``a`` (roles given by ``columns``),
      ``y`` the outcome;
    * ``fit(x, m, y, a=None)``, the convenience form, on 1-D columns.

    Both count the same table: ``fit(x, m, y, a)`` equals
    ``fit(np.column_stack([x, m, a]), y)`` with the default ``columns``.

    Parameters
    ----------
    beta : float in [0, 1], default=1.0
        Weight of Pearl's front-door term; ``beta=1`` is Pearl's formula.
    variant : {"covariate", "mixture", "conditional"}, default="covariate"
        Population formula used for `interventional_proba_`.
        ``"conditional"`` needs ``a``; its population table is the
        $P(a)$-average of `conditional_proba_`, i.e. the same as
        ``"covariate"``.  It also decides what `predict_proba` returns per row:
        $P_\beta(y \mid do(x))$ for ``"covariate"`` and ``"mixture"``,
        $P_\beta(y \mid do(x), a)$ for ``"conditional"``.
    adjustment_set : {"X+A", "A"}, default="X+A"
        Adjustment set ``S`` of the ``"mixture"`` variant.
    alpha : float >= 0, default=0.0
        Additive (symmetric Dirichlet) smoothing: ``alpha`` is added to every
        cell of the count table over ``(x, a, m, y)`` (or ``(x, m, y)``)
        before normalising.  With ``alpha > 0`` every probability is positive,
        so no positivity error can occur and the output is finite.  An
        ``alpha`` so large that the smoothed total overflows, or so small
        that the smoothed cells underflow, is rejected with a ValueError.
    columns : dict or None, default=None
        Roles of the columns of ``X`` in ``fit(X, y)``: a dict with keys
        ``"x"``, ``"m"`` and optionally ``"a"``, each mapped to a column
        position (int), a column name (str, for DataFrames) or a list of
        them.  A role made of several columns takes the combinations of their
        values (tuples) as its labels.  Columns given no role are not used.
        ``None``: the first column is ``x``, the second ``m``, and the
        remaining columns (if any) form ``a``.  Not used by the convenience
        form ``fit(x, m, y, a)``, which must leave it ``None``.

    Attributes
    ----------
    treatment_values_ : ndarray of shape (n_x,)
        Observed treatment labels (sorted when sortable); the row order of the
        tables.
    mediator_values_ : ndarray of shape (n_m,)
        Observed mediator labels.
    outcome_values_ : ndarray of shape (n_y,)
        Observed outcome labels; the column order of the tables.
    classes_ : ndarray of shape (n_y,)
        The same as `outcome_values_`: the columns of `predict_proba`.
    auxiliary_values_ : ndarray of shape (n_a,) or None
        Observed auxiliary labels, or ``None`` when fitted without ``a``.
    column_roles_ : dict
        Positions of the columns of ``X`` that hold each role, e.g.
        ``{"x": [0], "m": [1], "a": [2]}`` (for the convenience form: the
        order ``x, m, a``).
    n_features_in_ : int
        Number of columns of ``X`` seen in fit (2 or 3 for the convenience
        form).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``; only when ``X`` was a DataFrame with string
        column names.
    counts_ : ndarray of shape (n_x, n_a, n_m, n_y) or (n_x, n_m, n_y)
        Raw (unsmoothed) counts of the observed combinations.
    joint_ : ndarray, same shape as ``counts_``
        Smoothed joint distribution ``(counts_ + alpha) / (N + alpha * K)``.
    interventional_proba_ : ndarray of shape (n_x, n_y)
        $P_\beta(y \mid do(x))$ under ``variant``.
    conditional_proba_ : ndarray of shape (n_x, n_a, n_y)
        $P_\beta(y \mid do(x), a)$ (only when fitted with ``a``).
    observational_proba_ : ndarray of shape (n_x, n_y)
        Observational $P(y \mid x)$, for comparison.

    See Also
    --------
    front_door_adjustment : The same adjustment on a probability table.

    Notes
    -----
    Only the counts are stored at fit time; ``joint_``, ``interventional_proba_``,
    ``conditional_proba_`` and ``observational_proba_`` are computed on access
    from ``counts_`` and the *current* parameters.  Changing ``beta``,
    ``variant``, ``adjustment_set`` or ``alpha`` with ``set_params`` after
    ``fit`` is therefore honoured without refitting.  ``fit`` evaluates
    ``interventional_proba_`` (and ``conditional_proba_`` for the
    ``"conditional"`` variant) once, so positivity errors for the parameters
    given at fit time surface there; parameters set later are checked on access.

    Counting never sorts the rows: integer columns with a small value range
    are coded by their offset, categoricals by their codes, other columns by
    hashing (`pandas.factorize`); one combined code per row is counted with
    `numpy.bincount`, and the labels are sorted on the small count table.

    `predict_proba` is the interventional distribution of the outcome for
    each row's treatment (and, for ``"conditional"``, auxiliary) value; the
    mediator column is not used at prediction, since the adjustment averages
    over it.  A treatment (or auxiliary) value not seen in fit raises a
    ValueError: its interventional distribution is not identified.  The
    `score` is the accuracy of `predict` against the observed ``y``, which
    does not measure the quality of a causal estimate.

    The formulation is our own derivation, not the source paper's formula.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm import FrontDoorAdjustment
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 2, 1000)
    >>> m = np.where(rng.random(1000) < 0.8, x, 1 - x)
    >>> y = np.where(rng.random(1000) < 0.7, m, 1 - m)
    >>> est = FrontDoorAdjustment().fit(x, m, y)
    >>> est.interventional_proba_.shape
    (2, 2)
    >>> est.effect(1, 0).round(2)  # truth: (0.8 - 0.2) * (0.7 - 0.3) = 0.24
    array([-0.28,  0.28])

    The same fit in the estimator form, on a table with columns x and m:

    >>> X = np.column_stack([x, m])
    >>> est = FrontDoorAdjustment().fit(X, y)
    >>> est.predict_proba([[0, 1], [1, 1]]).round(2)  # rows P(y | do(x)); m is not used
    array([[0.64, 0.36],
           [0.36, 0.64]])
    """

    _parameter_constraints = {
        "beta": [Interval(Real, 0, 1, closed="both")],
        "variant": [StrOptions(set(_VARIANTS))],
        "adjustment_set": [StrOptions(set(_ADJUSTMENT_SETS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "columns": [dict, None],
    }

    # ``a`` belongs to the convenience form fit(x, m, y, a): it is data, not metadata to route
    __metadata_request__fit = {"a": metadata_routing.UNUSED}

    def __init__(self, beta=1.0, variant="covariate", adjustment_set="X+A", alpha=0.0, columns=None):
        self.beta = beta
        self.variant = variant
        self.adjustment_set = adjustment_set
        self.alpha = alpha
        self.columns = columns

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # discrete labels, one category per distinct value (like OneHotEncoder: strings are
        # accepted, unhashable values are a TypeError, so the `string` tag stays False)
        tags.input_tags.categorical = True
        # predict answers an interventional question; the accuracy against the observed y is not
        # what the estimator optimises
        tags.classifier_tags.poor_score = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *args, a=None):
        """Count the discrete samples.

        Two forms, told apart by the arguments: ``fit(X, y)`` (two arguments)
        and the convenience form ``fit(x, m, y, a=None)`` (three or four
        arguments, or ``a=`` given).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features), or array-like of shape (n_samples,)
            ``fit(X, y)``: the table whose columns hold the treatment, the
            mediator and optionally the auxiliary variable (roles given by
            ``columns``; by default x, m, then a).  Convenience form: the
            treatment column ``x``.  Any hashable labels; at least two
            distinct treatment values.
        y : array-like of shape (n_samples,)
            ``fit(X, y)``: the outcome (discrete class labels).  Convenience
            form: the mediator column ``m``.
        *args : array-like of shape (n_samples,)
            Convenience form only: the outcome column ``y``, optionally
            followed by the auxiliary column ``a``.
        a : array-like of shape (n_samples,), default=None
            Convenience form only: the auxiliary (pre-treatment) column;
            required for ``variant="conditional"``.

        Returns
        -------
        self : FrontDoorAdjustment
            The fitted estimator.

        Raises
        ------
        ValueError
            On inputs of different lengths, missing or infinite values,
            complex data, a single treatment value, an outcome with continuous
            values (``fit(X, y)``), ``variant="conditional"`` without ``a``,
            invalid ``columns``, or an ``alpha`` that over- or underflows.
        TypeError
            On unhashable values, or arguments that fit neither form.
        PositivityError
            If, with ``alpha=0``, a term needed by the current parameters
            divides by an empty cell.
        """
        if args or a is not None:
            return self._fit_columns(X, y, *args, a=a)
        return self._fit_table(X, y)

    def _fit_columns(self, x, m, *rest, a=None):
        """``fit(x, m, y, a=None)`` on 1-D columns."""
        if not rest or len(rest) > 2 or (len(rest) == 2 and a is not None):
            given = 2 + len(rest)
            raise TypeError(
                "fit takes fit(X, y) or the convenience form fit(x, m, y, a=None); got "
                f"{given} positional argument(s){' and a=' if a is not None else ''}."
            )
        if len(rest) == 2:
            a = rest[1]
        if self.columns is not None:
            raise ValueError(
                "columns gives the roles of the columns of X in fit(X, y); the convenience form "
                "fit(x, m, y, a) takes the roles from its arguments: leave columns=None."
            )
        columns = {"x": x, "m": m, "y": rest[0]}
        if a is not None:
            columns["a"] = a
        columns = {name: _as_1d(values, name) for name, values in columns.items()}
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise ValueError(f"x, m, y and a must have the same length; got {shown}.")
        if a is None and self.variant == "conditional":
            raise ValueError("variant='conditional' needs the auxiliary variable: pass a to fit.")
        axes = {name: _column_codes(values, name) for name, values in columns.items()}
        self._fit_counts(axes, encoders={})
        self.column_roles_ = {"x": [0], "m": [1], **({"a": [2]} if a is not None else {})}
        self.n_features_in_ = len(self.column_roles_)
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit_table(self, X, y):
        """``fit(X, y)`` on a table with column roles."""
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, but the target y is None."
            )
        X, columns, names = self._table_columns(X, fitting=True)
        validate_data(self, X, reset=True, skip_check_array=True)
        y = _outcome_column(y)
        check_consistent_length(columns[0], y)
        feature_names = getattr(self, "feature_names_in_", None)
        roles = _resolve_columns(self.columns, len(columns), None if feature_names is None else list(feature_names))
        if "a" not in roles and self.variant == "conditional":
            raise ValueError(
                "variant='conditional' needs the auxiliary variable: X has only the columns of x and m; "
                "add a column for a (or name it in columns)."
            )
        axes, encoders = {}, {}
        for role, positions in roles.items():
            name = f"{names[positions[0]]} (role {role!r})"
            if len(positions) == 1:
                axes[role] = _column_codes(columns[positions[0]], name)
            else:
                sub_names = [f"{names[j]} (role {role!r})" for j in positions]
                codes, labels, encoders[role] = _role_codes([columns[j] for j in positions], sub_names, role)
                axes[role] = (codes, labels)
        axes["y"] = _column_codes(y, "y")
        outcome = axes["y"][1]
        if outcome.dtype.kind == "f" and np.any(outcome != np.round(outcome)):
            raise ValueError(
                "Unknown label type: continuous. The outcome y must hold discrete class labels; got "
                f"non-integer floats such as {outcome[outcome != np.round(outcome)][0]!r}."
            )
        self._fit_counts(axes, encoders)
        self.column_roles_ = roles
        return self

    def _fit_counts(self, axes, encoders):
        """Count the coded columns and store the counts and labels."""
        order = [role for role in _ROLES if role in axes]
        counts, labels, kept = _count_table([axes[role] for role in order], order)
        labels = dict(zip(order, labels))
        if len(labels["x"]) < 2:
            n_samples = int(counts.sum())
            raise ValueError(
                f"x takes a single value ({labels['x'][0]!r}) in all {n_samples} sample(s); the "
                "interventional distribution needs at least two treatment values."
            )
        for role, encoder in encoders.items():  # candidate combination -> position in the labels
            position = np.full(len(encoder["combos"]), -1, dtype=np.intp)
            position[kept[order.index(role)]] = np.arange(len(labels[role]))
            encoder["position"] = position
        self.counts_ = counts
        self.treatment_values_ = labels["x"]
        self.mediator_values_ = labels["m"]
        self.outcome_values_ = labels["y"]
        self.classes_ = labels["y"]
        self.auxiliary_values_ = labels.get("a")
        self._encoders = encoders
        # Evaluate once so that positivity (and alpha) errors surface at fit time.
        self._table(self.variant)

    def _table_columns(self, X, *, fitting):
        """Check a table ``X``; return it, its columns and their names for messages."""
        if isinstance(X, pd.DataFrame):
            for axis, what in ((0, "sample"), (1, "feature")):
                if X.shape[axis] == 0:
                    raise ValueError(
                        f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum of 1 is "
                        f"required by {type(self).__name__}."
                    )
            columns = [X.iloc[:, j] for j in range(X.shape[1])]
            names = [f"X column {name!r}" for name in X.columns]
            return X, columns, names
        try:
            X = check_array(X, dtype=None, ensure_all_finite=False, estimator=self, input_name="X")
        except ValueError as exc:
            if fitting and "Reshape your data" in str(exc):
                raise ValueError(
                    f"{exc} For 1-D columns use the convenience form fit(x, m, y) or fit(x, m, y, a)."
                ) from exc
            raise
        if X.dtype.kind == "f":
            assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
        return X, [X[:, j] for j in range(X.shape[1])], [f"X column {j}" for j in range(X.shape[1])]

    def _role_index(self, role, columns, names):
        """Index of each row's ``role`` label (treatment or auxiliary) at prediction."""
        labels = self.treatment_values_ if role == "x" else self.auxiliary_values_
        encoder = self._encoders.get(role)
        if encoder is None:
            (column,) = columns
            if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
                column = column.astype(object)
            index = pd.Index(labels, tupleize_cols=False).get_indexer(column)
        else:
            sub = [pd.Index(lab, tupleize_cols=False).get_indexer(col) for lab, col in zip(encoder["labels"], columns)]
            known = np.logical_and.reduce([codes >= 0 for codes in sub])
            combined = _horner([np.maximum(codes, 0) for codes in sub], encoder["sizes"])
            combos = encoder["combos"]
            at = np.minimum(np.searchsorted(combos, combined), len(combos) - 1)
            index = np.where(known & (combos[at] == combined), encoder["position"][at], -1)
        if np.any(index < 0):
            bad_rows = np.flatnonzero(index < 0)[:1000]
            values = [np.asarray(column, dtype=object)[bad_rows].tolist() for column in columns]
            unknown = values[0] if len(columns) == 1 else list(zip(*values))
            raise ValueError(
                f"{' and '.join(names)} (role {role!r}) hold {_ROLE_NAMES[role]} value(s) not seen in fit: "
                f"{list(dict.fromkeys(unknown))[:10]}; the interventional distribution of an unseen value is "
                "not identified. "
                f"Fitted values: {labels.tolist()[:20]}."
            )
        return index

    def predict_proba(self, X):
        r"""Interventional distribution of the outcome for each row of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features_in_)
            A table with the columns seen in fit.  Only the treatment column(s)
            are used (and the auxiliary column(s) for ``variant="conditional"``);
            the mediator is averaged over by the adjustment.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Row ``i`` is $P_\beta(y \mid do(x_i))$ under ``variant``, or
            $P_\beta(y \mid do(x_i), a_i)$ for ``variant="conditional"``;
            columns in the order of `classes_`.

        Raises
        ------
        ValueError
            If ``X`` does not have the fitted columns, holds missing values,
            or a treatment (or auxiliary) value not seen in fit.
        """
        check_is_fitted(self, "counts_")
        X, columns, names = self._table_columns(X, fitting=False)
        validate_data(self, X, reset=False, skip_check_array=True)
        roles = self.column_roles_
        for position in roles["m"]:
            if isinstance(X, pd.DataFrame) and pd.isna(columns[position]).any():
                raise _missing_error(f"{names[position]} (role 'm')")
        ix = self._role_index("x", [columns[j] for j in roles["x"]], [names[j] for j in roles["x"]])
        if self.variant != "conditional":
            return self.interventional_proba_[ix]
        if "a" not in roles:
            raise ValueError("variant='conditional' needs the auxiliary variable: fit was called without a.")
        ia = self._role_index("a", [columns[j] for j in roles["a"]], [names[j] for j in roles["a"]])
        return self.conditional_proba_[ix, ia]

    def predict(self, X):
        """Most probable outcome under the intervention, for each row of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features_in_)
            A table with the columns seen in fit (see `predict_proba`).

        Returns
        -------
        ndarray of shape (n_samples,)
            ``classes_[argmax(predict_proba(X), axis=1)]``.
        """
        proba = self.predict_proba(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(proba, axis=1)]

    # -- lazily computed tables -------------------------------------------

    def _names(self):
        """Axis labels used in error messages."""
        return {
            "x": self.treatment_values_,
            "a": self.auxiliary_values_,
            "m": self.mediator_values_,
        }

    def _table(self, variant):
        """Compute the table of ``variant`` from the counts and current params."""
        check_is_fitted(self, "counts_")
        self._validate_params()
        if "conditional" in (variant, self.variant) and self.auxiliary_values_ is None:
            raise ValueError(
                "variant='conditional' needs the auxiliary variable: fit was called without a."
            )
        return _tables(self.joint_, self.beta, variant, self.adjustment_set, self._names())

    @property
    def joint_(self):
        """Smoothed joint distribution over the observed combinations."""
        check_is_fitted(self, "counts_")
        self._validate_params()
        return _smoothed_joint(self.counts_, self.alpha)

    @property
    def interventional_proba_(self):
        """P_β(y | do(x)) for every treatment value, shape (n_x, n_y)."""
        if self.variant == "conditional":
            return self._table("covariate")
        return self._table(self.variant)

    @property
    def conditional_proba_(self):
        """P_β(y | do(x), a), shape (n_x, n_a, n_y); needs ``a`` at fit."""
        check_is_fitted(self, "counts_")
        if self.auxiliary_values_ is None:
            raise AttributeError("conditional_proba_ is only available when fit was given a.")
        return self._table("conditional")

    @property
    def observational_proba_(self):
        """Observational P(y | x), shape (n_x, n_y)."""
        return _observational_table(self.joint_)

    # -- accessors ----------------------------------------------------------

    def interventional_proba(self, x_values, a_values=None):
        r"""Interventional distributions for given treatment (and auxiliary) labels.

        Parameters
        ----------
        x_values : array-like of shape (n_queries,)
            Treatment labels seen during fit.
        a_values : array-like of shape (n_queries,), default=None
            Auxiliary labels, one per treatment label.  When given, the rows
            are $P_\beta(y \mid do(x), a)$ from
            `conditional_proba_`; otherwise $P_\beta(y \mid do(x))$
            from `interventional_proba_`.

        Returns
        -------
        ndarray of shape (n_queries, n_y)
            Columns in the order of `outcome_values_`.
        """
        check_is_fitted(self, "counts_")
        ix = _lookup(x_values, self.treatment_values_, "treatment")
        if a_values is None:
            return self.interventional_proba_[ix]
        if self.auxiliary_values_ is None:
            raise ValueError("a_values were given but fit was called without a.")
        ia = _lookup(a_values, self.auxiliary_values_, "auxiliary")
        if ia.shape != ix.shape:
            raise ValueError(
                f"x_values and a_values must have the same length; got {ix.size} and {ia.size}."
            )
        return self.conditional_proba_[ix, ia]

    def effect(self, treatment, control, a=None):
        """Interventional contrast ``P_β(y|do(treatment)) - P_β(y|do(control))``.

        Parameters
        ----------
        treatment, control : hashable
            Treatment labels seen during fit.
        a : hashable, default=None
            If given, the contrast within the auxiliary stratum ``a`` (rows of
            `conditional_proba_`).

        Returns
        -------
        ndarray of shape (n_y,)
            One difference per outcome value (order of `outcome_values_`).
        """
        a_values = None if a is None else _object_pair(a, a)
        rows = self.interventional_proba(_object_pair(treatment, control), a_values)
        return rows[0] - rows[1]


def _smoothed_joint(counts, alpha):
    """``(counts + alpha) / (N + alpha K)``, rejecting an alpha whose arithmetic over- or underflows."""
    total, cells = float(counts.sum()), counts.size
    with np.errstate(over="ignore"):
        denominator = total + alpha * cells
    if not np.isfinite(alpha) or not np.isfinite(denominator):
        raise ValueError(
            f"The alpha parameter of FrontDoorAdjustment must keep the smoothed total finite; got "
            f"alpha={alpha!r}, for which N + alpha * K = {total:g} + alpha * {cells} overflows. Use a "
            f"finite alpha below {np.finfo(float).max / (2 * cells):.3g}."
        )
    if alpha > 0 and alpha / denominator < np.finfo(float).tiny:
        raise ValueError(
            f"The alpha parameter of FrontDoorAdjustment is too small to smooth: alpha={alpha!r} gives "
            f"empty cells the probability alpha / (N + alpha * K) = {alpha / denominator:.3g}, below the "
            "smallest normal float. Use alpha=0 (no smoothing) or a larger alpha."
        )
    return (counts + alpha) / denominator


def _object_pair(first, second):
    """A length-2 1-D array holding two labels (labels may be tuples)."""
    pair = np.empty(2, dtype=object)
    pair[0], pair[1] = first, second
    return pair
