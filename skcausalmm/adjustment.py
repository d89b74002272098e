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
"""

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

__all__ = ["FrontDoorAdjustment", "PositivityError", "front_door_adjustment"]

_VARIANTS = ("conditional", "covariate", "mixture")
_ADJUSTMENT_SETS = ("X+A", "A")
_NORMALISATION_ATOL = 1e-6
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
    joint = np.asarray(joint, dtype=float)
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
    >>> from skcausalmm.adjustment import front_door_adjustment
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
# Estimator.
# ---------------------------------------------------------------------------


def _as_column(values, name):
    """Return ``values`` as a 1-D array, rejecting other shapes and missing values."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one discrete value per sample); got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; at least one sample is needed.")
    if np.any(pd.isna(arr)):
        raise ValueError(f"{name} contains missing values (NaN/None).")
    return arr


def _encode(arr):
    """Integer codes and labels of a 1-D array (sorted labels when sortable)."""
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError:  # mixed, unorderable labels: order of first appearance
        codes, labels = pd.factorize(arr, sort=False)
        labels = np.asarray(labels, dtype=object)
    return codes.reshape(-1), labels


def _lookup(values, labels, name):
    """Indices of ``values`` in ``labels``; ValueError naming unknown labels."""
    values = np.asarray(values)
    if values.ndim == 0:
        values = values.reshape(1)
    index = pd.Index(labels).get_indexer(values.ravel())
    if np.any(index < 0):
        unknown = list(dict.fromkeys(values.ravel()[index < 0].tolist()))
        raise ValueError(
            f"Unknown {name} value(s) {unknown[:10]}; fitted values are {labels.tolist()}."
        )
    return index


class FrontDoorAdjustment(BaseEstimator):
    r"""Exact β-generalised front-door adjustment estimated from discrete samples.

    The estimator counts the discrete columns ``x`` (treatment), ``m``
    (mediator), ``y`` (outcome) and optionally ``a`` (auxiliary, a
    pre-treatment variable), smooths the counts, and evaluates
    `front_door_adjustment` on the resulting joint distribution.

    Parameters
    ----------
    beta : float in [0, 1], default=1.0
        Weight of Pearl's front-door term; ``beta=1`` is Pearl's formula.
    variant : {"covariate", "mixture", "conditional"}, default="covariate"
        Population formula used for `interventional_proba_`.
        ``"conditional"`` needs ``a``; its population table is the
        $P(a)$-average of `conditional_proba_`, i.e. the same as
        ``"covariate"``.
    adjustment_set : {"X+A", "A"}, default="X+A"
        Adjustment set ``S`` of the ``"mixture"`` variant.
    alpha : float >= 0, default=0.0
        Additive (symmetric Dirichlet) smoothing: ``alpha`` is added to every
        cell of the count table over ``(x, a, m, y)`` (or ``(x, m, y)``)
        before normalising.  With ``alpha > 0`` every probability is positive,
        so no positivity error can occur and the output is finite.

    Attributes
    ----------
    treatment_values_ : ndarray of shape (n_x,)
        Observed treatment labels (sorted when sortable); the row order of the
        tables.
    mediator_values_ : ndarray of shape (n_m,)
        Observed mediator labels.
    outcome_values_ : ndarray of shape (n_y,)
        Observed outcome labels; the column order of the tables.
    auxiliary_values_ : ndarray of shape (n_a,) or None
        Observed auxiliary labels, or ``None`` when ``fit`` got no ``a``.
    counts_ : ndarray of shape (n_x, n_a, n_m, n_y) or (n_x, n_m, n_y)
        Raw (unsmoothed) counts of the observed combinations.
    joint_ : ndarray, same shape as ``counts_``
        Smoothed joint distribution ``(counts_ + alpha) / (N + alpha * K)``.
    interventional_proba_ : ndarray of shape (n_x, n_y)
        $P_\beta(y \mid do(x))$ under ``variant``.
    conditional_proba_ : ndarray of shape (n_x, n_a, n_y)
        $P_\beta(y \mid do(x), a)$ (only when ``fit`` got ``a``).
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

    The formulation is our own derivation, not the source paper's formula.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm.adjustment import FrontDoorAdjustment
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 2, 1000)
    >>> m = np.where(rng.random(1000) < 0.8, x, 1 - x)
    >>> y = np.where(rng.random(1000) < 0.7, m, 1 - m)
    >>> est = FrontDoorAdjustment().fit(x, m, y)
    >>> est.interventional_proba_.shape
    (2, 2)
    >>> est.effect(1, 0).round(2)  # truth: (0.8 - 0.2) * (0.7 - 0.3) = 0.24
    array([-0.28,  0.28])
    """

    _parameter_constraints = {
        "beta": [Interval(Real, 0, 1, closed="both")],
        "variant": [StrOptions(set(_VARIANTS))],
        "adjustment_set": [StrOptions(set(_ADJUSTMENT_SETS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, beta=1.0, variant="covariate", adjustment_set="X+A", alpha=0.0):
        self.beta = beta
        self.variant = variant
        self.adjustment_set = adjustment_set
        self.alpha = alpha

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, x, m, y, a=None):
        """Count the discrete samples.

        Parameters
        ----------
        x : array-like of shape (n_samples,)
            Treatment values (any hashable labels); at least two distinct.
        m : array-like of shape (n_samples,)
            Mediator values.
        y : array-like of shape (n_samples,)
            Outcome values.
        a : array-like of shape (n_samples,), default=None
            Auxiliary (pre-treatment) values; required for
            ``variant="conditional"``.

        Returns
        -------
        self : FrontDoorAdjustment
            The fitted estimator.

        Raises
        ------
        ValueError
            On inputs of different lengths, non 1-D or missing values, a
            single treatment value, ``variant="conditional"`` without ``a``.
        PositivityError
            If, with ``alpha=0``, a term needed by the current parameters
            divides by an empty cell.
        """
        columns = {"x": x, "m": m, "y": y}
        if a is not None:
            columns["a"] = a
        columns = {name: _as_column(v, name) for name, v in columns.items()}
        lengths = {name: arr.shape[0] for name, arr in columns.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise ValueError(f"x, m, y and a must have the same length; got {shown}.")
        if a is None and self.variant == "conditional":
            raise ValueError("variant='conditional' needs the auxiliary variable: pass a to fit.")

        encoded = {name: _encode(arr) for name, arr in columns.items()}
        if len(encoded["x"][1]) < 2:
            raise ValueError(
                f"x takes a single value ({encoded['x'][1][0]!r}); the interventional "
                "distribution needs at least two treatment values."
            )
        order = ("x", "a", "m", "y") if a is not None else ("x", "m", "y")
        shape = tuple(len(encoded[name][1]) for name in order)
        flat = np.ravel_multi_index(tuple(encoded[name][0] for name in order), shape)
        self.counts_ = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
        self.treatment_values_ = encoded["x"][1]
        self.mediator_values_ = encoded["m"][1]
        self.outcome_values_ = encoded["y"][1]
        self.auxiliary_values_ = encoded["a"][1] if a is not None else None
        # Evaluate once so that positivity errors surface at fit time.
        self._table(self.variant)
        return self

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
        counts = self.counts_.astype(float)
        return (counts + self.alpha) / (counts.sum() + self.alpha * counts.size)

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


def _object_pair(first, second):
    """A length-2 1-D array holding two labels (labels may be tuples)."""
    pair = np.empty(2, dtype=object)
    pair[0], pair[1] = first, second
    return pair
