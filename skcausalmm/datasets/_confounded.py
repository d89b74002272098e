"""A confounded multimodal benchmark: a front-door SCM with known truth.

The structural causal model (all variables take values in ``{0, ..., K-1}``)::

    C ~ Uniform(K)                       content (the mediator the network should extract)
    U ~ Uniform(K)                       hidden confounder, independent of C
    T = U   w.p. ``confounding``,        trace of U in the predominant modality
        else Uniform(K)
    X_p = render(C, T)                   predominant modality (image or table)
    Y = U   w.p. ``confounder_effect``,  label
        else C
    A = U   w.p. ``auxiliary_quality``,  auxiliary reading of U
        else Uniform(K)
    X_a = [one_hot(A), noise]            auxiliary modality (table)

``U`` opens a back door ``X_p <- U -> Y``; the content ``C`` is the front-door mediator
(``X_p -> C -> Y`` once ``C`` is read off ``X_p``) and ``A`` is a pre-treatment noisy reading of
``U`` (not a descendant of ``X_p``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "make_confounded_multimodal",
    "confounded_ceilings",
    "confounded_interventional_proba",
]

_IMAGE_SIZE = 16
_TRACE_PATCH = 2


# --------------------------------------------------------------------------------------------
# parameter checks
# --------------------------------------------------------------------------------------------
def _check_probability(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}.")
    value = float(value)
    if not 0.0 <= value <= 1.0 or not np.isfinite(value):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
    return value


def _check_int(value, name, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}.")
    return value


def _check_nonnegative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative real number, got {value!r}.")
    value = float(value)
    if not value >= 0.0 or not np.isfinite(value):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}.")
    return value


# --------------------------------------------------------------------------------------------
# the SCM, enumerated
# --------------------------------------------------------------------------------------------
def _scm_joint(confounding, confounder_effect, auxiliary_quality, n_classes):
    """Joint P(c, u, t, a, y) of the SCM, an array of shape (K,) * 5."""
    k = n_classes
    eye = np.eye(k)
    p_c = np.full(k, 1.0 / k)
    p_u = np.full(k, 1.0 / k)
    p_t_u = confounding * eye + (1.0 - confounding) / k  # [u, t]
    p_a_u = auxiliary_quality * eye + (1.0 - auxiliary_quality) / k  # [u, a]
    # P(y | u, c) = e [y = u] + (1 - e) [y = c]
    p_y_uc = confounder_effect * eye[:, None, :] + (1.0 - confounder_effect) * eye[None, :, :]
    return np.einsum(
        "c,u,ut,ua,ucy->cutay", p_c, p_u, p_t_u, p_a_u, p_y_uc, optimize=True
    )


# which axes of (c, u, t, a, y) each predictor sees
_PREDICTORS = {
    "content_trace_auxiliary": "cta",
    "content_auxiliary": "ca",
    "content": "c",
}


def _bayes_rule(joint, features):
    """Randomised Bayes rule (uniform over ties) on ``features``: array (*features, y)."""
    marginal = np.einsum(f"cutay->{features}y", joint)
    best = marginal.max(axis=-1, keepdims=True)
    ties = np.isclose(marginal, best, rtol=1e-10, atol=1e-14)
    return ties / ties.sum(axis=-1, keepdims=True)


def confounded_ceilings(
    confounding_train=0.9,
    confounding_test=0.0,
    confounder_effect=0.7,
    auxiliary_quality=0.8,
    n_classes=4,
):
    """Analytic Bayes accuracies of three predictors on the confounded benchmark.

    Each predictor is the Bayes rule (ties broken uniformly at random) of the label given
    its inputs under the SCM of :func:`make_confounded_multimodal` at confounding
    ``confounding_train``; its accuracy is computed exactly, by enumerating the SCM, both at
    ``confounding_train`` (in distribution) and at ``confounding_test`` (out of
    distribution, with the decision rule still the one fitted at ``confounding_train``).
    Nothing is simulated.

    The three predictors:

    * ``"content_trace_auxiliary"``: sees (C, T, A); what an observational model of the
      predominant and auxiliary modalities can learn at best. It exploits the trace T of the
      confounder, so it degrades when the confounding changes.
    * ``"content_auxiliary"``: sees (C, A); the Bayes rule of
      ``P(y | do(x_p), a)``, i.e. what the front-door classifier with ``beta = 0`` aims at.
      It does not depend on the confounding, so in and out of distribution agree.
    * ``"content"``: sees C only; the Bayes rule of ``P(y | do(x_p))``, i.e. what the
      front-door classifier with ``beta = 1`` aims at.

    With 4 classes, ``confounding_train=0.9``, ``confounder_effect=0.7``,
    ``auxiliary_quality=0.8`` and ``confounding_test=0`` they are 0.725 / 0.411 (in / out of
    distribution), 0.670 / 0.670 and 0.475 / 0.475.

    Parameters
    ----------
    confounding_train : float, default=0.9
        Confounding (probability that the trace equals the confounder) under which the
        decision rules are fitted, in [0, 1].
    confounding_test : float, default=0.0
        Confounding under which the out-of-distribution accuracy is evaluated, in [0, 1].
    confounder_effect : float, default=0.7
        Probability that the label equals the confounder (else the content), in [0, 1].
    auxiliary_quality : float, default=0.8
        Probability that the auxiliary label equals the confounder (else uniform), in [0, 1].
    n_classes : int, default=4
        Number of classes K (>= 2).

    Returns
    -------
    ceilings : dict
        ``{predictor: {"in_distribution": float, "out_of_distribution": float}}`` for the
        predictors ``"content_trace_auxiliary"``, ``"content_auxiliary"`` and ``"content"``.

    Raises
    ------
    ValueError
        If a probability is outside [0, 1] or ``n_classes < 2``.

    Examples
    --------
    >>> c = confounded_ceilings(0.9, 0.0, 0.7, 0.8, 4)
    >>> round(c["content_auxiliary"]["out_of_distribution"], 3)
    0.67
    """
    confounding_train = _check_probability(confounding_train, "confounding_train")
    confounding_test = _check_probability(confounding_test, "confounding_test")
    confounder_effect = _check_probability(confounder_effect, "confounder_effect")
    auxiliary_quality = _check_probability(auxiliary_quality, "auxiliary_quality")
    n_classes = _check_int(n_classes, "n_classes", 2)
    joint_train = _scm_joint(confounding_train, confounder_effect, auxiliary_quality, n_classes)
    joint_test = _scm_joint(confounding_test, confounder_effect, auxiliary_quality, n_classes)
    ceilings = {}
    for name, features in _PREDICTORS.items():
        rule = _bayes_rule(joint_train, features)
        accuracies = {}
        for key, joint in (("in_distribution", joint_train), ("out_of_distribution", joint_test)):
            marginal = np.einsum(f"cutay->{features}y", joint)
            accuracies[key] = float(np.sum(marginal * rule))
        ceilings[name] = accuracies
    return ceilings


def confounded_interventional_proba(
    content, auxiliary_label, *, confounder_effect=0.7, auxiliary_quality=0.8, n_classes=4
):
    """Analytic ``P(y | do(x_p), a)`` of the confounded benchmark.

    Setting the predominant modality cuts ``U -> T``; the label then depends on ``x_p`` only
    through its content ``c`` and on the auxiliary reading only through the posterior of the
    confounder::

        P(y | do(x_p), a) = e P(U = y | A = a) + (1 - e) [y = c]

    with ``e = confounder_effect`` and ``P(U = u | A = a) = q [u = a] + (1 - q) / K``
    (uniform prior on U). It does not depend on the confounding. Averaged over ``a`` it is
    ``P(y | do(x_p)) = e / K + (1 - e) [y = c]``.

    Parameters
    ----------
    content : array-like of int, shape (n_samples,)
        Content class ``c`` of each (intervened) predominant input.
    auxiliary_label : array-like of int, shape (n_samples,)
        Auxiliary label ``a`` of each sample.
    confounder_effect : float, default=0.7
        Probability that the label equals the confounder, in [0, 1].
    auxiliary_quality : float, default=0.8
        Probability that the auxiliary label equals the confounder, in [0, 1].
    n_classes : int, default=4
        Number of classes K (>= 2).

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Interventional class probabilities, rows sum to one.

    Raises
    ------
    ValueError
        If a parameter is out of range or the labels are not in ``{0, ..., K-1}``.
    """
    e = _check_probability(confounder_effect, "confounder_effect")
    q = _check_probability(auxiliary_quality, "auxiliary_quality")
    k = _check_int(n_classes, "n_classes", 2)
    content = np.asarray(content)
    auxiliary_label = np.asarray(auxiliary_label)
    for name, values in (("content", content), ("auxiliary_label", auxiliary_label)):
        if values.ndim != 1 or (values.size and (values.min() < 0 or values.max() >= k)):
            raise ValueError(f"{name} must be a 1-D array of integers in [0, {k - 1}].")
    if content.shape != auxiliary_label.shape:
        raise ValueError("content and auxiliary_label must have the same length.")
    eye = np.eye(k)
    # uniform prior on U: the posterior P(U | A = a) equals the likelihood row P(A = a | U)
    posterior = q * eye[auxiliary_label.astype(int)] + (1.0 - q) / k
    return e * posterior + (1.0 - e) * eye[content.astype(int)]


# --------------------------------------------------------------------------------------------
# renderings
# --------------------------------------------------------------------------------------------
def _stroke_templates(n_classes, seed):
    """Fixed random-walk stroke templates, one 10x10 pattern per class."""
    rng = np.random.default_rng(seed)
    size = _IMAGE_SIZE - 6
    steps = np.array([[0, 1], [1, 0], [0, -1], [-1, 0], [1, 1], [1, -1], [-1, 1], [-1, -1]])
    templates = np.zeros((n_classes, size, size))
    for k in range(n_classes):
        for _ in range(3):
            pos = rng.integers(1, size - 1, size=2)
            for _ in range(9):
                templates[k, pos[0], pos[1]] = 1.0
                pos = np.clip(pos + steps[rng.integers(len(steps))], 0, size - 1)
    # a light blur so that strokes are not single pixels
    padded = np.pad(templates, ((0, 0), (1, 1), (1, 1)))
    blurred = 0.5 * templates
    for dr, dc in ((0, 1), (2, 1), (1, 0), (1, 2)):
        blurred = blurred + 0.125 * padded[:, dr : dr + size, dc : dc + size]
    return np.clip(blurred / blurred.max(axis=(1, 2), keepdims=True), 0.0, 1.0)


def _trace_positions(n_classes):
    """Top-left corners of ``n_classes`` 2x2 patches spread along the 2-pixel image border."""
    s, p = _IMAGE_SIZE, _TRACE_PATCH
    ring = [(0, c) for c in range(0, s, p)]
    ring += [(r, s - p) for r in range(p, s - p, p)]
    ring += [(s - p, c) for c in range(s - p, -1, -p)]
    ring += [(r, 0) for r in range(s - 2 * p, p - 1, -p)]
    index = np.floor(np.arange(n_classes) * len(ring) / n_classes).astype(int)
    return [ring[i] for i in index]


def _max_image_classes():
    s, p = _IMAGE_SIZE, _TRACE_PATCH
    return 4 * (s // p) - 4


def _render_image(content, trace, n_classes, noise_scale, template_seed, rng):
    n = content.shape[0]
    templates = _stroke_templates(n_classes, template_seed)
    images = np.zeros((n, _IMAGE_SIZE, _IMAGE_SIZE))
    shifts = rng.randint(-1, 2, size=(n, 2))
    intensity = rng.uniform(0.7, 1.0, size=n)
    size = templates.shape[1]
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            rows = np.flatnonzero((shifts[:, 0] == dr) & (shifts[:, 1] == dc))
            if rows.size:
                images[rows, 3 + dr : 3 + dr + size, 3 + dc : 3 + dc + size] = (
                    templates[content[rows]] * intensity[rows, None, None]
                )
    positions = np.array(_trace_positions(n_classes))
    corner = positions[trace]
    brightness = rng.uniform(0.8, 1.0, size=n)
    for dr in range(_TRACE_PATCH):
        for dc in range(_TRACE_PATCH):
            images[np.arange(n), corner[:, 0] + dr, corner[:, 1] + dc] = brightness
    images += noise_scale * rng.standard_normal(images.shape)
    return images[:, None, :, :]


def _render_table(content, trace, n_classes, embedding_dim, noise_scale, template_seed, rng):
    fixed = np.random.default_rng(template_seed)
    content_embedding = fixed.standard_normal((n_classes, embedding_dim))
    trace_embedding = fixed.standard_normal((n_classes, embedding_dim))
    n = content.shape[0]
    table = np.concatenate([content_embedding[content], trace_embedding[trace]], axis=1)
    return table + noise_scale * rng.standard_normal((n, 2 * embedding_dim))


# --------------------------------------------------------------------------------------------
# public generator
# --------------------------------------------------------------------------------------------
def make_confounded_multimodal(
    n_samples=1000,
    confounding=0.9,
    confounder_effect=0.7,
    auxiliary_quality=0.8,
    n_classes=4,
    predominant="image",
    n_noise_features=8,
    *,
    noise_scale=None,
    embedding_dim=8,
    ood_confounding=0.0,
    template_seed=0,
    random_state=None,
    return_truth=False,
):
    """Generate the confounded two-modality benchmark (a front-door SCM with known truth).

    Structural causal model, all discrete variables in ``{0, ..., K-1}``:

    * content ``C ~ Uniform(K)`` and hidden confounder ``U ~ Uniform(K)``, independent;
    * trace ``T = U`` with probability ``confounding``, otherwise ``T ~ Uniform(K)`` (so
      ``P(T = U) = confounding + (1 - confounding) / K``);
    * predominant modality ``X_p = render(C, T)``: it shows ``C`` clearly and ``T`` as a
      strong, easy cue;
    * label ``Y = U`` with probability ``confounder_effect``, otherwise ``Y = C``;
    * auxiliary label ``A = U`` with probability ``auxiliary_quality``, otherwise
      ``A ~ Uniform(K)``; the auxiliary modality is ``X_a = [one_hot(A), noise]``.

    ``U`` confounds ``X_p`` and ``Y``; ``C`` is the mediator a front-door model should
    extract from ``X_p``; ``A`` is a pre-treatment reading of ``U``. The interventional
    target is ``P(y | do(x_p), a) = e P(U = y | a) + (1 - e) [y = c]`` (see
    :func:`confounded_interventional_proba`); an observational model also exploits the trace
    ``T`` and breaks when the confounding changes (test sets with ``confounding=0``).

    Renderings of the predominant modality:

    * ``"image"``: a ``(1, 16, 16)`` single-channel image; the content is one of ``K`` fixed
      stroke templates (seeded by ``template_seed``, identical across calls) in the central
      10x10 area, jittered by up to one pixel with random intensity; the trace is a bright
      2x2 patch at one of ``K`` positions along the 2-pixel border; Gaussian pixel noise.
    * ``"table"``: ``2 * embedding_dim`` features: a fixed random embedding of ``C`` followed
      by a fixed random embedding of ``T`` (both seeded by ``template_seed``), plus Gaussian
      noise.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    confounding : float, default=0.9
        Probability that the trace equals the confounder, in [0, 1].
    confounder_effect : float, default=0.7
        Probability that the label equals the confounder (else the content), in [0, 1].
    auxiliary_quality : float, default=0.8
        Probability that the auxiliary label equals the confounder, in [0, 1].
    n_classes : int, default=4
        Number of classes K (>= 2; at most 28 for images).
    predominant : {"image", "table"}, default="image"
        Rendering of the predominant modality; also its key in ``data``.
    n_noise_features : int, default=8
        Number of standard Gaussian noise features appended to the auxiliary one-hot.
    noise_scale : float or None, default=None
        Standard deviation of the Gaussian noise on the predominant modality; None means 0.1
        for images and 0.5 for tables.
    embedding_dim : int, default=8
        Size of each of the content and trace embeddings of the tabular rendering.
    ood_confounding : float, default=0.0
        Confounding at which the out-of-distribution ceilings (``ceilings``) are evaluated.
        It does not change the samples drawn: draw an out-of-distribution test set with
        ``confounding=0.0``.
    template_seed : int, default=0
        Seed of the fixed class templates / embeddings. Keep it equal for training and test
        sets so that they render classes the same way.
    random_state : int, RandomState instance or None, default=None
        Seed of the sampling.
    return_truth : bool, default=False
        If True, also return ``P(y | do(x_p), a)`` for every sample as ``interventional``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the fields

        ``data`` : dict
            ``{predominant: X_p, "auxiliary": X_a}`` float32 arrays; ``X_p`` has shape
            ``(n_samples, 1, 16, 16)`` for images and ``(n_samples, 2 * embedding_dim)`` for
            tables; ``X_a`` has shape ``(n_samples, n_classes + n_noise_features)``.
        ``target`` : ndarray of shape (n_samples,)
            The label Y (int64).
        ``content``, ``confounder``, ``trace``, ``auxiliary_label`` : ndarray of shape (n_samples,)
            The latent variables C, U, T and A (int64).
        ``ceilings`` : dict
            :func:`confounded_ceilings` at ``(confounding, ood_confounding)``.
        ``interventional`` : ndarray of shape (n_samples, n_classes)
            Only if ``return_truth``: ``P(y | do(x_p), a)`` per sample.
        ``predominant``, ``auxiliary``, ``params`` : the modality names and the SCM parameters.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    Examples
    --------
    >>> d = make_confounded_multimodal(100, predominant="table", random_state=0)
    >>> d.data["table"].shape, d.data["auxiliary"].shape
    ((100, 16), (100, 12))
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    confounding = _check_probability(confounding, "confounding")
    confounder_effect = _check_probability(confounder_effect, "confounder_effect")
    auxiliary_quality = _check_probability(auxiliary_quality, "auxiliary_quality")
    ood_confounding = _check_probability(ood_confounding, "ood_confounding")
    if predominant not in ("image", "table"):
        raise ValueError(f"predominant must be 'image' or 'table', got {predominant!r}.")
    max_classes = _max_image_classes() if predominant == "image" else None
    n_classes = _check_int(n_classes, "n_classes", 2, max_classes)
    n_noise_features = _check_int(n_noise_features, "n_noise_features", 0)
    embedding_dim = _check_int(embedding_dim, "embedding_dim", 1)
    if noise_scale is None:
        noise_scale = 0.1 if predominant == "image" else 0.5
    noise_scale = _check_nonnegative(noise_scale, "noise_scale")
    template_seed = _check_int(template_seed, "template_seed", 0)
    rng = check_random_state(random_state)

    k = n_classes
    latents = _sample_latents(n_samples, k, confounding, confounder_effect, auxiliary_quality, rng)
    if predominant == "image":
        x_p = _render_image(latents["content"], latents["trace"], k, noise_scale, template_seed, rng)
    else:
        x_p = _render_table(latents["content"], latents["trace"], k, embedding_dim, noise_scale, template_seed, rng)
    params = dict(
        confounding=confounding,
        confounder_effect=confounder_effect,
        auxiliary_quality=auxiliary_quality,
        n_classes=k,
        ood_confounding=ood_confounding,
    )
    x_a = _auxiliary_input(latents["auxiliary_label"], k, n_noise_features, rng)
    return _confounded_bunch({predominant: x_p, "auxiliary": x_a}, latents, params, predominant, return_truth)


