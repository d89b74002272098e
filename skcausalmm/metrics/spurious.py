"""Spurious sufficiency: how far spurious evidence alone reproduces a model's predictions.

Our definition (the paper that motivates it, Patil et al. 2023, introduces a metric of the same
name whose exact formula we could not read): an ERASER-style *sufficiency* (DeYoung et al.,
ACL 2020) in which the "rationale" is the spurious evidence. With ``c(x)`` the class the model
predicts on the full input and ``x_s`` the input that keeps only the spurious evidence::

    drop(x)     = p(c(x) | x) - p(c(x) | x_s)          ERASER sufficiency of the spurious part
    sufficiency = 1 - mean_x drop(x)                    higher: spurious evidence suffices more
    unchanged   = mean_x [argmax p(. | x_s) = c(x)]     share of predictions it alone keeps
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["spurious_sufficiency"]


def _keep_only(X, spurious, baseline, rng):
    """Copy of the dict input ``X`` with every modality not in ``spurious`` replaced by a baseline."""
    names = list(X.keys())
    keep = [spurious] if isinstance(spurious, str) else list(spurious)
    unknown = [m for m in keep if m not in names]
    if unknown or not keep:
        raise ValueError(f"spurious names modalities {unknown or keep!r} that are not in X (modalities {names}).")
    if set(keep) == set(names):
        raise ValueError("spurious names every modality of X: nothing would be removed.")
    out = {}
    n = None
    for name in names:
        value = np.asarray(X[name])
        n = value.shape[0] if n is None else n
        if name in keep:
            out[name] = value
        elif baseline == "mean":
            out[name] = np.repeat(value.mean(axis=0, keepdims=True), n, axis=0).astype(value.dtype)
        elif baseline == "zeros":
            out[name] = np.zeros_like(value)
        elif baseline == "shuffle":
            out[name] = value[rng.permutation(n)]
        else:
            raise ValueError(f"baseline must be 'mean', 'zeros' or 'shuffle', got {baseline!r}.")
    if type(X) is dict:
        return out
    try:  # ModalityDict, skorch's SliceDict: keep the container so that the estimator sees the same kind
        return type(X)(**out)
    except TypeError:
        return out


def spurious_sufficiency(estimator, X, y=None, spurious=None, *, baseline="mean", random_state=None):
    """How sufficient the spurious evidence alone is for a fitted classifier's predictions.

    An ERASER-style sufficiency (DeYoung et al., 2020) with the spurious evidence as the
    rationale; **this is our definition**, not a formula taken from Patil et al. (2023).
    ``c(x)`` is the class predicted on the full input and ``x_s`` the input with only the
    spurious evidence kept:

    * ``probability_drop = mean(p(c(x) | x) - p(c(x) | x_s))``: the ERASER sufficiency score
      (0 when the spurious evidence alone gives the same confidence);
    * ``sufficiency = 1 - probability_drop``: higher means the spurious evidence suffices more
      (a model that ignores it scores about ``1 - mean p(c(x) | x) + 1 / K`` or less);
    * ``unchanged``: the share of samples whose predicted class on ``x_s`` is still ``c(x)``;
    * ``accuracy`` (when ``y`` is given): accuracy on the full input, and
      ``accuracy_spurious_only``: accuracy on ``x_s``.

    Parameters
    ----------
    estimator : fitted classifier
        Anything with ``predict_proba`` and ``classes_`` (a ``Pipeline`` too: ``X`` is the
        raw input, and the removal happens before any preprocessing).
    X : dict-like of arrays, or any input the estimator takes
        Samples.
    y : array-like of shape (n_samples,) or None, default=None
        True labels, only for the accuracies.
    spurious : str, sequence of str or callable
        The modality (or modalities) that carry the spurious evidence: the others are replaced
        by ``baseline``; or a callable ``spurious(X) -> X_s`` that returns the input with only
        the spurious evidence kept (e.g. an image blanked except a patch).
    baseline : {"mean", "zeros", "shuffle"}, default="mean"
        What replaces a removed modality: its per-feature mean over ``X``, zeros, or the values
        of other samples (a random permutation: the modality keeps its marginal distribution
        but carries no information about the sample). Unused with a callable.
    random_state : int, RandomState instance or None, default=None
        Seed of the permutation for ``baseline="shuffle"``.

    Returns
    -------
    scores : dict
        ``sufficiency``, ``probability_drop``, ``unchanged`` and, with ``y``, ``accuracy`` and
        ``accuracy_spurious_only`` (floats).

    Raises
    ------
    ValueError
        If ``spurious`` is missing, names an unknown modality or all of them, or the callable's
        output does not give one prediction per sample.
    TypeError
        If ``spurious`` names modalities but ``X`` is not a mapping of modalities.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcausalmm.metrics import spurious_sufficiency
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> X = np.c_[y + rng.normal(0, 0.3, 200), rng.normal(size=200)]
    >>> clf = LogisticRegression().fit(X, y)
    >>> keep_noise = lambda X: np.c_[np.zeros(len(X)), X[:, 1]]   # only the noise column kept
    >>> round(spurious_sufficiency(clf, X, y, keep_noise)["unchanged"], 1) < 0.8
    True
    """
    if spurious is None:
        raise ValueError("spurious must name the spurious modality (or modalities) or be a callable.")
    rng = check_random_state(random_state)
    if callable(spurious):
        X_s = spurious(X)
    else:
        if not isinstance(X, Mapping):
            raise TypeError(
                "spurious names modalities, so X must be a dict (or ModalityDict) of modalities; "
                f"got {type(X).__name__}. Pass a callable that keeps only the spurious evidence instead."
            )
        X_s = _keep_only(X, spurious, baseline, rng)
    proba = np.asarray(estimator.predict_proba(X))
    proba_s = np.asarray(estimator.predict_proba(X_s))
    if proba_s.shape != proba.shape:
        raise ValueError(
            f"predict_proba on the spurious-only input has shape {proba_s.shape}, expected {proba.shape}: "
            "the spurious callable must keep every sample."
        )
    pred = proba.argmax(axis=1)
    rows = np.arange(proba.shape[0])
    drop = proba[rows, pred] - proba_s[rows, pred]
    scores = {
        "sufficiency": float(1.0 - drop.mean()),
        "probability_drop": float(drop.mean()),
        "unchanged": float(np.mean(proba_s.argmax(axis=1) == pred)),
    }
    if y is not None:
        classes = np.asarray(estimator.classes_)
        y = np.asarray(y)
        scores["accuracy"] = float(np.mean(classes[pred] == y))
        scores["accuracy_spurious_only"] = float(np.mean(classes[proba_s.argmax(axis=1)] == y))
    return scores
