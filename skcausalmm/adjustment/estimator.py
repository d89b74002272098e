"""The exact β-generalised front-door adjustment as a scikit-learn classifier, from discrete samples.

:class:`FrontDoorAdjustment` counts discrete samples (:mod:`~skcausalmm.adjustment.counting`),
smooths the counts and evaluates the β formula (:mod:`~skcausalmm.adjustment.formula`) on the
resulting joint distribution.
"""

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import assert_all_finite, check_array, check_consistent_length
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import Interval, StrOptions, _fit_context
from .counting import (
    _ROLE_NAMES,
    _ROLES,
    _column_codes,
    _count_table,
    _horner,
    _lookup,
    _missing_error,
    _outcome_column,
    _resolve_columns,
    _role_codes,
)
from .formula import _ADJUSTMENT_SETS, _VARIANTS, PositivityError, _observational_table, _tables, front_door_adjustment

__all__ = ["FrontDoorAdjustment", "PositivityError", "front_door_adjustment"]


class FrontDoorAdjustment(ClassifierMixin, BaseEstimator):
    r"""Exact β-generalised front-door adjustment estimated from discrete samples.

    The estimator counts discrete samples of the treatment ``x``, the mediator
    ``m``, the outcome ``y`` and optionally the auxiliary (pre-treatment)
    variable ``a``, smooths the counts, and evaluates `front_door_adjustment`
    on the resulting joint distribution.  It is fitted as every scikit-learn
    classifier is, ``fit(X, y)``: ``X`` is a 2-D array or DataFrame whose
    columns hold ``x``, ``m`` and optionally ``a`` (their roles given by
    ``columns``; by default x, m, then a), ``y`` the outcome.

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
        remaining columns (if any) form ``a``.

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
        ``{"x": [0], "m": [1], "a": [2]}``.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
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
    >>> est = FrontDoorAdjustment().fit(np.column_stack([x, m]), y)  # columns: x, then m
    >>> est.interventional_proba_.shape
    (2, 2)
    >>> est.effect(1, 0).round(2)  # truth: (0.8 - 0.2) * (0.7 - 0.3) = 0.24
    array([-0.28,  0.28])
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
    def fit(self, X, y):
        """Count the discrete samples.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The columns of the treatment, the mediator and optionally the
            auxiliary variable (roles given by ``columns``; by default x, m,
            then a). Any hashable labels; at least two distinct treatment
            values.
        y : array-like of shape (n_samples,)
            The outcome (discrete class labels).

        Returns
        -------
        self : FrontDoorAdjustment
            The fitted estimator.

        Raises
        ------
        ValueError
            On inputs of different lengths, missing or infinite values,
            complex data, a single treatment value, an outcome with continuous
            values, ``variant="conditional"`` without an auxiliary column,
            invalid ``columns``, or an ``alpha`` that over- or underflows.
        TypeError
            On unhashable values.
        PositivityError
            If, with ``alpha=0``, a term needed by the current parameters
            divides by an empty cell.
        """
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
                    f"{exc} X holds the columns of x, m (and a): stack 1-D columns first, e.g. "
                    "np.column_stack([x, m]) or pandas.DataFrame({'x': x, 'm': m, 'a': a})."
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
