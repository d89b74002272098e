"""MMPareto: Pareto integration of multimodal and unimodal gradients (Wei & Hu, ICML 2024).

Three layers in one file: the formulas (:func:`min_norm_weights`, :func:`pareto_weights`,
:func:`pareto_gradients`, :func:`gradients`, :func:`flatten`) and the loss
(:class:`MultitaskLoss`), the training step (:class:`MMParetoNet`: per-encoder Pareto merging
of the two losses' gradients) and the estimator (:class:`MMParetoClassifier`).
"""

import numbers

import torch
from skorch.dataset import unpack_data
from torch import nn
from torch.nn import functional as F

from .._compat import Interval
from .._core.base import MultimodalClassifierMixin
from .._core.docstrings import fill_shared_docs
from .._core.net import RecordingNet, assign_gradient
from ..fusion.network import LateFusionNetwork
from ..nn.losses import cross_entropy

__all__ = [
    "MMParetoClassifier",
    "MMParetoNet",
    "MultitaskLoss",
    "flatten",
    "gradients",
    "min_norm_weights",
    "pareto_gradients",
    "pareto_weights",
]


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
        present = outputs.get("present", {})  # each unimodal term over the rows where its modality is present
        uni = {
            m: cross_entropy(v, y, self.class_weight, sample_weight, present.get(m))
            for m, v in outputs["modality_logits"].items()
        }
        return fused, uni

    def forward(self, outputs, y, sample_weight=None):
        """Return the summed loss and record its terms."""
        fused, uni = self.terms(outputs, y, sample_weight)
        self.last_terms_ = {"fused_ce": fused.detach(), **{f"ce_{m}": v.detach() for m, v in uni.items()}}
        return fused + sum(uni.values())


def flatten(grads):
    """Concatenate a list of gradient tensors into one flat vector."""
    return torch.cat([g.reshape(-1) for g in grads])


def gradients(loss, params, retain_graph):
    """Gradients of ``loss`` with respect to ``params`` (zeros for unused parameters)."""
    gs = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


