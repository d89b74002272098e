r"""Exact discrete β-generalised front-door adjustment.

This module computes, from a discrete observed joint distribution, the β-generalised
front-door adjustment of
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

:class:`~skcausalmm.adjustment.estimator.FrontDoorAdjustment` estimates the tables
from discrete samples (the counting is :mod:`skcausalmm.adjustment.counting`).
"""

from numbers import Real

import numpy as np

from .._compat import Interval, StrOptions, validate_params

__all__ = ["PositivityError", "front_door_adjustment"]

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
