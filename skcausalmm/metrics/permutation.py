"""Permutation importance of whole modalities.

scikit-learn's :func:`~sklearn.inspection.permutation_importance` permutes one
column of one 2-D table at a time: it cannot permute a modality of a dict
input, nor the columns of one modality of a table together.
:func:`modality_permutation_importance` permutes a modality's block (every
axis of a sample kept together) across the samples and reports the drop in
the fitted estimator's score, with scikit-learn's conventions (``scoring``,
``n_repeats``, ``random_state``, ``sample_weight``, ``n_jobs``, the result's
fields).
"""

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_array, check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, validate_params
from .._core.validation import _take_rows, _to_numpy, check_same_length, modality_columns

__all__ = ["modality_permutation_importance"]


def _final_estimator(estimator):
    """The last step of a Pipeline (the estimator itself otherwise) and whether steps come before it."""
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps[:-1] if step is not None and step != "passthrough"]
        return estimator.steps[-1][1], bool(steps)
    return estimator, False


def _all_nan_rows(array):
    """Rows in which every value of a block is NaN (a missing modality)."""
    array = np.asarray(array)
    n = array.shape[0]
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            return np.zeros(n, dtype=bool)
    if array.dtype.kind not in "fc" or array.size == 0:
        return np.zeros(n, dtype=bool)
    return np.isnan(array.reshape(n, -1)).all(axis=1)


def _modality_order(found, fitted, transformed):
    """The modalities to permute: those seen in fit (in their order), checked against those of X."""
    if not fitted or (transformed and set(found) != set(fitted)):
        return list(found)  # no fitted names, or pipeline steps that change the modalities
    lacking = [name for name in fitted if name not in found]
    if lacking:
        raise ValueError(f"X lacks the modalities {lacking} that the estimator was fitted on; expected {list(fitted)}.")
    unseen = [name for name in found if name not in fitted]
    if unseen:
        raise ValueError(
            f"X has the modalities {unseen}, which the estimator was not fitted on; expected {list(fitted)}."
        )
    return list(fitted)


