"""Simulated missing modalities: the masking protocol of the RedCore paper."""

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_random_state

from .._core.validation import ModalityDict

__all__ = ["mask_modalities"]


def mask_modalities(X, missing_rates, random_state=None):
    """Return a copy of ``X`` in which random samples of each modality are missing (all NaN).

    For each modality independently, exactly ``floor(N * r_m)`` samples drawn
    at random without replacement become missing, as in the protocol of
    RedCore (Sun et al., AAAI 2024). A sample may so lose every modality; each
    such sample then swaps one modality with a sample that keeps two or more
    (both drawn at random), so that every sample keeps at least one modality
    and every modality's count stays ``floor(N * r_m)``.

    Parameters
    ----------
    X : dict or ModalityDict of str to array-like
        The complete modalities, sharing their first dimension.
    missing_rates : float or dict of str to float
        Missing rate in [0, 1) per modality (one float for all). Modalities
        not named in a dict keep every sample.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws.

    Raises
    ------
    ValueError
        When the rates leave no way for every sample to keep a modality
        (``sum_m floor(N r_m) > N (M - 1)``).

    Returns
    -------
    X_missing : ModalityDict
        A copy with float arrays whose missing samples are all NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm.datasets import mask_modalities
    >>> X = {"a": np.ones((10, 2)), "b": np.ones((10, 3))}
    >>> Xm = mask_modalities(X, {"a": 0.5, "b": 0.2}, random_state=0)
    >>> int(np.isnan(Xm["a"][:, 0]).sum()), int(np.isnan(Xm["b"][:, 0]).sum())
    (5, 2)
    """
    if not isinstance(X, Mapping) or not X:
        raise TypeError(f"X must be a non-empty dict of modalities, got {type(X).__name__}.")
    names = list(X)
    if isinstance(missing_rates, numbers.Real) and not isinstance(missing_rates, bool):
        rates = {name: float(missing_rates) for name in names}
    elif isinstance(missing_rates, Mapping):
        unknown = set(missing_rates) - set(names)
        if unknown:
            raise ValueError(f"missing_rates names unknown modalities {sorted(unknown)}; X has {names}.")
        rates = {name: float(missing_rates.get(name, 0.0)) for name in names}
    else:
        raise TypeError(f"missing_rates must be a float or a dict of floats, got {type(missing_rates).__name__}.")
    for name, rate in rates.items():
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"The missing rate of modality {name!r} must be in [0, 1), got {rate!r}.")
    n = len(np.asarray(X[names[0]]))
    rng = check_random_state(random_state)
    missing = {name: np.zeros(n, dtype=bool) for name in names}
    for name in names:
        missing[name][rng.choice(n, size=int(np.floor(n * rates[name])), replace=False)] = True
    counts = {name: int(np.floor(n * rates[name])) for name in names}
    if sum(counts.values()) > n * (len(names) - 1):
        raise ValueError(
            f"missing_rates {rates} make {sum(counts.values())} of {n * len(names)} blocks missing, so some "
            "sample would lose every modality; lower the rates."
        )
    # repair: a sample that lost every modality takes one back from a sample that keeps two or more,
    # which leaves every modality's count unchanged
    table = np.stack([missing[name] for name in names], axis=1)
    for row in np.flatnonzero(table.all(axis=1)):
        donors = np.flatnonzero((~table).sum(axis=1) >= 2)
        donor = donors[rng.randint(donors.size)]
        j = rng.choice(np.flatnonzero(~table[donor]))
        table[row, j], table[donor, j] = False, True
    missing = {name: table[:, j] for j, name in enumerate(names)}
    out = {}
    for name in names:
        array = np.array(X[name], dtype=np.float64 if np.asarray(X[name]).dtype != np.float32 else np.float32)
        array[missing[name]] = np.nan
        out[name] = array
    return ModalityDict(out)
