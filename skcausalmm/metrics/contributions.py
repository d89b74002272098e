"""Modality contributions: per-modality scores, Shapley modality contributions, the imbalance summary.

* :func:`modality_scores`: accuracy and macro-F1 of each modality's own
  prediction (the network's per-modality heads, ``estimator.modality_proba``).
* :func:`shapley_contributions`: exact Shapley values of the modalities for a
  fitted estimator's score, absent modalities replaced by a baseline (zeros).
* :func:`imbalance_summary`: the dominant modality and its share.

All three accept a fitted estimator of this package or a ``Pipeline`` ending
in one (the preprocessing steps are applied first; modalities are removed at
the input of the final estimator, after scaling).
"""

import itertools
import math
from collections.abc import Mapping

import numpy as np
from sklearn.metrics import accuracy_score, check_scoring, f1_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._core.validation import modality_columns

__all__ = ["imbalance_summary", "modality_scores", "shapley_contributions"]


def _final_step(estimator, X):
    """Return the final estimator of a pipeline and X transformed by the steps before it."""
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            X = step.transform(X)
        estimator = estimator.steps[-1][1]
    return estimator, X


def modality_scores(estimator, X, y):
    """Accuracy and macro-F1 of each modality's own prediction.

    Each modality's prediction is the arg-max of its per-modality head
    (:meth:`~skcausalmm._core.base.MultimodalClassifierMixin.modality_proba`): a
    linear probe on detached features for late fusion and OGM-GE, the
    trained unimodal head for MMPareto, the shared head for MLA.

    Parameters
    ----------
    estimator : fitted classifier of skcausalmm, or a Pipeline ending in one
    X : dict, ModalityDict, array-like or DataFrame
        Samples with the modalities seen in ``fit``.
    y : array-like of shape (n_samples,)
        True labels.

    Returns
    -------
    scores : dict of str to dict
        ``{modality: {"accuracy": float, "f1_macro": float}}``.

    Examples
    --------
    >>> from skcausalmm import LateFusionClassifier
    >>> from skcausalmm.metrics import modality_scores
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "mor"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = LateFusionClassifier(max_epochs=3, random_state=0).fit(X, y)
    >>> sorted(modality_scores(clf, X, y))
    ['mor', 'pix']
    """
    final, Xt = _final_step(estimator, X)
    if not hasattr(final, "modality_proba"):
        raise TypeError(f"{type(final).__name__} has no modality_proba; modality_scores needs a skcausalmm classifier.")
    check_is_fitted(final)
    y = np.asarray(y)
    out = {}
    for name, proba in final.modality_proba(Xt).items():
        pred = final.classes_[np.argmax(proba, axis=1)]
        out[name] = {
            "accuracy": float(accuracy_score(y, pred)),
            "f1_macro": float(f1_score(y, pred, average="macro")),
        }
    return out


class _Masker:
    """Build the input of a coalition: modalities outside it replaced by a baseline."""

    def __init__(self, estimator, X, baseline):
        self.baseline = baseline
        self.scaling = getattr(estimator, "input_scaling_", None) or {}
        self.shapes = getattr(estimator, "modality_shapes_", {})
        if isinstance(X, Mapping):
            self.kind = "dict"
            self.X = {k: np.asarray(v) for k, v in X.items()}
            self.names = list(self.X)
            self.fill = {k: self._fill_value(k, v) for k, v in self.X.items()}
        else:
            self.kind = "table"
            is_frame = hasattr(X, "iloc")
            self.frame = X if is_frame else None
            self.X = X.to_numpy(dtype=np.float64, copy=True) if is_frame else np.array(X, dtype=np.float64)
            if self.X.ndim != 2:
                raise ValueError(f"Table input must be 2-D, got shape {self.X.shape}.")
            self.columns = modality_columns(
                getattr(estimator, "modalities", None), getattr(X, "columns", None), self.X.shape[1]
            )
            self.names = list(self.columns)
            self.fill = {k: self._fill_value(k, self.X[:, idx]) for k, idx in self.columns.items()}

    def _fill_value(self, name, array):
        if self.baseline in ("auto", "zeros"):
            if self.baseline == "auto" and name in self.scaling and name in self.shapes:
                # the value the estimator's input standardisation maps to zero: the training mean
                mean = np.broadcast_to(self.scaling[name][0], self.shapes[name])
                return mean.reshape((1,) + array.shape[1:]).astype(array.dtype)
            return np.zeros((1,) + array.shape[1:], dtype=array.dtype)
        if self.baseline == "mean":
            return array.mean(axis=0, keepdims=True).astype(array.dtype)
        raise ValueError(f"baseline must be 'auto', 'zeros' or 'mean', got {self.baseline!r}.")

    def __call__(self, coalition):
        if self.kind == "dict":
            return {
                k: (v if k in coalition else np.broadcast_to(self.fill[k], v.shape).copy()) for k, v in self.X.items()
            }
        out = self.X.copy()
        for name, idx in self.columns.items():
            if name not in coalition:
                out[:, idx] = self.fill[name]
        if self.frame is not None:
            return self.frame.__class__(out, columns=self.frame.columns, index=self.frame.index)
        return out