class _PermutableInput:
    """The modality blocks of an input, and copies of it with one block's rows permuted.

    A dict is permuted block by block (the other blocks are shared, not copied);
    a table (2-D array or DataFrame) by the columns of each modality's selector.
    """

    def __init__(self, final, X, transformed):
        fitted = getattr(final, "modality_names_", None)
        if isinstance(X, Mapping):
            self.kind = "dict"
            self.X = X
            self.names = _modality_order(list(X), fitted, transformed)
            blocks = {name: _to_numpy(name, X[name]) for name in self.names}
            for name, block in blocks.items():
                if len(getattr(block, "shape", ())) == 0:
                    raise ValueError(f"Modality {name!r} must be an array with a sample axis.")
            check_same_length(blocks)
            missing = {name: _all_nan_rows(block) for name, block in blocks.items()}
        else:
            self.kind = "table"
            self.frame = hasattr(X, "iloc")
            self.X = X if self.frame else check_array(X, ensure_all_finite="allow-nan", dtype=None)
            if self.X.ndim != 2:
                raise ValueError(f"Table input must be 2-D, got shape {self.X.shape}.")
            columns = modality_columns(getattr(final, "modalities", None), getattr(X, "columns", None), self.X.shape[1])
            if fitted and set(columns) != set(fitted):
                raise ValueError(
                    f"X is a 2-D table, which {type(final).__name__}'s `modalities` split into {list(columns)}, "
                    f"but it was fitted on the modalities {list(fitted)}: pass X as a dict of these modalities "
                    "(or a table with the estimator fitted on it, with `modalities=` column selectors)."
                )
            self.names = [name for name in fitted if name in columns] if fitted else list(columns)
            self.columns = {name: columns[name] for name in self.names}
            values = self.X.to_numpy() if self.frame else self.X
            missing = {name: _all_nan_rows(values[:, idx]) for name, idx in self.columns.items()}
        self.n = len(next(iter(missing.values()))) if missing else 0
        self.missing = missing

    def stranded(self, name):
        """Rows in which every modality but ``name`` is missing: they need a present ``name`` block."""
        rows = np.ones(self.n, dtype=bool)
        for other, absent in self.missing.items():
            if other != name:
                rows &= absent
        return rows

    def draw(self, name, rng):
        """A random permutation of the rows of modality ``name`` (``perm[i]``: the row that goes to row ``i``).

        A missing block moves with the others, except onto a row whose other modalities are all
        missing (that sample would have none left): such rows draw from the present blocks. The
        permutation is uniform over those that leave every sample a present modality.
        """
        stranded = self.stranded(name) if len(self.missing) > 1 and self.missing[name].any() else None
        if stranded is None or not stranded.any():
            return rng.permutation(self.n)
        present = np.flatnonzero(~self.missing[name])
        targets = np.flatnonzero(stranded)
        if targets.size > present.size:
            raise ValueError(
                f"Every modality is missing (all NaN) in some rows of X; a sample needs at least one present "
                f"modality, so modality {name!r} cannot be permuted. Drop those rows."
            )
        perm = np.empty(self.n, dtype=np.intp)
        chosen = rng.choice(present, size=targets.size, replace=False)
        perm[targets] = chosen
        left = np.ones(self.n, dtype=bool)
        left[chosen] = False
        perm[~stranded] = rng.permutation(np.flatnonzero(left))
        return perm

    def workspace(self):
        """A container to write permuted blocks into (a copy of a table; a shallow copy of a dict)."""
        if self.kind == "dict":
            return dict(self.X)
        return self.X.copy()

    def permuted(self, work, name, perm):
        """``work`` with modality ``name``'s rows taken from the original input in the order ``perm``."""
        if self.kind == "dict":
            block = self.X[name]
            rows = _take_rows(block, perm)
            if hasattr(block, "iloc"):
                rows.index = block.index
            work[name] = rows
            if type(self.X) is dict:
                return work
            try:
                return type(self.X)(work)  # a ModalityDict stays one
            except TypeError:  # pragma: no cover - mappings that cannot be built from a dict
                return work
        idx = self.columns[name]
        if self.frame:
            for j in idx:  # column by column: each keeps its dtype
                work.isetitem(int(j), self.X.iloc[perm, int(j)].to_numpy())
        else:
            work[:, idx] = self.X[np.ix_(perm, idx)]
        return work


def _weights_scorer(scorer, estimator, X, y, sample_weight):
    if sample_weight is not None:
        return scorer(estimator, X, y, sample_weight=sample_weight)
    return scorer(estimator, X, y)


def _permutation_scores(estimator, source, name, y, sample_weight, scorer, n_repeats, seed):
    """Scores of ``estimator`` with modality ``name`` permuted, ``n_repeats`` times."""
    rng = check_random_state(seed)
    work = source.workspace()
    scores = [
        _weights_scorer(scorer, estimator, source.permuted(work, name, source.draw(name, rng)), y, sample_weight)
        for _ in range(n_repeats)
    ]
    if isinstance(scores[0], dict):
        return {key: np.array([s[key] for s in scores], dtype=np.float64) for key in scores[0]}
    return np.array(scores, dtype=np.float64)


def _importances_bunch(baseline, permuted, names):
    """The drop in score, its mean and standard deviation over the repeats (one row per modality)."""
    importances = baseline - np.asarray(permuted, dtype=np.float64).reshape(len(names), -1)
    return Bunch(
        importances_mean=np.mean(importances, axis=1),
        importances_std=np.std(importances, axis=1),
        importances=importances,
        modality_names=list(names),
    )


