"""MMPareto: Pareto integration of multimodal and unimodal gradients (Wei & Hu, ICML 2024)."""

import numbers

from ._base import MultimodalClassifierMixin
from ._compat import Interval
from ._docstrings import fill_shared_docs
from ._training import MMParetoNet
from .modules.fusion import LateFusionNetwork
from .modules.imbalance import MultitaskLoss

__all__ = ["MMParetoClassifier"]


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

    References
    ----------
    .. [1] Y. Wei and D. Hu, "MMPareto: Boosting Multimodal Learning with
       Innocent Unimodal Assistance", ICML 2024.
       Official code: https://github.com/GeWu-Lab/MMPareto_ICML2024

    Examples
    --------
    >>> from skcausalmm.pareto import MMParetoClassifier
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
    _criterion_class = MultitaskLoss

    def _module_params(self, shapes, n_classes):
        return {"encoder_factory": self._encoder_factory(shapes), "n_classes": n_classes, "detach_modality_heads": False}

    def _net_params(self):
        return {"gamma": float(self.gamma)}
