"""The confounded front-door SCM with real handwritten digits as the content.

Same structural causal model as :func:`~skcausalmm.datasets.make_confounded_multimodal`
(all variables in ``{0, ..., K-1}``)::

    C ~ Uniform(K)                       content: a real bundled ``pix`` digit of class digits[C]
    U ~ Uniform(K)                       hidden confounder, independent of C
    T = U   w.p. ``confounding``,        trace of U, drawn into the image border
        else Uniform(K)
    X_p = pad(digit image) + trace(T)    predominant modality (image)
    Y = U   w.p. ``confounder_effect``,  label
        else C
    A = U   w.p. ``auxiliary_quality``,  auxiliary reading of U
        else Uniform(K)
    X_a = [one_hot(A), noise]            auxiliary modality (table)

The only change is the rendering of the content: instead of fixed stroke templates, each
sample shows one of the 200 real images of its digit class from the bundled UCI Multiple
Features data (:func:`~skcausalmm.datasets.load_multiple_features`), so the content is no
longer perfectly readable.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._confounded import (
    _auxiliary_input,
    _check_int,
    _check_nonnegative,
    _check_probability,
    _confounded_bunch,
    _sample_latents,
)
from ._mfeat import load_multiple_features
from ._shortcut import shortcut_patch_positions

__all__ = ["make_confounded_digits"]

_PAD = 2  # empty frame around the 16 x 15 digit, where the trace lives
_PATCH = 2
_PIX_MAX = 6.0  # the pix view holds pixel counts 0..6
_PER_CLASS = 200
_N_TEST_IMAGES = 60  # per class, held out by the fixed split ("test"); the other 140 are "train"
_SPLIT_SEED = 0
_TRACES = ("corner", "intensity")
_IMAGES = ("train", "test", "all")


def _image_pool(images):
    """Indices (into the bundled set) of the images of each digit in the chosen split part.

    The split is fixed (independent of any ``random_state``): a permutation, seeded once, of
    the 200 images of each digit; its last ``_N_TEST_IMAGES`` are the "test" part.
    """
    perm = np.random.RandomState(_SPLIT_SEED).permutation(_PER_CLASS)
    if images == "train":
        within = np.sort(perm[: _PER_CLASS - _N_TEST_IMAGES])
    elif images == "test":
        within = np.sort(perm[_PER_CLASS - _N_TEST_IMAGES :])
    else:
        within = np.arange(_PER_CLASS)
    return within


def _check_digits(digits, n_classes):
    if digits is None:
        return np.arange(n_classes)
    try:
        values = np.asarray(digits)
    except (TypeError, ValueError):
        values = np.asarray([None])
    if (
        values.ndim != 1
        or values.dtype.kind not in "iu"
        or len(values) != n_classes
        or len(set(values.tolist())) != n_classes
        or values.min() < 0
        or values.max() > 9
    ):
        raise ValueError(f"digits must be {n_classes} distinct integers in [0, 9], got {digits!r}.")
    return values.astype(np.int64)


def _trace_layer(trace, n_classes, height, width, kind):
    """The trace drawn alone: ``(n, height, width)``, zero away from the border frame."""
    n = trace.shape[0]
    layer = np.zeros((n, height, width))
    if kind == "corner":
        corner = shortcut_patch_positions(height, width, n_classes, _PATCH)[trace]
        rows = np.arange(n)
        for dr in range(_PATCH):
            for dc in range(_PATCH):
                layer[rows, corner[:, 0] + dr, corner[:, 1] + dc] = 1.0
    else:  # "intensity": the whole top band, brightness (t + 1) / K
        layer[:, :_PAD, :] = ((trace + 1.0) / n_classes)[:, None, None]
    return layer


def make_confounded_digits(
    n_samples=1000,
    confounding=0.9,
    confounder_effect=0.7,
    auxiliary_quality=0.8,
    n_classes=4,
    n_noise_features=8,
    *,
    trace="corner",
    images="all",
    digits=None,
    noise_scale=0.05,
    ood_confounding=0.0,
    random_state=None,
    return_truth=False,
):
    """Generate the confounded benchmark with real handwritten digits as the content.

    The structural causal model is that of :func:`make_confounded_multimodal`, all discrete
    variables in ``{0, ..., K-1}``:

    * content ``C ~ Uniform(K)`` and hidden confounder ``U ~ Uniform(K)``, independent;
    * trace ``T = U`` with probability ``confounding``, otherwise ``T ~ Uniform(K)``;
    * predominant modality ``X_p``: a real ``pix`` image of the digit ``digits[C]`` from the
      bundled UCI Multiple Features data, drawn uniformly (with replacement) among the
      images of that digit in the ``images`` part of a fixed split, scaled to [0, 1] and
      padded with a 2-pixel empty frame to ``(1, 20, 19)``; the trace ``T`` is drawn into
      that frame (so it never overlaps the digit) and Gaussian pixel noise is added;
    * label ``Y = U`` with probability ``confounder_effect``, otherwise ``Y = C``;
    * auxiliary label ``A = U`` with probability ``auxiliary_quality``, otherwise
      ``A ~ Uniform(K)``; the auxiliary modality is ``X_a = [one_hot(A), noise]``.

    The trace is meant to be an easier cue than the digit: with ``trace="corner"`` a
    ``2 x 2`` patch of value 1 (the brightest digit pixel) at one of ``K`` positions along the
    frame (:func:`shortcut_patch_positions` on the padded image); with
    ``trace="intensity"`` the whole 2-pixel top band at brightness ``(T + 1) / K``. Either is
    decoded by a fixed rule on the frame pixels.

    The returned ``ceilings`` (:func:`confounded_ceilings`) assume that the content is
    *perfectly readable* from the image, as the stroke templates of
    :func:`make_confounded_multimodal` are. Real digits are not: a classifier trained on
    ``clean_image`` to predict ``content`` measures the content readability actually
    reached (the benchmark ``benchmarks/bench_frontdoor_digits.py`` reports it).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples (images are reused: there are 200 per digit in all).
    confounding : float, default=0.9
        Probability that the trace equals the confounder, in [0, 1].
    confounder_effect : float, default=0.7
        Probability that the label equals the confounder (else the content), in [0, 1].
    auxiliary_quality : float, default=0.8
        Probability that the auxiliary label equals the confounder, in [0, 1].
    n_classes : int, default=4
        Number of classes K, in [2, 10].
    n_noise_features : int, default=8
        Number of standard Gaussian noise features appended to the auxiliary one-hot.
    trace : {"corner", "intensity"}, default="corner"
        How the trace is drawn into the image frame: a patch whose position encodes ``T``, or
        a band whose brightness encodes it.
    images : {"all", "train", "test"}, default="all"
        Which images of each digit may be drawn. A fixed split (the same for every
        ``random_state``) keeps 140 of the 200 images of each digit for ``"train"`` and the
        other 60 for ``"test"``: generate the training set with ``"train"`` and the test sets
        with ``"test"`` so that no test image was seen in training.
    digits : sequence of int or None, default=None
        The ``K`` distinct digits (in 0..9) used as the content classes; ``C = k`` shows the
        digit ``digits[k]``. None means ``0, ..., K-1``.
    noise_scale : float, default=0.05
        Standard deviation of the Gaussian pixel noise (on images in [0, 1]).
    ood_confounding : float, default=0.0
        Confounding at which the out-of-distribution ceilings (``ceilings``) are evaluated.
        It does not change the samples drawn: draw an out-of-distribution test set with
        ``confounding=0.0``.
    random_state : int, RandomState instance or None, default=None
        Seed of the sampling (latent variables, image choice, noise).
    return_truth : bool, default=False
        If True, also return ``P(y | do(x_p), a)`` for every sample as ``interventional``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the fields

        ``data`` : dict
            ``{"image": X_p, "auxiliary": X_a}`` float32 arrays of shapes
            ``(n_samples, 1, 20, 19)`` and ``(n_samples, n_classes + n_noise_features)``.
        ``clean_image`` : ndarray of shape (n_samples, 1, 20, 19)
            The same images (same digit, same pixel noise) without the trace (float32).
        ``target`` : ndarray of shape (n_samples,)
            The label Y (int64).
        ``content``, ``confounder``, ``trace``, ``auxiliary_label`` : ndarray of shape (n_samples,)
            The latent variables C, U, T and A (int64).
        ``image_index`` : ndarray of shape (n_samples,)
            Row of each sample's digit image in :func:`load_multiple_features` (int64).
        ``ceilings`` : dict
            :func:`confounded_ceilings` at ``(confounding, ood_confounding)``, for a
            perfectly readable content.
        ``interventional`` : ndarray of shape (n_samples, n_classes)
            Only if ``return_truth``: ``P(y | do(x_p), a)`` per sample.
        ``predominant``, ``auxiliary``, ``digits``, ``params`` : the modality names, the
            digit of each content class and the SCM parameters.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    See Also
    --------
    make_confounded_multimodal : the same SCM with synthetic, perfectly readable content.

    Examples
    --------
    >>> from skcausalmm.datasets import make_confounded_digits
    >>> d = make_confounded_digits(50, images="train", random_state=0, return_truth=True)
    >>> d.data["image"].shape, d.clean_image.shape, d.data["auxiliary"].shape
    ((50, 1, 20, 19), (50, 1, 20, 19), (50, 12))
    >>> d.interventional.sum(axis=1).round(6).min()
    np.float64(1.0)
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    confounding = _check_probability(confounding, "confounding")
    confounder_effect = _check_probability(confounder_effect, "confounder_effect")
    auxiliary_quality = _check_probability(auxiliary_quality, "auxiliary_quality")
    ood_confounding = _check_probability(ood_confounding, "ood_confounding")
    n_classes = _check_int(n_classes, "n_classes", 2, 10)
    n_noise_features = _check_int(n_noise_features, "n_noise_features", 0)
    noise_scale = _check_nonnegative(noise_scale, "noise_scale")
    if trace not in _TRACES:
        raise ValueError(f"trace must be one of {_TRACES}, got {trace!r}.")
    if images not in _IMAGES:
        raise ValueError(f"images must be one of {_IMAGES}, got {images!r}.")
    digits = _check_digits(digits, n_classes)
    rng = check_random_state(random_state)

    k = n_classes
    latents = _sample_latents(n_samples, k, confounding, confounder_effect, auxiliary_quality, rng)
    content, trace_value = latents["content"], latents["trace"]

    pix, labels = load_multiple_features(views=["pix"], return_X_y=True)
    pix = np.asarray(pix["pix"], dtype=np.float64)[:, 0] / _PIX_MAX
    labels = np.asarray(labels)
    first = {d: int(np.flatnonzero(labels == d)[0]) for d in digits.tolist()}
    within = _image_pool(images)
    # the samples are ordered by class in the bundled file: rows first[d] + within
    choice = within[rng.randint(len(within), size=n_samples)]
    image_index = np.array([first[d] for d in digits.tolist()])[content] + choice

    height, width = pix.shape[1] + 2 * _PAD, pix.shape[2] + 2 * _PAD
    clean = np.zeros((n_samples, height, width))
    clean[:, _PAD:-_PAD, _PAD:-_PAD] = pix[image_index]
    clean += noise_scale * rng.standard_normal(clean.shape)
    image = clean + _trace_layer(trace_value, k, height, width, trace)

    x_a = _auxiliary_input(latents["auxiliary_label"], k, n_noise_features, rng)
    params = dict(
        confounding=confounding,
        confounder_effect=confounder_effect,
        auxiliary_quality=auxiliary_quality,
        n_classes=k,
        ood_confounding=ood_confounding,
        trace=trace,
        images=images,
        noise_scale=noise_scale,
    )
    return _confounded_bunch(
        {"image": image[:, None], "auxiliary": x_a}, latents, params, "image", return_truth,
        clean_image=clean[:, None].astype(np.float32), image_index=image_index.astype(np.int64), digits=digits,
    )
