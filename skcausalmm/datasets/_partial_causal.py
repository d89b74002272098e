"""A latent partial causal model for two modalities, with known latents.

The model (Liu et al., "Beyond DAGs: A Latent Partial Causal Model for Multimodal Learning",
arXiv 2402.06223; sampling and mixing in the style of Zimmermann et al., ICML 2021,
github.com/brendel-group/cl-ica)::

    z_x ~ p(z_x)                        coupled latent of modality x
    z_t ~ p(z_t | z_x)                  coupled latent of modality t (the undirected edge)
    m_x, m_t ~ Uniform([-1, 1]^k)       modality-specific latents, independent of everything
    x = g_x([z_x, m_x]),  t = g_t([z_t, m_t])     two invertible leaky-ReLU MLPs

* ``geometry="sphere"``: ``z_x = u / ||u||`` on the unit sphere ``S^(n-1)`` with ``u`` of
  independent generalised-normal components (density ``exp(-|u_i|^beta)``); ``z_t`` von
  Mises-Fisher around ``z_x`` with concentration ``kappa``. ``beta = 2`` is the uniform law on
  the sphere (the assumption of the linear identifiability theorem; rotation invariant, so no
  method can single out axes afterwards); ``beta > 2`` tilts the law towards the diagonals
  (``beta -> inf``: a uniform cube projected onto the sphere), which leaves the axes
  recoverable by linear ICA. The default ``beta = 4`` is a compromise between the two.
* ``geometry="box"``: ``z_x`` uniform in ``[-1, 1]^n``; ``z_t = z_x + Laplace(0, 1/kappa)`` per
  coordinate, resampled until inside the box (a truncated Laplace conditional).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._core.validation import ModalityDict

__all__ = ["make_partial_causal", "sample_von_mises_fisher", "InvertibleLeakyMLP", "PartialCausalSampler"]

_GEOMETRIES = ("sphere", "box")
_SPHERE_MARGINALS = ("cube", "uniform")
_DEFAULT_MARGINAL = 4.0


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


# --------------------------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------------------------
def sample_von_mises_fisher(mean, kappa, random_state=None):
    """One von Mises-Fisher sample around each row of ``mean`` (Wood's 1994 rejection sampler).

    Parameters
    ----------
    mean : ndarray of shape (n, d)
        Unit-norm mean directions, ``d >= 2``.
    kappa : float
        Concentration (0 would be uniform; larger is tighter).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    samples : ndarray of shape (n, d)
        Unit-norm samples; ``samples[i]`` is drawn around ``mean[i]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm.datasets._partial_causal import sample_von_mises_fisher
    >>> mu = np.tile([1.0, 0.0, 0.0], (2000, 1))
    >>> s = sample_von_mises_fisher(mu, kappa=50.0, random_state=0)
    >>> bool(np.allclose(np.linalg.norm(s, axis=1), 1.0)), bool(s[:, 0].mean() > 0.9)
    (True, True)
    """
    rng = check_random_state(random_state)
    mean = np.asarray(mean, dtype=float)
    n, d = mean.shape
    kappa = _check_positive(kappa, "kappa")
    # w = cos(angle to the mean): Wood (1994), "Simulation of the von Mises Fisher distribution"
    m = d - 1
    b = m / (np.sqrt(4.0 * kappa**2 + m**2) + 2.0 * kappa)
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + m * np.log(1.0 - x0**2)
    w = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        z = rng.beta(m / 2.0, m / 2.0, size=todo.size)
        cand = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        u = rng.uniform(size=todo.size)
        ok = kappa * cand + m * np.log(1.0 - x0 * cand) - c >= np.log(u)
        w[todo[ok]] = cand[ok]
        todo = todo[~ok]
    # a uniform direction orthogonal to the mean
    v = rng.normal(size=(n, d))
    v -= np.sum(v * mean, axis=1, keepdims=True) * mean
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    out = w[:, None] * mean + np.sqrt(np.clip(1.0 - w**2, 0.0, None))[:, None] * v
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _truncated_laplace_around(center, scale, low, high, rng):
    """``center + Laplace(0, scale)`` per entry, each entry redrawn until it lies in [low, high]."""
    out = center + rng.laplace(scale=scale, size=center.shape)
    bad = (out < low) | (out > high)
    while bad.any():
        out[bad] = center[bad] + rng.laplace(scale=scale, size=int(bad.sum()))
        bad = (out < low) | (out > high)
    return out


# --------------------------------------------------------------------------------------------
# the invertible mixer
# --------------------------------------------------------------------------------------------
class InvertibleLeakyMLP:
    """A random invertible MLP ``R^d -> R^d``: square linear layers with leaky ReLUs between.

    Each weight matrix has entries uniform in [-1, 1], unit-norm columns, and is redrawn until
    its condition number is below ``max_condition`` (so the map is well invertible), in the
    manner of the mixers of Hyvarinen and Morioka's PCL and of cl-ica.

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    n_layers : int, default=3
        Number of linear layers (``n_layers - 1`` leaky ReLUs; 1 gives a linear mixer).
    negative_slope : float, default=0.2
        Slope of the leaky ReLU on negative inputs (positive, so each layer is a bijection).
    max_condition : float or None, default=None
        Largest accepted condition number; None takes the 1% quantile of the condition numbers
        of 2,000 draws (well-conditioned layers, as cl-ica's near-minimal thresholds).
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    weights_ : list of ndarray of shape (d, d)
    """

    def __init__(self, n_features, n_layers=3, negative_slope=0.2, max_condition=None, random_state=None):
        rng = check_random_state(random_state)
        self.n_features = _check_int(n_features, "n_features", 1)
        self.n_layers = _check_int(n_layers, "mixing_layers", 1)
        self.negative_slope = float(negative_slope)

        def draw():
            w = rng.uniform(-1.0, 1.0, size=(n_features, n_features))
            return w / np.linalg.norm(w, axis=0, keepdims=True)

        if max_condition is None:
            conds = np.sort([np.linalg.cond(draw()) for _ in range(2000)])
            max_condition = conds[len(conds) // 100]
        self.max_condition = float(max_condition)
        self.weights_ = []
        for _ in range(self.n_layers):
            w = draw()
            while np.linalg.cond(w) > self.max_condition:
                w = draw()
            self.weights_.append(w)

    def _act(self, h):
        return np.where(h > 0, h, self.negative_slope * h)

    def __call__(self, z):
        """Mix ``z`` of shape (n, d)."""
        h = np.asarray(z, dtype=float)
        for i, w in enumerate(self.weights_):
            h = h @ w.T
            if i < self.n_layers - 1:
                h = self._act(h)
        return h

    def inverse(self, x):
        """Invert the mixer: ``inverse(self(z)) == z`` up to rounding."""
        h = np.asarray(x, dtype=float)
        for i in reversed(range(self.n_layers)):
            if i < self.n_layers - 1:
                h = np.where(h > 0, h, h / self.negative_slope)
            h = np.linalg.solve(self.weights_[i], h.T).T
        return h


# --------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------
def make_partial_causal(
    n_samples=10000,
    n_latent=6,
    n_specific=2,
    *,
    geometry="sphere",
    concentration=None,
    mixing_layers=3,
    marginal=_DEFAULT_MARGINAL,
    random_state=None,
):
    """Two modalities from a latent partial causal model, with the true latents.

    ``x = g_x([z_x, m_x])`` and ``t = g_t([z_t, m_t])`` with the coupled latents ``z_x, z_t``
    joined by a concentrated conditional ``p(z_t | z_x)``, independent modality-specific
    latents ``m_x, m_t`` and two different random invertible leaky-ReLU MLPs ``g_x, g_t`` (see
    the module docstring). Contrastive learning between ``x`` and ``t`` should recover ``z_x``
    from ``x`` (up to an orthogonal map on the sphere, up to permutation and scaling in the box)
    and discard ``m_x``.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of pairs.
    n_latent : int, default=6
        Dimension of each coupled latent (the sphere is ``S^(n_latent - 1)`` in ``R^n_latent``).
        At least 2.
    n_specific : int, default=2
        Dimension of each modality-specific latent (0 allowed).
    geometry : {"sphere", "box"}, default="sphere"
        Latent space and conditional: von Mises-Fisher on the unit sphere, or truncated
        Laplace in ``[-1, 1]^n_latent``.
    concentration : float or None, default=None
        ``kappa`` of the conditional: the vMF concentration on the sphere, the inverse Laplace
        scale in the box. None takes 10 on the sphere (matching ``ContrastiveICA``'s default
        ``temperature=0.1``, since the InfoNCE critic that matches the data is
        ``kappa * <z_x, z_t>``) and 10 in the box (Laplace scale 0.1).
    mixing_layers : int, default=3
        Linear layers of each mixer (1: linear mixing).
    marginal : float, "uniform" or "cube", default=4.0
        Sphere only: the law of ``z_x = u / ||u||``. A number ``beta`` draws the components of
        ``u`` independently with density proportional to ``exp(-|u_i|^beta)``; ``"uniform"``
        (the same as 2) is uniform on the sphere; ``"cube"`` takes ``u`` uniform in
        ``[-1, 1]^n_latent``. Linear ICA can only single out the axes when the law is not
        uniform. Ignored in the box.
    random_state : int, RandomState instance or None, default=None
        Seeds the latents and the mixers.

    Returns
    -------
    data : Bunch
        ``x``, ``t``: float32 ndarray of shape (n_samples, n_latent + n_specific), the two
        modalities; ``data``: ``ModalityDict({"x": x, "t": t})``; ``z_x``, ``z_t``: (n_samples, n_latent); ``m_x``, ``m_t``:
        (n_samples, n_specific); ``mixing_x``, ``mixing_t``: the two
        :class:`InvertibleLeakyMLP` mixers; ``geometry``, ``concentration``; ``sampler``: a
        :class:`PartialCausalSampler` that draws fresh pairs from the same model.

    Examples
    --------
    >>> from skcausalmm.datasets import make_partial_causal
    >>> d = make_partial_causal(500, n_latent=3, n_specific=2, random_state=0)
    >>> d.x.shape, d.t.shape, d.z_x.shape, d.m_x.shape
    ((500, 5), (500, 5), (500, 3), (500, 2))
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_latent = _check_int(n_latent, "n_latent", 2)
    n_specific = _check_int(n_specific, "n_specific", 0)
    mixing_layers = _check_int(mixing_layers, "mixing_layers", 1)
    if geometry not in _GEOMETRIES:
        raise ValueError(f"geometry must be one of {_GEOMETRIES}, got {geometry!r}.")
    if isinstance(marginal, numbers.Real) and not isinstance(marginal, bool):
        marginal = _check_positive(marginal, "marginal")
    elif marginal not in _SPHERE_MARGINALS:
        raise ValueError(f"marginal must be one of {_SPHERE_MARGINALS} or a positive number, got {marginal!r}.")
    kappa = 10.0 if concentration is None else _check_positive(concentration, "concentration")
    rng = check_random_state(random_state)
    z_x, z_t, m_x, m_t = _draw_latents(n_samples, n_latent, n_specific, geometry, marginal, kappa, rng)
    d = n_latent + n_specific
    g_x = InvertibleLeakyMLP(d, mixing_layers, random_state=rng)
    g_t = InvertibleLeakyMLP(d, mixing_layers, random_state=rng)
    sampler = PartialCausalSampler(g_x, g_t, n_latent, n_specific, geometry, marginal, kappa)
    return sampler._bunch(z_x, z_t, m_x, m_t)


def _draw_latents(n_samples, n_latent, n_specific, geometry, marginal, kappa, rng):
    """``(z_x, z_t, m_x, m_t)`` of ``n_samples`` pairs (see :func:`make_partial_causal`)."""
    if geometry == "sphere":
        if marginal == "uniform" or marginal == 2.0:
            u = rng.normal(size=(n_samples, n_latent))
        elif isinstance(marginal, float):
            # generalised normal with shape beta: |u|^beta ~ Gamma(1/beta), random sign
            g = rng.gamma(1.0 / marginal, size=(n_samples, n_latent)) ** (1.0 / marginal)
            u = g * rng.choice([-1.0, 1.0], size=(n_samples, n_latent))
        else:
            u = rng.uniform(-1.0, 1.0, size=(n_samples, n_latent))
        z_x = u / np.linalg.norm(u, axis=1, keepdims=True)
        z_t = sample_von_mises_fisher(z_x, kappa, rng)
    else:
        z_x = rng.uniform(-1.0, 1.0, size=(n_samples, n_latent))
        z_t = _truncated_laplace_around(z_x, 1.0 / kappa, -1.0, 1.0, rng)
    m_x = rng.uniform(-1.0, 1.0, size=(n_samples, n_specific))
    m_t = rng.uniform(-1.0, 1.0, size=(n_samples, n_specific))
    return z_x, z_t, m_x, m_t


class PartialCausalSampler:
    """Fresh pairs from one latent partial causal model: the same mixers, new latents at every call.

    ``make_partial_causal(...).sampler`` is the sampler of the data it returned; call it for as
    many new pairs as needed, e.g. to train :class:`~skcausalmm.ContrastiveICA` on fresh
    samples through ``partial_fit`` (as contrastive identifiability is usually trained), or to
    draw a held-out set from the same model.

    Parameters
    ----------
    mixing_x, mixing_t : InvertibleLeakyMLP
        The two mixers.
    n_latent, n_specific : int
        Dimensions of the coupled and the modality-specific latents.
    geometry : {"sphere", "box"}
    marginal : float, "uniform" or "cube"
    concentration : float
        ``kappa`` of the conditional.

    Examples
    --------
    >>> from skcausalmm.datasets import make_partial_causal
    >>> d = make_partial_causal(500, n_latent=3, n_specific=2, random_state=0)
    >>> fresh = d.sampler(200, random_state=1)
    >>> fresh.x.shape, fresh.mixing_x is d.mixing_x
    ((200, 5), True)
    """

    def __init__(self, mixing_x, mixing_t, n_latent, n_specific, geometry, marginal, concentration):
        self.mixing_x, self.mixing_t = mixing_x, mixing_t
        self.n_latent, self.n_specific = int(n_latent), int(n_specific)
        self.geometry, self.marginal, self.concentration = geometry, marginal, float(concentration)

    def __call__(self, n_samples, random_state=None):
        """Draw ``n_samples`` new pairs.

        Parameters
        ----------
        n_samples : int
            Number of pairs.
        random_state : int, RandomState instance or None, default=None
            Seeds the latents (the mixers stay the same).

        Returns
        -------
        data : Bunch
            The fields of :func:`make_partial_causal`'s result.
        """
        n_samples = _check_int(n_samples, "n_samples", 1)
        rng = check_random_state(random_state)
        latents = _draw_latents(n_samples, self.n_latent, self.n_specific, self.geometry, self.marginal,
                                self.concentration, rng)
        return self._bunch(*latents)

    def _bunch(self, z_x, z_t, m_x, m_t):
        x = self.mixing_x(np.hstack([z_x, m_x])).astype(np.float32)
        t = self.mixing_t(np.hstack([z_t, m_t])).astype(np.float32)
        return Bunch(
            x=x,
            t=t,
            data=ModalityDict({"x": x, "t": t}),
            z_x=z_x,
            z_t=z_t,
            m_x=m_x,
            m_t=m_t,
            mixing_x=self.mixing_x,
            mixing_t=self.mixing_t,
            geometry=self.geometry,
            concentration=self.concentration,
            sampler=self,
        )
