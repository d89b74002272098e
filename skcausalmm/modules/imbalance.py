"""Torch pieces of the modality-imbalance benchmark methods: OGM-GE, MMPareto and MLA.

Each method changes the optimisation step, not the training loop: its skorch
step (a ``MultimodalNet`` subclass) lives in :mod:`skcausalmm._training`; this
module holds the networks, the losses and small pure functions with the
formulas, so that they can be tested on their own.

* OGM-GE (Peng et al., CVPR 2022): :func:`ogm_coefficients`,
  :func:`share_logits`, :func:`modulate_encoder_gradients`.
* MMPareto (Wei & Hu, ICML 2024): :func:`min_norm_weights`,
  :func:`pareto_weights`, :func:`pareto_gradients`, :class:`MultitaskLoss`,
  :func:`gradients`, :func:`flatten`.
* MLA (Zhang et al., CVPR 2024): :class:`GradientProjector`,
  :func:`entropy_weights`, :func:`entropy_fusion`, :class:`MLANetwork`,
  :class:`UnimodalLoss`.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._losses import cross_entropy

__all__ = [
    "ogm_coefficients",
    "share_logits",
    "modulate_encoder_gradients",
    "min_norm_weights",
    "pareto_weights",
    "pareto_gradients",
    "MultitaskLoss",
    "flatten",
    "gradients",
    "GradientProjector",
    "entropy_weights",
    "entropy_fusion",
    "MLANetwork",
    "UnimodalLoss",
]


# =========================================================================== OGM-GE
def share_logits(head, features, names):
    """Per-modality logits from each modality's slice of a concat-fusion head.

    Modality ``m``'s logits are ``h_m W_m^T + b / M``, where ``W_m`` is the
    block of the head's weight that multiplies ``h_m`` in the concatenation
    and ``M`` the number of modalities, so that the fused logits are their sum.

    Parameters
    ----------
    head : torch.nn.Linear
        The fused head on ``cat([features[m] for m in names])``.
    features : dict of str to torch.Tensor
        Per-modality features ``(n, d_m)``.
    names : list of str
        Modalities in the order of the concatenation.

    Returns
    -------
    logits : dict of str to torch.Tensor
    """
    out, start, n_mod = {}, 0, len(names)
    bias = head.bias if head.bias is not None else 0.0
    for m in names:
        d = features[m].shape[1]
        out[m] = features[m] @ head.weight[:, start : start + d].T + bias / n_mod
        start += d
    return out


def ogm_coefficients(scores, alpha):
    """OGM discrepancy ratios and modulation coefficients.

    Parameters
    ----------
    scores : dict of str to float
        ``s_m``: the batch sum of modality m's softmax probability of the
        true class.
    alpha : float
        Modulation strength.

    Returns
    -------
    ratios : dict of str to float
        ``rho_m = s_m / min_k s_k`` (with two modalities, the ratio of the two
        scores for the stronger one and 1 for the weaker one).
    coeffs : dict of str to float
        ``k_m = 1 - tanh(alpha * rho_m)`` where ``rho_m > 1``, else 1.
    """
    low = min(scores.values())
    ratios, coeffs = {}, {}
    for m, s in scores.items():
        rho = float(s) / max(float(low), 1e-12)
        ratios[m] = rho
        coeffs[m] = 1.0 - math.tanh(alpha * rho) if rho > 1.0 else 1.0
    return ratios, coeffs


def _is_modulated(param):
    """Weight tensors (linear and convolution kernels), not biases or norm scales."""
    return param.dim() >= 2


def modulate_encoder_gradients(encoders, coeffs, gaussian_enhancement=False, generator=None):
    """Scale each encoder's weight gradients in place, with optional Gaussian enhancement.

    For every weight gradient ``g`` (parameters with two or more dimensions:
    linear and convolution kernels; biases and normalisation scales are left
    alone) of encoder ``m``: ``g <- k_m g`` and, with Gaussian enhancement,
    ``g <- k_m g + N(0, std(g))`` where the noise std is that of the
    gradient before scaling (the official code's "bug fixed" version).

    Parameters
    ----------
    encoders : mapping of str to torch.nn.Module
    coeffs : dict of str to float
    gaussian_enhancement : bool, default=False
    generator : torch.Generator or None, default=None
        Source of the noise (the global generator if None).
    """
    for m, encoder in encoders.items():
        k = coeffs[m]
        for p in encoder.parameters():
            if p.grad is None or not _is_modulated(p):
                continue
            g = p.grad
            if gaussian_enhancement:
                std = float(g.std()) if g.numel() > 1 else 0.0
                if generator is None:
                    noise = torch.randn_like(g)
                else:
                    noise = torch.randn(g.shape, generator=generator, dtype=g.dtype).to(g.device)
                p.grad = g * k + noise * (std + 1e-8)
            else:
                g.mul_(k)


# ========================================================================= MMPareto
def min_norm_weights(g1, g2):
    """Weights ``(w1, w2)``, ``w1 + w2 = 1``, of the minimum-norm point on the segment [g1, g2].

    The official two-vector solver: ``w1 = (g2.g2 - g1.g2) / |g1 - g2|^2``,
    with ``w1 = 0.999`` when ``g1.g2 >= g1.g1`` and ``w1 = 0.001`` when
    ``g1.g2 >= g2.g2`` (the segment's end points).

    Parameters
    ----------
    g1, g2 : torch.Tensor
        Flat gradients.

    Returns
    -------
    w1, w2 : float
    """
    v11, v12, v22 = float(g1 @ g1), float(g1 @ g2), float(g2 @ g2)
    if v12 >= v11:
        w1 = 0.999
    elif v12 >= v22:
        w1 = 0.001
    else:
        w1 = (v22 - v12) / (v11 + v22 - 2.0 * v12)
    return w1, 1.0 - w1


def pareto_weights(g_mm, g_u):
    """MMPareto's weights of the multimodal and the unimodal gradient of one encoder.

    Parameters
    ----------
    g_mm, g_u : torch.Tensor
        Flat gradients of the multimodal loss and of the encoder's own
        unimodal loss with respect to the encoder's parameters.

    Returns
    -------
    cos : float
        Their cosine similarity.
    weights : tuple of float
        ``(0.5, 0.5)`` when the cosine is positive, else
        :func:`min_norm_weights`.
    """
    cos = float(F.cosine_similarity(g_mm, g_u, dim=0))
    if cos > 0:
        return cos, (0.5, 0.5)
    return cos, min_norm_weights(g_mm, g_u)


def pareto_gradients(g_mm, g_u, g_sum, weights, gamma):
    """MMPareto's per-parameter gradients of one encoder.

    For every parameter tensor, ``d = 2 (w1 g_mm + w2 g_u)``; when the summed
    gradient ``g_sum`` has the larger norm, ``d`` is rescaled to it; the result
    is ``gamma * d``.

    Parameters
    ----------
    g_mm, g_u, g_sum : list of torch.Tensor
        Per-parameter gradients of the multimodal loss, of the unimodal loss
        and of their sum.
    weights : tuple of float
        ``(w1, w2)``.
    gamma : float
        Step multiplier.

    Returns
    -------
    grads : list of torch.Tensor
    """
    w1, w2 = weights
    out = []
    for a, b, s in zip(g_mm, g_u, g_sum):
        d = 2.0 * (w1 * a + w2 * b)
        d_norm = torch.linalg.vector_norm(d)
        ratio = torch.linalg.vector_norm(s) / d_norm if float(d_norm) > 0 else torch.ones(())
        if float(ratio) > 1:
            d = d * ratio
        out.append(gamma * d)
    return out


class MultitaskLoss(nn.Module):
    """Fused cross-entropy plus one cross-entropy per modality head, all with weight 1.

    Parameters
    ----------
    class_weight : torch.Tensor or None, default=None
        Per-class weights of every term.
    """

    def __init__(self, class_weight=None):
        super().__init__()
        self.register_buffer("class_weight", class_weight)
        self.last_terms_ = {}

    def terms(self, outputs, y, sample_weight=None):
        """Return ``(fused_loss, {modality: unimodal_loss})`` as tensors."""
        fused = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)
        uni = {m: cross_entropy(v, y, self.class_weight, sample_weight) for m, v in outputs["modality_logits"].items()}
        return fused, uni

    def forward(self, outputs, y, sample_weight=None):
        """Return the summed loss and record its terms."""
        fused, uni = self.terms(outputs, y, sample_weight)
        self.last_terms_ = {"fused_ce": fused.detach(), **{f"ce_{m}": v.detach() for m, v in uni.items()}}
        return fused + sum(uni.values())


def _flat(grads):
    return torch.cat([g.reshape(-1) for g in grads])


def _grads(loss, params, retain_graph):
    gs = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def flatten(grads):
    """Concatenate a list of gradient tensors into one flat vector."""
    return torch.cat([g.reshape(-1) for g in grads])


def gradients(loss, params, retain_graph):
    """Gradients of ``loss`` with respect to ``params`` (zeros for unused parameters)."""
    gs = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


# ============================================================================== MLA
class GradientProjector:
    """MLA's gradient projection on the shared head (a recursive-least-squares projector).

    One projection matrix ``P`` (``d x d``, initially the identity) is shared
    by all modalities, as in the official code. Before every optimiser step but
    the first, with ``r`` the batch mean of the head's input features (a row)::

        k = P r^T;  P <- P - k k^T / (alpha + r k);  P <- P / ||P||_F
        grad_W <- grad_W P^T

    so that the head's weight moves in directions (approximately) orthogonal to
    the features of earlier updates, i.e. of the other modalities. ``alpha =
    0.1 ** (batch_index / n_batches + 1)``.

    Parameters
    ----------
    dim : int
        Input size of the shared head.
    """

    def __init__(self, dim):
        self.dim = int(dim)
        self.P = None
        self.count = 0

    def step(self, weight_grad, features, alpha):
        """Update ``P`` with the batch's features and project ``weight_grad`` in place.

        Parameters
        ----------
        weight_grad : torch.Tensor of shape (n_classes, dim)
        features : torch.Tensor of shape (n, dim)
            The head's input for this update (detached).
        alpha : float
        """
        if self.P is None or self.P.device != weight_grad.device:
            self.P = torch.eye(self.dim, dtype=weight_grad.dtype, device=weight_grad.device)
        if self.count > 0:
            r = features.mean(0, keepdim=True)  # (1, d)
            k = self.P @ r.T  # (d, 1)
            self.P = self.P - (k @ k.T) / (alpha + float(r @ k))
            self.P = self.P / torch.linalg.norm(self.P)
            weight_grad.copy_(weight_grad @ self.P.T)
        self.count += 1


def entropy_weights(logits):
    """Per-sample fusion weights: softmax over modalities of the negative prediction entropy.

    Parameters
    ----------
    logits : dict of str to torch.Tensor of shape (n, n_classes)

    Returns
    -------
    weights : torch.Tensor of shape (n, n_modalities)
        Rows sum to one; columns in the order of ``logits``.
    """
    ent = []
    for v in logits.values():
        logp = torch.log_softmax(v, dim=1)
        ent.append(-(logp.exp() * logp).sum(1))
    return torch.softmax(-torch.stack(ent, dim=1), dim=1)


def entropy_fusion(logits):
    """Entropy-weighted sum of per-modality logits (MLA's dynamic fusion)."""
    w = entropy_weights(logits)
    stacked = torch.stack(list(logits.values()), dim=1)  # (n, M, C)
    return (w.unsqueeze(-1) * stacked).sum(1)


class MLANetwork(nn.Module):
    """Per-modality encoders with a common output size and one shared linear head.

    Parameters
    ----------
    encoder_factory : EncoderFactory
        Builds one encoder per modality (:class:`skcausalmm.modules.encoders.EncoderFactory`);
        its ``hidden_size`` is the common representation size (the head's
        input), and a linear projection to it is added after an encoder whose
        output size differs.
    n_classes : int

    Notes
    -----
    ``forward`` returns ``"modality_logits"`` (each modality through the shared
    head: each modality's own prediction), ``"logits"`` (their per-sample
    entropy-weighted fusion) and ``"features"``.
    """

    def __init__(self, encoder_factory, n_classes):
        super().__init__()
        encoders, dims = encoder_factory.build_all()
        self.encoders = encoders
        self.names = list(encoders.keys())
        self.hidden_size = int(encoder_factory.hidden_size)
        self.projections = nn.ModuleDict(
            {m: nn.Linear(dims[m], self.hidden_size) for m in self.names if dims[m] != self.hidden_size}
        )
        self.head = nn.Linear(self.hidden_size, n_classes)

    def encode_one(self, name, x):
        """Common-size representation of one modality."""
        z = self.encoders[name](x)
        if name in self.projections:
            z = self.projections[name](z)
        return z

    def forward(self, X):
        """Fused logits, per-modality logits through the shared head, features."""
        feats = {m: self.encode_one(m, X[m]) for m in self.names}
        logits = {m: self.head(feats[m]) for m in self.names}
        return {"logits": entropy_fusion(logits), "modality_logits": logits, "features": feats}

    def predict_proba(self, X):
        """Class probabilities of the entropy-weighted fusion."""
        return torch.softmax(self.forward(X)["logits"], dim=1)


class UnimodalLoss(nn.Module):
    """Cross-entropy on ``outputs["logits"]`` (one modality's logits during MLA's steps)."""

    def __init__(self, class_weight=None):
        super().__init__()
        self.register_buffer("class_weight", class_weight)
        self.last_terms_ = {}

    def forward(self, outputs, y, sample_weight=None):
        """Return the cross-entropy."""
        return cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)


#: The skorch steps of the three methods moved to :mod:`skcausalmm._training` (the skorch layer);
#: the old import path keeps working, without this module importing that layer at load time.
_MOVED_TO_TRAINING = ("OGMGENet", "MMParetoNet", "MLANet")


def __getattr__(name):
    if name in _MOVED_TO_TRAINING:
        import warnings

        from .. import _training

        warnings.warn(
            f"skcausalmm.modules.imbalance.{name} moved to skcausalmm._training.{name}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_training, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