@validate_params(
    {
        "scoring": [str, callable, list, tuple, dict, None],
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "sample_weight": ["array-like", None],
        "n_jobs": [numbers.Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def modality_permutation_importance(
    estimator, X, y, *, scoring=None, n_repeats=5, random_state=None, sample_weight=None, n_jobs=None
):
    """Permutation importance of each modality of a fitted estimator.

    The estimator is scored on ``X`` (the baseline); then, for each modality,
    that modality's rows are shuffled across the samples (the whole block of a
    sample moves together: every column of a table, every channel and pixel of
    an image) while the other modalities stay in place, and the estimator is
    scored again. The importance of the modality is the baseline score minus
    the score with it permuted, over ``n_repeats`` permutations. The model is
    not refitted.

    A missing block (all NaN) moves with the rest of its modality, except onto
    a sample whose other modalities are all missing, which would have none
    left: such samples receive a present block (the permutation is drawn
    uniformly among those that leave every sample a present modality).

    Parameters
    ----------
    estimator : fitted estimator, or a Pipeline
        Any fitted estimator that accepts ``X`` (an estimator of this package
        or a Pipeline ending in one). The modalities are permuted at the
        estimator's input, before any preprocessing step.
    X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
        Evaluation samples. A dict has the modalities seen in ``fit`` (its
        rows are ordered as the fitted ``modality_names_``). A 2-D array or
        DataFrame is split into modalities by the estimator's ``modalities``
        column selectors (one modality ``"X"`` of every column when None), and
        the columns of each modality are permuted together.
    y : array-like of shape (n_samples,) or None
        True labels (None for a scorer that needs none).
    scoring : str, callable, list, tuple, dict or None, default=None
        None: the estimator's ``score`` method (accuracy for a classifier); a
        scikit-learn scorer name or a callable ``scorer(estimator, X, y)``;
        or several scores (a list or tuple of names, or a dict of name to
        scorer), as in :func:`sklearn.inspection.permutation_importance`.
    n_repeats : int, default=5
        Number of times each modality is permuted.
    random_state : int, RandomState instance or None, default=None
        Seed of the permutations. Every modality is permuted with the same
        sequence of random draws (as scikit-learn permutes every feature);
        pass an int for reproducible results.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights of the scores.
    n_jobs : int or None, default=None
        Number of jobs scoring modalities in parallel (joblib); None means 1
        unless in a :func:`joblib.parallel_backend` context, -1 all processors.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch` or dict of such
        importances_mean : ndarray of shape (n_modalities,)
            Mean of the importance over the repeats.
        importances_std : ndarray of shape (n_modalities,)
            Standard deviation over the repeats.
        importances : ndarray of shape (n_modalities, n_repeats)
            The importance of every repeat.
        modality_names : list of str
            The modality of each row.

        With several scores, a dict of such Bunches, one per score name.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If ``X`` lacks a modality seen in fit or has one not seen in fit, if
        a table does not split into the fitted modalities, if ``y`` or
        ``sample_weight`` does not have one entry per sample, or if
        ``n_repeats`` is smaller than 1.

    See Also
    --------
    sklearn.inspection.permutation_importance : The same for single columns of a table.
    shapley_contributions : Contributions of modalities removed (set to a baseline), not permuted.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm import LateFusionClassifier
    >>> from skcausalmm.metrics import modality_permutation_importance
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 60)
    >>> X = {"signal": y[:, None] + 0.3 * rng.normal(size=(60, 2)), "noise": rng.normal(size=(60, 3))}
    >>> clf = LateFusionClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> result = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=0)
    >>> result.modality_names, result.importances.shape
    (['signal', 'noise'], (2, 3))
    >>> result.modality_names[result.importances_mean.argmax()]
    'signal'
    """
    final, transformed = _final_estimator(estimator)
    check_is_fitted(estimator)
    source = _PermutableInput(final, X, transformed)
    if y is not None and np.shape(y)[:1] != (source.n,):
        raise ValueError(f"X has {source.n} samples but y has {np.shape(y)[0] if np.ndim(y) else 0}.")
    if sample_weight is not None and np.shape(sample_weight) != (source.n,):
        raise ValueError(
            f"sample_weight must have shape ({source.n},), one weight per sample of X; got {np.shape(sample_weight)}."
        )
    # one seed for every modality (scikit-learn's convention), drawn so that parallel jobs get the same draws
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    scorer = check_scoring(estimator, scoring=scoring)
    baseline = _weights_scorer(scorer, estimator, X, y, sample_weight)
    scores = Parallel(n_jobs=n_jobs)(
        delayed(_permutation_scores)(estimator, source, name, y, sample_weight, scorer, n_repeats, seed)
        for name in source.names
    )
    if isinstance(baseline, dict):
        return {
            key: _importances_bunch(float(baseline[key]), [s[key] for s in scores], source.names) for key in baseline
        }
    return _importances_bunch(float(baseline), scores, source.names)