class MMParetoNet(RecordingNet):
    """skorch net of MMPareto: per-encoder Pareto merging of multimodal and unimodal gradients.

    Heads (fused and unimodal) keep the gradient of the summed loss.

    Parameters
    ----------
    gamma : float
        Scale of the merged encoder gradients.
    *args, **kwargs
        Passed to :class:`MultimodalNet`.
    """

    def __init__(self, *args, gamma, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma = gamma

    def train_step_single(self, batch, **fit_params):
        """Forward, the per-encoder gradients of both losses, summed backward, Pareto merge."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        module = self.module_
        fused, uni = self.criterion_.terms(y_pred, yi, self.batch_sample_weight(Xi))
        loss = fused + sum(uni.values())
        self.criterion_.last_terms_ = {"fused_ce": fused.detach(), **{f"ce_{m}": v.detach() for m, v in uni.items()}}

        # Two backward passes: one per loss. The unimodal losses of different modalities
        # touch disjoint encoders, so the gradient of their sum restricted to encoder m is
        # the gradient of L_m alone.
        params = [p for p in module.parameters() if p.requires_grad]
        g_mm = gradients(fused, params, retain_graph=True)
        g_uni = gradients(sum(uni.values()), params, retain_graph=False)
        position = {id(p): i for i, p in enumerate(params)}
        with torch.no_grad():
            for p, a, b in zip(params, g_mm, g_uni):
                assign_gradient(p, a + b)  # heads (and anything else) keep the summed gradient
            for m in module.names:
                idx = [position[id(p)] for p in module.encoders[m].parameters() if id(p) in position]
                if not idx:
                    continue
                a, b = [g_mm[i] for i in idx], [g_uni[i] for i in idx]
                cos, weights = pareto_weights(flatten(a), flatten(b))
                new = pareto_gradients(a, b, [params[i].grad for i in idx], weights, self.gamma)
                for i, g in zip(idx, new):
                    assign_gradient(params[i], g)
                self._record(f"cos_{m}", cos)
                self._record(f"weight_mm_{m}", weights[0])
        return {"loss": loss, "y_pred": y_pred}


@fill_shared_docs
class MMParetoClassifier(MultimodalClassifierMixin):
    """Concat late fusion with unimodal heads, trained with MMPareto's gradient merging.

    The network has per-modality encoders, a fused linear head on the
    concatenation and a linear head per modality (trained, not detached). The
    losses are the fused cross-entropy ``L_mm`` and one unimodal
    cross-entropy ``L_m`` per modality. On every batch, for each encoder m:

    1. ``g_mm`` and ``g_u``, the gradients of ``L_mm`` and of ``L_m`` with
       respect to the encoder's parameters (flattened and concatenated);
    2. weights ``(w1, w2) = (0.5, 0.5)`` when their cosine is positive, else
       the minimum-norm point of the segment between them: ``w1 = (|g_u|^2 -
       g_mm.g_u) / |g_mm - g_u|^2`` (0.999 or 0.001 at the segment's ends, as
       the official solver does);
    3. for every parameter tensor of the encoder, ``d = 2 (w1 g_mm + w2
       g_u)``, rescaled to the norm of the summed gradient ``g_mm + g_u`` of
       that tensor when that norm is larger, and the gradient becomes
       ``gamma * d``.

    The heads keep the plain gradient of ``L_mm + sum_m L_m``. This follows
    the official ``MMPareto.py``: the weights are per encoder, the norm
    rescaling per parameter tensor, and ``gamma`` multiplies the result
    whether or not it was rescaled. A guard the official code lacks: when
    ``d`` is exactly zero it stays zero (instead of 0/0). It works with any
    number of modalities (each encoder only sees its own unimodal loss) and
    with one.

    Parameters
    ----------
    gamma : float, default=1.5
        Multiplier of the encoders' merged gradients (the official code's
        fixed 1.5).
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc``, ``fused_ce``, ``ce_<m>`` and,
        per modality m, ``cos_<m>`` (cosine between ``g_mm`` and ``g_u``) and
        ``weight_mm_<m>`` (``w1``), as epoch means. With early stopping also
        ``valid_*``.

    See Also
    --------
    LateFusionClassifier : Plain concat fusion.
    OGMGEClassifier : On-the-fly gradient modulation.
    MLAClassifier : Alternating unimodal updates through a shared head.

    Notes
    -----
    Missing modalities (a row's block all NaN) are accepted at fit and at predict: a missing
    modality's features are a learned absent embedding in the fused head, and its unimodal
    loss (so its gradient in the Pareto merge) counts the rows where it is present.

    References
    ----------
    .. [1] Y. Wei and D. Hu, "MMPareto: Boosting Multimodal Learning with
       Innocent Unimodal Assistance", ICML 2024.
       Official code: https://github.com/GeWu-Lab/MMPareto_ICML2024

    Examples
    --------
    >>> from skcausalmm import MMParetoClassifier
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = MMParetoClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "gamma": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    _net_class = MMParetoNet

    def __init__(
        self,
        *,
        gamma=1.5,
        modalities=None,
        image_shapes=None,
        encoders=None,
        standardize=True,
        hidden_size=64,
        max_epochs=30,
        lr=3e-3,
        batch_size=128,
        optimizer="adam",
        weight_decay=0.0,
        class_weight=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        callbacks=None,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.gamma = gamma
        self.modalities = modalities
        self.image_shapes = image_shapes
        self.encoders = encoders
        self.standardize = standardize
        self.hidden_size = hidden_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    _module_class = LateFusionNetwork
    _supports_missing = True
    _criterion_class = MultitaskLoss

    def _module_params(self, shapes, n_classes):
        return {
            "encoder_factory": self._encoder_factory(shapes),
            "n_classes": n_classes,
            "detach_modality_heads": False,
            "handle_missing": True,
        }

    def _net_params(self):
        return {"gamma": float(self.gamma)}