def _sample_latents(n_samples, k, confounding, confounder_effect, auxiliary_quality, rng):
    """Content, confounder, trace, label and auxiliary label of the confounded SCM (in this draw order)."""
    content = rng.randint(k, size=n_samples)
    confounder = rng.randint(k, size=n_samples)
    trace = np.where(rng.uniform(size=n_samples) < confounding, confounder, rng.randint(k, size=n_samples))
    target = np.where(rng.uniform(size=n_samples) < confounder_effect, confounder, content)
    auxiliary_label = np.where(
        rng.uniform(size=n_samples) < auxiliary_quality, confounder, rng.randint(k, size=n_samples)
    )
    return {"target": target, "content": content, "confounder": confounder, "trace": trace,
            "auxiliary_label": auxiliary_label}


def _auxiliary_input(auxiliary_label, k, n_noise_features, rng):
    """The auxiliary modality: one-hot of A, then Gaussian noise features."""
    noise = rng.standard_normal((len(auxiliary_label), n_noise_features))
    return np.concatenate([np.eye(k)[auxiliary_label], noise], axis=1)


def _confounded_bunch(data, latents, params, predominant, return_truth, **extra):
    """The Bunch both confounded generators return: float32 data, int64 latents, ceilings, the truth."""
    k = params["n_classes"]
    bunch = Bunch(
        data={name: value.astype(np.float32) for name, value in data.items()},
        **{name: value.astype(np.int64) for name, value in latents.items()},
        ceilings=confounded_ceilings(
            params["confounding"], params["ood_confounding"], params["confounder_effect"],
            params["auxiliary_quality"], k,
        ),
        predominant=predominant,
        auxiliary=["auxiliary"],
        params=params,
        **extra,
    )
    if return_truth:
        bunch.interventional = confounded_interventional_proba(
            latents["content"],
            latents["auxiliary_label"],
            confounder_effect=params["confounder_effect"],
            auxiliary_quality=params["auxiliary_quality"],
            n_classes=k,
        )
    return bunch
