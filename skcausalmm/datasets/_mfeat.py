"""Loader of the bundled UCI Multiple Features data set."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

from .._core.validation import ModalityDict

__all__ = ["load_multiple_features", "MFEAT_VIEWS"]

#: The six views, their per-sample shape as returned, and what they are.
MFEAT_VIEWS = {
    "pix": ((1, 16, 15), "240 pixel averages in 2 x 3 windows, as a 1 x 16 x 15 image"),
    "fou": ((76,), "76 Fourier coefficients of the character shapes"),
    "fac": ((216,), "216 profile correlations"),
    "kar": ((64,), "64 Karhunen-Loeve coefficients"),
    "zer": ((47,), "47 Zernike moments"),
    "mor": ((6,), "6 morphological features"),
}

DESCR = """UCI Multiple Features data set (handwritten digits)
=================================================

2,000 handwritten numerals '0'-'9' (200 per class) extracted from a
collection of Dutch utility maps, described by six feature sets (views):

- pix: 240 pixel averages in 2 x 3 windows (returned as a 1 x 16 x 15 image)
- fou: 76 Fourier coefficients of the character shapes
- fac: 216 profile correlations
- kar: 64 Karhunen-Loeve coefficients
- zer: 47 Zernike moments
- mor: 6 morphological features

The samples are ordered by class (200 of each digit in turn).
The views are naturally imbalanced: pix, fac and kar are strong on their
own, fou and zer weaker, mor weak.

Source and licence: Robert P.W. Duin and Martijn van Breukelen, "Multiple
Features", UCI Machine Learning Repository, https://doi.org/10.24432/C5HC70,
licensed under Creative Commons Attribution 4.0 International (CC BY 4.0).
The arrays are bundled unchanged except that pix is reshaped to an image.
"""


def load_multiple_features(*, views=None, return_X_y=False, image=True):
    """Load the UCI Multiple Features data set (bundled, CC BY 4.0).

    Parameters
    ----------
    views : list of str or None, default=None
        Views to return, among ``"pix"``, ``"fou"``, ``"fac"``, ``"kar"``,
        ``"zer"``, ``"mor"``; None returns all six.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    image : bool, default=True
        Return ``pix`` as an image of shape (n, 1, 16, 15); False keeps its
        240 columns.

    Returns
    -------
    data : Bunch
        ``data`` (a :class:`~skcausalmm.ModalityDict` of float32 arrays keyed by
        view name), ``target`` (int64 digit labels), ``target_names``,
        ``views`` (the per-view descriptions) and ``DESCR``. Only with
        ``return_X_y=False``.
    (data, target) : tuple
        With ``return_X_y=True``.

    Examples
    --------
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "mor"], return_X_y=True)
    >>> X["pix"].shape, X["mor"].shape, y.shape
    ((2000, 1, 16, 15), (2000, 6), (2000,))
    """
    if views is None:
        views = list(MFEAT_VIEWS)
    if isinstance(views, str):
        views = [views]
    views = list(views)
    unknown = [v for v in views if v not in MFEAT_VIEWS]
    if unknown or not views:
        raise ValueError(f"Unknown or no views {unknown}; choose from {list(MFEAT_VIEWS)}.")
    with resources.files("skcausalmm.data").joinpath("mfeat.npz").open("rb") as f:
        arrays = np.load(f)
        target = arrays["y"].astype(np.int64)
        data = {}
        for v in views:
            x = arrays[v].astype(np.float32)
            if v == "pix" and image:
                x = x.reshape((-1,) + MFEAT_VIEWS["pix"][0])
            data[v] = x
    data = ModalityDict(data)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        target_names=np.arange(10),
        views={v: MFEAT_VIEWS[v][1] for v in views},
        DESCR=DESCR,
    )
