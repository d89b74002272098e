"""OGM-GE: on-the-fly gradient modulation with Gaussian enhancement (Peng et al., CVPR 2022).

Three layers in one file: the formulas (:func:`ogm_coefficients`,
:func:`modulate_encoder_gradients`; each modality's logits come from
:func:`skcausalmm.fusion.network.share_logits`), the training step (:class:`OGMGENet`, a skorch net that
modulates the encoders' gradients after the backward pass) and the estimator
(:class:`OGMGEClassifier`, on the late-fusion network).
"""

import math
import numbers

import torch
from skorch.dataset import unpack_data

from .._compat import Interval
from .._core.base import MultimodalClassifierMixin
from .._core.docstrings import fill_shared_docs
from .._core.net import RecordingNet, assign_gradient
from ..fusion.network import FusionLoss, LateFusionNetwork, share_logits

__all__ = ["OGMGEClassifier", "OGMGENet", "modulate_encoder_gradients", "ogm_coefficients"]


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


def _confidence_scores(hits, weight, present):
    """``s_m``: each modality's (weighted) true-class probabilities, over the rows where it is present.

    With every row present this is the batch sum of the paper; with missing rows it is the
    mean over the modality's present rows times the batch size, so that a modality is not
    judged weaker for being missing more often.
    """
    scores = {}
    for m, h in hits.items():
        w = torch.ones_like(h) if weight is None else weight.to(h.dtype)
        if m in present:
            mask = w * present[m].to(h.dtype)
            scores[m] = float((mask * h).sum() / mask.sum().clamp_min(1e-12) * w.sum())
        else:
            scores[m] = float((w * h).sum())
    return scores


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
                assign_gradient(p, g * k + noise * (std + 1e-8))
            else:
                g.mul_(k)


