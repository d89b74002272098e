"""MLA: multimodal learning by alternating unimodal adaptation (Zhang et al., CVPR 2024)."""

from ._base import MultimodalClassifierMixin
from ._docstrings import fill_shared_docs
from ._training import MLANet
from .modules.imbalance import MLANetwork, UnimodalLoss

__all__ = ["MLAClassifier"]


@fill_shared_docs
class MLAClassifier(MultimodalClassifierMixin):
    """Alternating unimodal training through one shared head, entropy-weighted fusion (MLA).

    Every modality has an encoder with the common output size
    ``hidden_size`` (an encoder of another size gets a linear projection) and
    all share one linear head. Each batch makes one optimiser step per
    modality, in turn: the modality's encoder and the shared head are updated
    by that modality's cross-entropy alone. Before each step but the very
    first, the head's weight gradient is projected by a running
    recursive-least-squares projector built from the features of the earlier
    updates, so that learning one modality disturbs less what the head
    learned from the others (see
    :class:`~skcausalmm.modules.imbalance.GradientProjector`). At prediction,
    the unimodal logits are fused per sample with weights
    ``softmax_m(-H_m)``, ``H_m`` the entropy of modality m's prediction.

    Differences from the official code, as we read it: (i) its projection is
    applied only to a parameter named ``"module.weight"``, which a plain
    ``nn.Linear`` head (named ``"weight"``) does not have, so as released the
    projection may not take effect; we apply it, as the paper describes; (ii)
    its fusion entropy is computed over the whole evaluation batch (softmax
    over the batch axis), one weight per modality and batch; we use the
    paper's per-sample entropy, which also makes a sample's prediction
    independent of the batch it comes in. Like the official code we keep one
    projection matrix shared by all modalities. With a single modality it is
    plain training with the projection.

    Parameters
    ----------
    projection : bool, default=True
        Apply the gradient projection to the shared head.
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss`` (mean of the unimodal losses), ``train_acc``
        (of the fused prediction) and ``ce_<m>`` per modality. With early
        stopping also ``valid_*`` (the validation loss is the cross-entropy of
        the fused prediction).

    See Also
    --------
    LateFusionClassifier : Plain concat fusion.
    OGMGEClassifier : On-the-fly gradient modulation.
    MMParetoClassifier : Pareto merging of multimodal and unimodal gradients.

    References
    ----------
    .. [1] X. Zhang, J. Yoon, M. Bansal and H. Yao, "Multimodal
       Representation Learning by Alternating Unimodal Adaptation", CVPR
       2024. Official code:
       https://github.com/Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation

    Examples
    --------
    >>> from skcausalmm.mla import MLAClassifier
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = MLAClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "projection": ["boolean"],
    }

    _net_class = MLANet

    def __init__(
        self,
        *,
        projection=True,
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
        self.projection = projection
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

    _module_class = MLANetwork
    _criterion_class = UnimodalLoss

    def _module_params(self, shapes, n_classes):
        return {"encoder_factory": self._encoder_factory(shapes), "n_classes": n_classes}

    def _net_params(self):
        return {"projection": bool(self.projection)}
