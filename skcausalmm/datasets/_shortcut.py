"""A shortcut benchmark on the bundled real data: real views plus a spurious cue.

The UCI Multiple Features digits (:func:`~skcausalmm.datasets.load_multiple_features`) are
split once into a training and a held-out part. Every sample gets a *shortcut label* ``S``::

    S = Y                         with probability p          (p = p_train in training)
    S ~ Uniform(other classes)    otherwise

rendered either as an extra tabular modality (``one_hot(S)`` plus Gaussian noise) or as a
bright patch at one of ``K`` class-specific positions along the border of the ``pix`` image.
The held-out samples are returned twice, with the same real views: once with the training
agreement (in distribution) and once with ``p = 1 / K`` (out of distribution: ``S`` is then
independent of ``Y``, so the cue is uninformative). A model that leans on the cue loses
accuracy out of distribution; one that reads the digits does not.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state

from .._core.validation import ModalityDict
from ._mfeat import MFEAT_VIEWS, load_multiple_features

__all__ = ["make_shortcut_multimodal", "shortcut_patch_positions"]

_N_CLASSES = 10
_PATCH = 2


def _check_probability(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}.")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
    return value


def _check_nonnegative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}.")
    return float(value)


def shortcut_patch_positions(height=16, width=15, n_classes=_N_CLASSES, patch=_PATCH):
    """Top-left corners of the class-specific shortcut patches, spread along the image border.

    Parameters
    ----------
    height, width : int, default=16, 15
        Image size (that of the ``pix`` view).
    n_classes : int, default=10
        Number of positions.
    patch : int, default=2
        Patch side.

    Returns
    -------
    positions : ndarray of shape (n_classes, 2)
        ``(row, column)`` of each class's patch; distinct, non-overlapping.
    """
    ring = [(0, c) for c in range(0, width - patch + 1, patch)]
    ring += [(r, width - patch) for r in range(patch, height - patch + 1, patch)]
    ring += [(height - patch, c) for c in range(width - 2 * patch, -1, -patch)]
    ring += [(r, 0) for r in range(height - 2 * patch, patch - 1, -patch)]
    # drop overlapping corners produced by odd sizes
    kept = []
    for r, c in ring:
        if all(abs(r - r2) >= patch or abs(c - c2) >= patch for r2, c2 in kept):
            kept.append((r, c))
    if n_classes > len(kept):
        raise ValueError(f"At most {len(kept)} patch positions fit on a {height}x{width} border, got {n_classes}.")
    index = np.floor(np.arange(n_classes) * len(kept) / n_classes).astype(int)
    return np.array([kept[i] for i in index])


def _draw_shortcut(target, p, rng, n_classes):
    """``S = Y`` with probability ``p``, else uniform over the other classes."""
    n = target.shape[0]
    other = (target + rng.randint(1, n_classes, size=n)) % n_classes
    return np.where(rng.uniform(size=n) < p, target, other)


def _render(views, shortcut, rendering, rng, noise, n_noise_features, patch_value, image_noise):
    data = {v: np.array(x, dtype=np.float32, copy=True) for v, x in views.items()}
    n = shortcut.shape[0]
    if rendering == "modality":
        block = np.eye(_N_CLASSES, dtype=np.float64)[shortcut] + noise * rng.standard_normal((n, _N_CLASSES))
        if n_noise_features:
            block = np.concatenate([block, rng.standard_normal((n, n_noise_features))], axis=1)
        data["shortcut"] = block.astype(np.float32)
    else:
        image = data["pix"]
        positions = shortcut_patch_positions(image.shape[-2], image.shape[-1])
        corner = positions[shortcut]
        rows = np.arange(n)
        for dr in range(_PATCH):
            for dc in range(_PATCH):
                image[rows, 0, corner[:, 0] + dr, corner[:, 1] + dc] = patch_value
        image += image_noise
    return ModalityDict(data)


def make_shortcut_multimodal(
    views=("pix", "fou"),
    shortcut="modality",
    p_train=0.9,
    p_test=None,
    *,
    test_size=0.3,
    shortcut_noise=0.1,
    n_noise_features=0,
    patch_value=None,
    random_state=None,
):
    """Real multimodal digits plus a shortcut that agrees with the label in training only.

    The bundled UCI Multiple Features data (2,000 digits, 10 classes) is split (stratified,
    seeded by ``random_state``) into a training part and a held-out part. A shortcut label
    ``S`` is drawn per sample: ``S = Y`` with probability ``p`` and uniform over the nine other
    classes otherwise, so ``P(S = Y) = p`` exactly. It is rendered as

    * ``shortcut="modality"``: an extra tabular modality ``"shortcut"`` with
      ``one_hot(S) + shortcut_noise * N(0, 1)`` (10 columns) followed by
      ``n_noise_features`` standard Gaussian columns; the real views are unchanged;
    * ``shortcut="patch"``: a ``2 x 2`` patch of value ``patch_value`` at one of ten
      class-specific positions along the border of the ``pix`` image
      (:func:`shortcut_patch_positions`), plus ``shortcut_noise`` Gaussian pixel noise on the
      whole image; no extra modality.

    The held-out samples come twice with identical real views (and pixel noise): ``test_id`` with ``p = p_train``
    (in distribution) and ``test_ood`` with ``p = p_test`` (default ``1 / 10``: ``S`` is then
    independent of ``Y``, the cue carries no information). Each call with the same
    ``random_state`` returns the same sets; different seeds give different splits and draws.

    Parameters
    ----------
    views : sequence of str, default=("pix", "fou")
        The real views (see :func:`load_multiple_features`); ``"pix"`` is an image of shape
        ``(1, 16, 15)``. It must be among them for ``shortcut="patch"``.
    shortcut : {"modality", "patch"}, default="modality"
        Rendering of the shortcut.
    p_train : float, default=0.9
        Probability that the shortcut agrees with the label in training (and ``test_id``).
    p_test : float or None, default=None
        Agreement probability of ``test_ood``; None means ``1 / 10`` (uninformative).
    test_size : float, default=0.3
        Held-out fraction, in (0, 1).
    shortcut_noise : float, default=0.1
        Standard deviation of the Gaussian noise on the shortcut modality (``"modality"``) or
        on the image (``"patch"``).
    n_noise_features : int, default=0
        Pure-noise columns appended to the shortcut modality (``"modality"`` only).
    patch_value : float or None, default=None
        Value of the patch pixels; None means twice the largest ``pix`` value (12.0), outside
        the range of the real pixels.
    random_state : int, RandomState instance or None, default=None
        Seed of the split and of every draw.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``train``, ``test_id`` and ``test_ood``, each a Bunch with ``data`` (a
        :class:`~skcausalmm.ModalityDict` of float32 arrays), ``target`` (int64 digits),
        ``shortcut`` (int64 shortcut labels) and ``agreement`` (the realised share of
        ``shortcut == target``); ``modalities`` (the modality names), ``spurious`` (the name of
        the spurious modality, or ``None`` for the patch), ``patch_positions`` (for the
        patch), ``params`` and ``DESCR``.

    Raises
    ------
    ValueError
        If a parameter is out of range or ``shortcut="patch"`` without the ``pix`` view.

    Examples
    --------
    >>> from skcausalmm.datasets import make_shortcut_multimodal
    >>> d = make_shortcut_multimodal(random_state=0)
    >>> sorted(d.train.data), d.train.data["shortcut"].shape, d.test_ood.data["pix"].shape
    (['fou', 'pix', 'shortcut'], (1400, 10), (600, 1, 16, 15))
    """
    if isinstance(views, str):
        views = [views]
    views = list(views)
    unknown = [v for v in views if v not in MFEAT_VIEWS]
    if unknown or not views or len(set(views)) != len(views):
        raise ValueError(f"views must be distinct names among {list(MFEAT_VIEWS)}, got {views!r}.")
    if shortcut not in ("modality", "patch"):
        raise ValueError(f"shortcut must be 'modality' or 'patch', got {shortcut!r}.")
    if shortcut == "patch" and "pix" not in views:
        raise ValueError("shortcut='patch' draws the patch into the 'pix' image: include 'pix' in views.")
    p_train = _check_probability(p_train, "p_train")
    p_test = 1.0 / _N_CLASSES if p_test is None else _check_probability(p_test, "p_test")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a float in (0, 1), got {test_size!r}.")
    shortcut_noise = _check_nonnegative(shortcut_noise, "shortcut_noise")
    if isinstance(n_noise_features, bool) or not isinstance(n_noise_features, numbers.Integral) or n_noise_features < 0:
        raise ValueError(f"n_noise_features must be a non-negative integer, got {n_noise_features!r}.")
    rng = check_random_state(random_state)

    X, y = load_multiple_features(views=views, return_X_y=True)
    if patch_value is None:
        patch_value = 2.0 * float(X["pix"].max()) if "pix" in views else 0.0
    patch_value = float(patch_value)
    seed = rng.randint(np.iinfo(np.int32).max)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed)

    def image_noise(idx):
        if shortcut != "patch":
            return None
        return (shortcut_noise * rng.standard_normal((len(idx),) + X["pix"].shape[1:])).astype(np.float32)

    def part(idx, p, noise):
        target = y[idx]
        s = _draw_shortcut(target, p, rng, _N_CLASSES)
        data = _render({v: X[v][idx] for v in views}, s, shortcut, rng, shortcut_noise, int(n_noise_features),
                       patch_value, noise)
        return Bunch(data=data, target=target.astype(np.int64), shortcut=s.astype(np.int64),
                     agreement=float(np.mean(s == target)))

    train = part(idx_train, p_train, image_noise(idx_train))
    noise_test = image_noise(idx_test)  # the same pixel noise in both held-out copies
    test_id = part(idx_test, p_train, noise_test)
    test_ood = part(idx_test, p_test, noise_test)
    modalities = list(train.data)
    return Bunch(
        train=train,
        test_id=test_id,
        test_ood=test_ood,
        modalities=modalities,
        spurious="shortcut" if shortcut == "modality" else None,
        patch_positions=shortcut_patch_positions() if shortcut == "patch" else None,
        params=dict(
            views=views, shortcut=shortcut, p_train=p_train, p_test=p_test, test_size=float(test_size),
            shortcut_noise=shortcut_noise, n_noise_features=int(n_noise_features), patch_value=patch_value,
        ),
        DESCR=__doc__,
    )
