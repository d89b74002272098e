"""What a front-door mediator says about the auxiliary modality: fresh linear probes (not the training adversary)."""

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["mediator_diagnostics"]


def _cv_accuracy(features, target, cv):
    """Held-out accuracy of a linear probe, and the majority-class rate (chance)."""
    target = np.asarray(target)
    _, counts = np.unique(target, return_counts=True)
    chance = float(counts.max() / counts.sum())
    if len(counts) < 2:
        return chance, chance
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    if counts.min() >= 2:
        folds = StratifiedKFold(min(cv, int(counts.min())), shuffle=True, random_state=0)
    else:  # a class seen once cannot be stratified
        folds = KFold(cv, shuffle=True, random_state=0)
    predicted = cross_val_predict(probe, features, target, cv=folds)
    return float(np.mean(predicted == target)), chance


def _cv_r2(features, target, y, cv):
    """Held-out R² of a ridge probe from ``features`` to each column of ``target``."""
    probe = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    folds = StratifiedKFold(cv, shuffle=True, random_state=0)
    predicted = cross_val_predict(probe, features, target, cv=folds.split(features, y))
    return r2_score(target, predicted, multioutput="raw_values")


def mediator_diagnostics(estimator, X, y, *, variables=None, cv=5):
    """Probe a fitted front-door classifier's mediator ``m`` for leakage of the auxiliary modality.

    The training adversary is easy to fool (a mediator can hide from one network and stay
    linearly readable), so this fits *fresh* linear probes, with ``cv``-fold held-out
    predictions, on ``m`` computed for ``X`` (training rows, or better rows held out from
    training):

    * ``label_accuracy``: a logistic probe ``m -> y`` (what the mediator keeps of the label),
      with ``label_chance`` the majority-class rate;
    * ``auxiliary_r2``: ridge probes ``m -> x_a`` for each column of the raw auxiliary input
      (flattened); the largest held-out R² over the columns (so that noise columns do not
      dilute it);
    * ``auxiliary_r2_given_label``: how much ``m`` adds to the one-hot label in predicting
      a column of ``x_a``, ``R²([m, y] -> x_a,j) - R²(y -> x_a,j)``, largest over the columns:
      what the mediator says about the auxiliary input *beyond the label*. Near 0 the
      mediator meets the label-conditional adversary's target; clearly positive, it leaks;
    * for every array in ``variables`` (e.g. a known confounder trace, or the content), a
      logistic probe's held-out accuracy ``<name>_accuracy`` and its ``<name>_chance``.

    Parameters
    ----------
    estimator : FrontDoorMultimodalClassifier
        A fitted front-door classifier with at least one auxiliary modality.
    X : dict, ModalityDict, array-like or DataFrame
        Samples with the modalities seen in ``fit``.
    y : array-like of shape (n_samples,)
        Their labels.
    variables : dict of str to array-like of shape (n_samples,), default=None
        Further discrete variables to decode from ``m``.
    cv : int, default=5
        Folds of the held-out probes.

    Returns
    -------
    scores : dict of str to float

    Examples
    --------
    >>> from skcausalmm import FrontDoorMultimodalClassifier
    >>> from skcausalmm.datasets import make_confounded_multimodal
    >>> from skcausalmm.metrics import mediator_diagnostics
    >>> d = make_confounded_multimodal(400, predominant="table", random_state=0)
    >>> clf = FrontDoorMultimodalClassifier(max_epochs=3, random_state=0).fit(d.data, d.target)
    >>> scores = mediator_diagnostics(clf, d.data, d.target, variables={"trace": d.trace})
    >>> sorted(scores)[:3]
    ['auxiliary_r2', 'auxiliary_r2_given_label', 'label_accuracy']
    """
    check_is_fitted(estimator, "net_")
    if not getattr(estimator, "auxiliary_modalities_", None):
        raise ValueError("mediator_diagnostics needs a front-door classifier fitted with an auxiliary modality.")
    mediator = estimator.mediator_features(X)
    data = estimator._validate_X(X, reset=False)
    y = np.asarray(y)
    if y.shape[0] != mediator.shape[0]:
        raise ValueError(f"X has {mediator.shape[0]} samples but y has {y.shape[0]}.")
    auxiliary = np.concatenate(
        [np.asarray(data[name], dtype=np.float64).reshape(len(y), -1) for name in estimator.auxiliary_modalities_], axis=1
    )
    keep = auxiliary.std(axis=0) > 0
    auxiliary = auxiliary[:, keep]
    classes, y_enc = np.unique(y, return_inverse=True)
    one_hot = np.eye(len(classes))[y_enc]
    scores = {}
    scores["label_accuracy"], scores["label_chance"] = _cv_accuracy(mediator, y, cv)
    if auxiliary.shape[1]:
        # the most-leaked column: noise columns of the auxiliary input cannot dilute the score
        scores["auxiliary_r2"] = float(np.max(_cv_r2(mediator, auxiliary, y_enc, cv)))
        gain = _cv_r2(np.hstack([mediator, one_hot]), auxiliary, y_enc, cv) - _cv_r2(one_hot, auxiliary, y_enc, cv)
        scores["auxiliary_r2_given_label"] = float(np.max(gain))
    for name, values in (variables or {}).items():
        values = np.asarray(values)
        if values.shape != (len(y),):
            raise ValueError(f"variables[{name!r}] must have shape ({len(y)},), got {values.shape}.")
        scores[f"{name}_accuracy"], scores[f"{name}_chance"] = _cv_accuracy(mediator, values, cv)
    return scores
