"""Model selection that knows which parameters act at prediction time only.

:class:`FrontDoorBetaSearchCV` cross-validates the front-door classifier's ``beta`` (and,
optionally, the declared role of the auxiliary modality) with one network per fold and role:
every β is scored on the same fitted fold model, so a ``k``-fold search over ``B`` values and
``R`` roles trains ``k × R + 1`` networks where :class:`~sklearn.model_selection.GridSearchCV`
trains ``k × R × B + 1``.
"""

import numbers
import time

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, _fit_context, _safe_indexing
from .._core.validation import ModalityDict
from .estimator import FrontDoorMultimodalClassifier

__all__ = ["FrontDoorBetaSearchCV"]


def _rows(X):
    """A container scikit-learn's splitters and ``_safe_indexing`` can slice by rows."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            "Sparse input is not supported: the networks take dense arrays; densify with X.toarray() "
            "(or pass a dict of dense modality arrays)."
        )
    if isinstance(X, dict) and not isinstance(X, ModalityDict):
        return ModalityDict(X)
    if isinstance(X, ModalityDict) or hasattr(X, "iloc") or isinstance(X, np.ndarray):
        return X
    return np.asarray(X)


def _fit_and_score_betas(estimator, X, y, train, test, betas, scorer, sample_weight, role=None):
    """Fit one clone (with the role, if given) on ``train`` and score it on ``test`` for every β (no refit in between)."""
    start = time.perf_counter()
    fitted = clone(estimator) if role is None else clone(estimator).set_params(auxiliary=role)
    fit_params = {} if sample_weight is None else {"sample_weight": _safe_indexing(sample_weight, train)}
    fitted.fit(_safe_indexing(X, train), _safe_indexing(y, train), **fit_params)
    fit_time = time.perf_counter() - start
    X_test, y_test = _safe_indexing(X, test), _safe_indexing(y, test)
    scores = []
    for beta in betas:
        fitted.set_params(beta=beta)
        scores.append(float(scorer(fitted, X_test, y_test)))
    return scores, fit_time, time.perf_counter() - start - fit_time


class FrontDoorBetaSearchCV(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Cross-validated choice of the front-door ``beta`` with one fitted network per fold.

    ``beta`` is used at prediction time only (see
    :class:`~skcausalmm.FrontDoorMultimodalClassifier`), so each fold's network is trained
    once and scored at every β of ``betas``; the β with the best mean score is then used
    for one refit on the whole data. With ``groups`` and a group splitter such as
    :class:`~sklearn.model_selection.LeaveOneGroupOut`, each fold holds out whole
    environments, so the chosen β is the one that generalises to unseen environments.

    With ``roles=("view", "confounder")`` the declared role of the auxiliary modality is
    chosen too (one network per fold and role): whether the auxiliary modality reads a
    confounder cannot be told from the data of one environment, but held-out environments
    can show which role generalises. Without environments (plain k-fold) every fold comes
    from the training distribution, which rewards whatever predicts best there, confounder or
    not: the choice then only says which role fits the training distribution, not which
    one is robust.

    Parameters
    ----------
    estimator : FrontDoorMultimodalClassifier or None, default=None
        The classifier to tune (cloned; its own ``beta`` is ignored). None uses
        ``FrontDoorMultimodalClassifier()``.
    betas : array-like of float, default=(0.0, 0.25, 0.5, 0.75, 1.0)
        Candidate values of ``beta``, each in [0, 1].
    roles : list of {"view", "confounder"} or None, default=None
        Candidate values of the estimator's ``auxiliary``; None keeps the estimator's own.
    cv : int, cross-validation generator or iterable, default=5
        As in :class:`~sklearn.model_selection.GridSearchCV` (stratified k-fold for an int).
    scoring : str, callable or None, default=None
        Scorer; None uses the classifier's accuracy.
    refit : bool, default=True
        Refit the estimator on the whole data with the best β (needed for ``predict``).
    n_jobs : int or None, default=None
        Folds fitted in parallel (joblib; ``joblib.parallel_backend("dask")`` spreads them
        over a Dask cluster).
    verbose : int, default=0
        joblib verbosity.

    Attributes
    ----------
    cv_results_ : dict of str to ndarray
        One entry per (role, β): ``param_auxiliary``, ``param_beta``, ``params``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
        ``split<k>_test_score``, and ``mean_fit_time`` / ``mean_score_time`` (shared by the
        βs of a role, as one fit serves them all).
    best_index_ : int
        Index of the best candidate in ``cv_results_`` (ties go to the first).
    best_beta_ : float
        The chosen β.
    best_role_ : {"view", "confounder"}
        The chosen role of the auxiliary modality.
    best_params_ : dict
        ``{"auxiliary": best_role_, "beta": best_beta_}``.
    best_score_ : float
        Its mean cross-validated score.
    best_estimator_ : FrontDoorMultimodalClassifier
        The refit estimator, with ``beta=best_beta_`` (only with ``refit=True``).
    n_splits_ : int
        Number of folds.
    n_fits_ : int
        Networks trained: ``n_splits_`` per role (+ 1 with ``refit``).
    classes_ : ndarray
        Class labels of the refit estimator.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : refits per β; use it for parameters that change training.

    Examples
    --------
    >>> from skcausalmm import FrontDoorMultimodalClassifier
    >>> from skcausalmm.datasets import make_confounded_multimodal
    >>> from skcausalmm.model_selection import FrontDoorBetaSearchCV
    >>> data = make_confounded_multimodal(n_samples=300, random_state=0)
    >>> clf = FrontDoorMultimodalClassifier(max_epochs=2, hidden_size=16, random_state=0)
    >>> search = FrontDoorBetaSearchCV(clf, betas=[0.0, 0.5, 1.0], cv=3).fit(data.data, data.target)
    >>> search.n_fits_
    4
    >>> search.best_beta_ in (0.0, 0.5, 1.0)
    True
    """

    _parameter_constraints = {
        "estimator": [FrontDoorMultimodalClassifier, None],
        "betas": ["array-like"],
        "roles": [list, tuple, None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "n_jobs": [Interval(numbers.Integral, None, None, closed="neither"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        betas=(0.0, 0.25, 0.5, 0.75, 1.0),
        roles=None,
        cv=5,
        scoring=None,
        refit=True,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.betas = betas
        self.roles = roles
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _betas(self):
        try:
            betas = np.asarray(self.betas, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"betas must be real numbers in [0, 1], got {self.betas!r}.") from None
        if betas.size == 0 or not np.isfinite(betas).all() or (betas < 0).any() or (betas > 1).any():
            raise ValueError(f"betas must be a non-empty list of real numbers in [0, 1], got {self.betas!r}.")
        return [float(b) for b in betas]

    def _roles(self, estimator):
        if self.roles is None:
            return [estimator.auxiliary]
        roles = list(self.roles)
        bad = [r for r in roles if r not in ("view", "confounder")]
        if not roles or bad or len(set(roles)) != len(roles):
            raise ValueError(f"roles must list distinct values among 'view' and 'confounder', got {self.roles!r}.")
        return roles

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None, sample_weight=None):
        """Cross-validate every β with one network per fold, then refit with the best.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Training modalities (a plain dict is wrapped in a :class:`~skcausalmm.ModalityDict`
            so that it can be split by rows).
        y : array-like of shape (n_samples,)
            Class labels.
        groups : array-like of shape (n_samples,), default=None
            Group labels for group splitters (e.g. the environment of each sample).
        sample_weight : array-like of shape (n_samples,), default=None
            Passed, split by fold, to every fit (the scores are unweighted).

        Returns
        -------
        self : object
            The fitted search.
        """
        betas = self._betas()
        estimator = FrontDoorMultimodalClassifier() if self.estimator is None else self.estimator
        X = _rows(X)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y = np.asarray(y)
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity.")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
        cv = check_cv(self.cv, y, classifier=True)
        scorer = check_scoring(estimator, scoring=self.scoring)
        splits = list(cv.split(np.zeros((len(y), 1)), y, groups))
        roles = self._roles(estimator)
        role_given = self.roles is not None
        out = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_and_score_betas)(
                estimator, X, y, train, test, betas, scorer, sample_weight, role if role_given else None
            )
            for role in roles
            for train, test in splits
        )
        k = len(splits)
        # (n_splits, n_roles * n_betas): the βs of the first role, then of the next
        scores = np.hstack([np.array([o[0] for o in out[r * k : (r + 1) * k]]) for r in range(len(roles))])
        fit_times = np.repeat([np.mean([o[1] for o in out[r * k : (r + 1) * k]]) for r in range(len(roles))], len(betas))
        score_times = np.repeat(
            [np.mean([o[2] for o in out[r * k : (r + 1) * k]]) / len(betas) for r in range(len(roles))], len(betas)
        )
        mean = scores.mean(axis=0)
        candidates = [(role, beta) for role in roles for beta in betas]
        results = {
            "param_auxiliary": np.asarray([role for role, _ in candidates], dtype=object),
            "param_beta": np.asarray([beta for _, beta in candidates]),
            "params": [{"auxiliary": role, "beta": beta} for role, beta in candidates],
            "mean_test_score": mean,
            "std_test_score": scores.std(axis=0),
            "rank_test_score": rankdata(-mean, method="min").astype(np.int32),  # ties share a rank, as in GridSearchCV
            "mean_fit_time": fit_times,
            "mean_score_time": score_times,
        }
        for i in range(k):
            results[f"split{i}_test_score"] = scores[i]
        self.cv_results_ = results
        self.best_index_ = int(np.argmax(mean))
        self.best_role_, self.best_beta_ = candidates[self.best_index_]
        self.best_params_ = {"auxiliary": self.best_role_, "beta": self.best_beta_}
        self.best_score_ = float(mean[self.best_index_])
        self.n_splits_ = k
        self.n_fits_ = k * len(roles)
        if self.refit:
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
            best = clone(estimator).set_params(**self.best_params_)
            self.best_estimator_ = best.fit(X, y, **fit_params)
            self.classes_ = self.best_estimator_.classes_
            self.n_fits_ += 1
        return self

    def _refit_estimator(self):
        check_is_fitted(self, "cv_results_")
        if not self.refit:
            raise AttributeError(f"{type(self).__name__}(refit=False) has no refit estimator to predict with.")
        return self.best_estimator_

    @property
    def n_features_in_(self):
        """Number of input columns of the refit estimator (array or DataFrame input only)."""
        return self._refit_estimator().n_features_in_

    @property
    def feature_names_in_(self):
        """Column names of the refit estimator (DataFrame input only)."""
        return self._refit_estimator().feature_names_in_

    def predict_proba(self, X):
        """Class probabilities of the refit estimator (at ``best_beta_``).

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._refit_estimator().predict_proba(X)

    def predict(self, X):
        """Class labels of the refit estimator (at ``best_beta_``).

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self._refit_estimator().predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = FrontDoorMultimodalClassifier() if self.estimator is None else self.estimator
        inner_tags = inner.__sklearn_tags__()
        tags.input_tags = inner_tags.input_tags
        return tags