def _accuracy_from_parts(estimator, masker, y, coalitions):
    """Accuracy of every coalition from each modality's additive logit part, computed once.

    For a network whose logits are a sum of per-modality parts (it offers ``logit_parts``, see
    :mod:`skcausalmm.nn.contract`), a modality replaced by its baseline contributes its
    baseline's part: computing the parts of the data and of the baselines once and summing
    them per coalition gives the same predictions as scoring each masked input (which costs
    2^M passes of the network).
    """

    def parts(data):
        chunks = estimator._map_batches(data, lambda module, batch, mask: module.logit_parts(batch, mask))
        return {k: np.concatenate([c[k] for c in chunks]).astype(np.float64) for k in chunks[0]}

    observed = parts(masker.X)
    baselines = parts(masker.fill)  # one row per modality
    y = np.asarray(y)
    values = {}
    for key in coalitions:
        logits = sum(observed[k] if k in key else baselines[k] for k in observed)
        predicted = estimator.classes_[np.argmax(np.broadcast_to(logits, (len(y), logits.shape[1])), axis=1)]
        values[key] = float(np.mean(predicted == y))
    return values


def _additive_logits(estimator):
    """Whether the fitted network predicts ``softmax`` of a sum of per-modality parts (it offers ``logit_parts``)."""
    module = getattr(getattr(estimator, "net_", None), "module_", None)
    if not callable(getattr(module, "logit_parts", None)):
        return False
    return not callable(getattr(module, "predict_proba", None)) or bool(getattr(module, "softmax_of_logits", False))


def shapley_contributions(estimator, X, y, scoring="accuracy", baseline="auto", return_values=False):
    """Exact Shapley contributions of the modalities to a fitted estimator's score.

    The value of a coalition S of modalities is the estimator's score on
    ``X`` with the modalities outside S replaced by a baseline (the model is
    not refitted), ``v(S)``; the empty coalition is all-baseline input. The
    contribution of modality m is

    ``phi_m = sum_{S not containing m} |S|! (M - |S| - 1)! / M! [v(S + m) - v(S)]``

    over the 2^M coalitions (each evaluated once), so that ``sum_m phi_m =
    v(all) - v(empty)`` (efficiency).

    Parameters
    ----------
    estimator : fitted estimator, or a Pipeline
        Any fitted estimator of this package (or a Pipeline ending in one: the
        preprocessing steps are applied first and the modalities are removed
        at the input of the final estimator, so that "zeros" means zero after
        scaling). For a 2-D array or DataFrame input the modalities are the
        estimator's ``modalities`` column selectors (one modality ``"X"`` when
        None).
    X : dict, ModalityDict, array-like or DataFrame
        Evaluation samples.
    y : array-like of shape (n_samples,)
        True labels.
    scoring : str or callable, default="accuracy"
        A scikit-learn scorer name or a callable ``scorer(estimator, X, y)``.
    baseline : {"auto", "zeros", "mean"}, default="auto"
        Replacement of an absent modality: ``"zeros"``; its mean over ``X``;
        or ``"auto"``: the value that the estimator's input standardisation
        maps to zero (the modality's training mean) when it standardises
        (``standardize=True``), else zeros.
    return_values : bool, default=False
        Also return the coalition values.

    Returns
    -------
    contributions : dict of str to float
        ``phi_m`` per modality, in the order of the input's modalities.
    values : dict of frozenset to float
        ``v(S)`` per coalition; only with ``return_values=True``.

    Examples
    --------
    >>> from skcausalmm import LateFusionClassifier
    >>> from skcausalmm.metrics import shapley_contributions
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "mor"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = LateFusionClassifier(max_epochs=3, random_state=0).fit(X, y)
    >>> phi = shapley_contributions(clf, X, y)
    >>> sorted(phi)
    ['mor', 'pix']
    """
    final, Xt = _final_step(estimator, X)
    check_is_fitted(final)
    scorer = check_scoring(final, scoring=scoring)
    masker = _Masker(final, Xt, baseline)
    names = masker.names
    n_mod = len(names)
    coalitions = [frozenset(s) for size in range(n_mod + 1) for s in itertools.combinations(names, size)]
    if scoring == "accuracy" and masker.kind == "dict" and _additive_logits(final):
        values = _accuracy_from_parts(final, masker, y, coalitions)
    else:
        values = {key: float(scorer(final, masker(key), y)) for key in coalitions}
    phi = {}
    for m in names:
        others = [k for k in names if k != m]
        total = 0.0
        for size in range(n_mod):
            weight = math.factorial(size) * math.factorial(n_mod - size - 1) / math.factorial(n_mod)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                total += weight * (values[s | {m}] - values[s])
        phi[m] = total
    if return_values:
        return phi, values
    return phi


def imbalance_summary(contributions):
    """Summarise Shapley contributions: the dominant modality and its share.

    Parameters
    ----------
    contributions : dict of str to float
        Output of :func:`shapley_contributions`.

    Returns
    -------
    summary : dict
        ``dominant`` (the modality with the largest contribution),
        ``dominant_share`` (its contribution over the sum of the positive
        ones; NaN when none is positive), ``shares`` (every modality's
        positive part over that sum) and ``total`` (the sum of all
        contributions, ``v(all) - v(empty)``).

    Examples
    --------
    >>> from skcausalmm.metrics import imbalance_summary
    >>> s = imbalance_summary({"pix": 0.6, "mor": 0.2})
    >>> s["dominant"], round(s["dominant_share"], 2)
    ('pix', 0.75)
    """
    if not contributions:
        raise ValueError("contributions is empty.")
    items = {k: float(v) for k, v in contributions.items()}
    dominant = max(items, key=items.get)
    positive = sum(v for v in items.values() if v > 0)
    if positive > 0:
        shares = {k: max(v, 0.0) / positive for k, v in items.items()}
        share = shares[dominant]
    else:
        shares = {k: float("nan") for k in items}
        share = float("nan")
    return {"dominant": dominant, "dominant_share": share, "shares": shares, "total": sum(items.values())}
