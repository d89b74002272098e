"""Identifiability scores: how well a representation recovers known latent variables.

* linear R² of ``z_hat -> z_true``: a linear regression fitted on one part of the samples and
  scored on the rest (linear identifiability: 1 when ``z_hat`` is an invertible linear map of
  ``z_true``);
* linear R² of ``z_hat -> z_specific``: what the representation still says about latents it
  should have discarded (about 0 when they are discarded);
* the mean correlation coefficient (MCC): absolute Pearson correlations between the components
  of ``z_true`` and ``z_hat``, matched one-to-one by the Hungarian algorithm (scipy's
  ``linear_sum_assignment``), averaged over the matched pairs (1 when ``z_hat`` is a permutation
  and scaling of ``z_true``, the component-wise identifiability that ICA aims at).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

__all__ = ["identifiability_scores", "mean_corr_coef", "heldout_linear_r2"]


def _as_2d(a, name, allow_empty=False):
    a = check_array(a, ensure_2d=False, dtype=np.float64, input_name=name, ensure_min_features=0 if allow_empty else 1)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got an array with {a.ndim} dimensions.")
    return a


def mean_corr_coef(z_true, z_hat, return_matching=False):
    """Mean absolute Pearson correlation after matching components one to one.

    Parameters
    ----------
    z_true : array-like of shape (n_samples, k)
    z_hat : array-like of shape (n_samples, l)
        With ``l != k`` only ``min(k, l)`` pairs are matched (the MCC is their mean).
    return_matching : bool, default=False
        Also return the matched indices and the correlation matrix.

    Returns
    -------
    mcc : float
        In [0, 1].
    matching : tuple (rows, cols, corr), only when ``return_matching``
        ``z_true[:, rows[i]]`` is matched with ``z_hat[:, cols[i]]``; ``corr`` is the
        (k, l) matrix of absolute correlations.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm.metrics import mean_corr_coef
    >>> z = np.random.default_rng(0).normal(size=(200, 3))
    >>> round(mean_corr_coef(z, -3.0 * z[:, [2, 0, 1]]), 6)
    1.0
    """
    z_true, z_hat = _as_2d(z_true, "z_true"), _as_2d(z_hat, "z_hat")
    if z_true.shape[0] != z_hat.shape[0]:
        raise ValueError(f"z_true and z_hat must have the same number of samples, got {z_true.shape[0]} and "
                         f"{z_hat.shape[0]}.")
    k = z_true.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(z_true.T, z_hat.T)[:k, k:]
    corr = np.nan_to_num(np.abs(corr), nan=0.0)  # constant columns correlate with nothing
    rows, cols = linear_sum_assignment(-corr)
    mcc = float(corr[rows, cols].mean())
    if return_matching:
        return mcc, (rows, cols, corr)
    return mcc


def heldout_linear_r2(z_hat, target, test_size=0.5, random_state=0):
    """R² of a linear regression ``z_hat -> target``, fitted on one part, scored on the other.

    Parameters
    ----------
    z_hat : array-like of shape (n_samples, l)
    target : array-like of shape (n_samples, k)
    test_size : float, default=0.5
        Fraction of samples held out for scoring.
    random_state : int, RandomState instance or None, default=0
        Seeds the split.

    Returns
    -------
    r2 : float
        Uniform average over the target's columns of the held-out R² (can be negative).
    """
    z_hat, target = _as_2d(z_hat, "z_hat"), _as_2d(target, "target")
    n = z_hat.shape[0]
    if target.shape[0] != n:
        raise ValueError(f"z_hat and the target must have the same number of samples, got {n} and {target.shape[0]}.")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}.")
    n_test = int(round(n * test_size))
    if n_test < 2 or n - n_test < 2:
        raise ValueError(f"need at least 4 samples to fit and score a held-out R², got {n}.")
    perm = check_random_state(random_state).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    reg = LinearRegression().fit(z_hat[train], target[train])
    return float(r2_score(target[test], reg.predict(z_hat[test])))


def identifiability_scores(z_true, z_hat, z_specific=None, *, test_size=0.5, random_state=0):
    """Linear R², R² onto the specific latents, and MCC of a representation.

    Parameters
    ----------
    z_true : array-like of shape (n_samples, k)
        The latents the representation should recover (e.g. the coupled latents ``z_x``).
    z_hat : array-like of shape (n_samples, l)
        The representation (e.g. ``ContrastiveICA().fit(X).transform(X)``).
    z_specific : array-like of shape (n_samples, s) or None, default=None
        Latents the representation should have discarded (e.g. ``m_x``).
    test_size : float, default=0.5
        Fraction of samples held out to score the linear regressions.
    random_state : int, RandomState instance or None, default=0
        Seeds the train/test split of the regressions.

    Returns
    -------
    scores : dict
        ``"r2"``: held-out linear R² of ``z_hat -> z_true``; ``"r2_specific"``: the same onto
        ``z_specific`` (only when given and non-empty); ``"mcc"``: :func:`mean_corr_coef` of
        ``z_true`` and ``z_hat`` (on all samples; nothing is fitted).

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm.metrics import identifiability_scores
    >>> rng = np.random.default_rng(0)
    >>> z, m = rng.uniform(size=(500, 3)), rng.uniform(size=(500, 2))
    >>> s = identifiability_scores(z, 2.0 * z[:, ::-1] + 1.0, z_specific=m)
    >>> round(s["r2"], 6), round(s["mcc"], 6), bool(s["r2_specific"] < 0.05)
    (1.0, 1.0, True)
    """
    z_true, z_hat = _as_2d(z_true, "z_true"), _as_2d(z_hat, "z_hat")
    scores = {"r2": heldout_linear_r2(z_hat, z_true, test_size, random_state)}
    if z_specific is not None:
        z_specific = _as_2d(z_specific, "z_specific", allow_empty=True)
        if z_specific.shape[1] > 0:
            scores["r2_specific"] = heldout_linear_r2(z_hat, z_specific, test_size, random_state)
    scores["mcc"] = mean_corr_coef(z_true, z_hat)
    return scores