class OGMGENet(RecordingNet):
    """skorch net of OGM-GE: the fused cross-entropy step, then on-the-fly gradient modulation.

    Parameters
    ----------
    alpha : float
        Modulation strength.
    modulation_epochs : tuple of (int, int)
        Modulation during epochs ``start <= e < end``.
    gaussian_enhancement : bool
        Add Gaussian noise to the modulated gradients.
    *args, **kwargs
        Passed to :class:`MultimodalNet`.

    Notes
    -----
    With a single modality nothing is modulated.
    """

    def __init__(self, *args, alpha, modulation_epochs, gaussian_enhancement, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.modulation_epochs = modulation_epochs
        self.gaussian_enhancement = gaussian_enhancement

    def train_step_single(self, batch, **fit_params):
        """Forward, fused loss, backward; then modulate the encoders' weight gradients."""
        step = super().train_step_single(batch, **fit_params)
        Xi, yi = unpack_data(batch)
        module = self.module_
        names = list(module.names)
        if len(names) < 2:
            return step
        weight = self.batch_sample_weight(Xi)
        with torch.no_grad():
            feats = {m: f.detach() for m, f in step["y_pred"]["features"].items()}
            logits = share_logits(module.head, feats, names)
            hits = {m: torch.softmax(logits[m], 1).gather(1, yi.view(-1, 1))[:, 0] for m in names}
            scores = _confidence_scores(hits, weight, step["y_pred"].get("present", {}))
        ratios, coeffs = ogm_coefficients(scores, self.alpha)
        start, end = self.modulation_epochs
        epoch = self._current_epoch()
        active = start <= epoch < end
        for m in names:
            self._record(f"ratio_{m}", ratios[m])
            self._record(f"coeff_{m}", coeffs[m] if active else 1.0)
        if active:
            modulate_encoder_gradients(module.encoders, coeffs, self.gaussian_enhancement)
        return step


@fill_shared_docs
class OGMGEClassifier(MultimodalClassifierMixin):
    """Concat late fusion trained with on-the-fly gradient modulation (OGM-GE).

    The network is that of :class:`~skcausalmm.LateFusionClassifier`
    (per-modality encoders, concatenation, one linear head), trained with the
    cross-entropy of the fused output only. After the backward pass and
    before the optimiser step, on every batch:

    1. each modality's logits are read off its slice of the fused head,
       ``h_m W_m^T + b / M``, and ``s_m`` is the batch sum of their softmax
       probability of the true class (no gradient);
    2. ``rho_m = s_m / min_k s_k`` (two modalities: the ratio of the two) and
       ``k_m = 1 - tanh(alpha * rho_m)`` where ``rho_m > 1``, else 1: the
       modality ahead is slowed down;
    3. inside the modulation window (epochs ``start <= e < end``), every
       weight gradient of encoder m (linear and convolution kernels, not
       biases, not normalisation scales, not the head) becomes ``k_m g``,
       and with Gaussian enhancement ``k_m g + N(0, std(g)^2)``, the noise
       std being that of the gradient *before* scaling and the noise being
       added to every encoder's weights, whatever its coefficient.

    Step 3 follows the official code (the current "bug fixed" version of
    ``main.py``): its noise is drawn with the std of the unscaled gradient and
    is added to both encoders; it modulates only 4-D convolution kernels
    (ResNet backbones, whose normalisation scales are 1-D), which for our
    encoders means every weight matrix and kernel. Two differences: the
    official window is ``start <= e <= end`` (the end epoch included), ours
    excludes ``end``; and for more than two modalities we use ``rho_m = s_m /
    min_k s_k``, a generalisation the paper does not give (its code has two
    modalities). With a single modality nothing is modulated (plain
    training). The per-modality heads of ``modality_proba`` are, as in late
    fusion, linear probes on detached features; they do not train the
    encoders.

    Parameters
    ----------
    alpha : float, default=0.3
        Modulation strength ``alpha`` (0 switches scaling off).
    modulation_epochs : tuple of (int, int), default=(0, 50)
        ``(start, end)``: modulation (and the Gaussian noise) during epochs
        ``start <= e < end`` (0-based).
    gaussian_enhancement : bool, default=True
        Add the Gaussian noise (OGM-GE); False gives plain OGM.
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc``, ``fused_ce`` and, per
        modality m, ``ratio_<m>`` and ``coeff_<m>`` (epoch means of the
        batches' discrepancy ratios and applied coefficients; 1 outside the
        window). With early stopping also ``valid_*``.

    See Also
    --------
    LateFusionClassifier : The same network without modulation.
    MMParetoClassifier : Pareto merging of multimodal and unimodal gradients.
    MLAClassifier : Alternating unimodal updates through a shared head.

    Notes
    -----
    Missing modalities (a row's block all NaN) are accepted at fit and at predict: a missing
    modality's features are a learned absent embedding, and its confidence score is the mean
    true-class probability over the rows where it is present (times the batch size), so that a
    modality is not modulated for being missing more often.

    References
    ----------
    .. [1] X. Peng, Y. Wei, A. Deng, D. Wang and D. Hu, "Balanced Multimodal
       Learning via On-the-fly Gradient Modulation", CVPR 2022.
       Official code: https://github.com/GeWu-Lab/OGM-GE_CVPR2022

    Examples
    --------
    >>> from skcausalmm import OGMGEClassifier
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = OGMGEClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> "coeff_pix" in clf.history_[-1]
    True
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "modulation_epochs": [tuple, list],
        "gaussian_enhancement": ["boolean"],
    }

    _net_class = OGMGENet

    def __init__(
        self,
        *,
        alpha=0.3,
        modulation_epochs=(0, 50),
        gaussian_enhancement=True,
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
        self.alpha = alpha
        self.modulation_epochs = modulation_epochs
        self.gaussian_enhancement = gaussian_enhancement
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

    def _check_window(self):
        window = tuple(self.modulation_epochs)
        if (
            len(window) != 2
            or not all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in window)
            or window[0] < 0
            or window[1] < window[0]
        ):
            raise ValueError(
                "modulation_epochs must be a pair (start, end) of integers with "
                f"0 <= start <= end, got {self.modulation_epochs!r}."
            )
        return int(window[0]), int(window[1])

    _module_class = LateFusionNetwork
    _supports_missing = True
    _criterion_class = FusionLoss

    def _prepare(self, data, y, sample_weight=None):
        self._check_window()

    def _module_params(self, shapes, n_classes):
        return {
            "encoder_factory": self._encoder_factory(shapes),
            "n_classes": n_classes,
            "detach_modality_heads": True,
            "handle_missing": True,
        }

    def _criterion_params(self, class_weight):
        # The probes see detached features: their cross-entropy trains only them.
        return {"class_weight": class_weight, "modality_weight": 1.0}

    def _net_params(self):
        return {
            "alpha": float(self.alpha),
            "modulation_epochs": self._check_window(),
            "gaussian_enhancement": bool(self.gaussian_enhancement),
        }
