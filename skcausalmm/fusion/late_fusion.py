"""Late fusion: the plain multimodal baseline and the first estimator on the shared base."""

import numbers

from .._compat import Interval
from .._core.base import MultimodalClassifierMixin
from .._core.docstrings import fill_shared_docs
from .network import FusionLoss, LateFusionNetwork

__all__ = ["LateFusionClassifier"]


@fill_shared_docs
class LateFusionClassifier(MultimodalClassifierMixin):
    """Late-fusion multimodal classifier: per-modality encoders, concatenation, linear head.

    Each modality gets an encoder chosen from its input shape (a perceptron
    for tables, a small CNN for images, a GRU for sequences on request), the
    representations are concatenated and a linear layer gives the class
    logits. It is the "benchmark" fusion that the causal methods of this
    package are compared against.

    Parameters
    ----------
    auxiliary_weight : float, default=0.0
        Weight of the per-modality auxiliary cross-entropies (a linear head
        per modality on its own features, trained jointly with the encoders).
        With 0 those heads are still trained, on detached features, as
        diagnostics: ``modality_scores`` reports their accuracy.
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` (and ``valid_*`` with early
        stopping) and the loss terms.

    See Also
    --------
    FrontDoorMultimodalClassifier : The causal front-door classifier.

    Notes
    -----
    Missing modalities (a row's block all NaN) are accepted at fit and at predict, for any
    availability pattern: a missing modality's features are a learned absent embedding.

    Examples
    --------
    >>> from skcausalmm import LateFusionClassifier, ModalityDict
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = LateFusionClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "auxiliary_weight": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        auxiliary_weight=0.0,
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
        self.auxiliary_weight = auxiliary_weight
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
    _criterion_class = FusionLoss
    _supports_missing = True

    def _module_params(self, shapes, n_classes):
        return {
            "encoder_factory": self._encoder_factory(shapes),
            "n_classes": n_classes,
            "detach_modality_heads": self.auxiliary_weight == 0,
            "handle_missing": True,
        }

    def _criterion_params(self, class_weight):
        return {"class_weight": class_weight, "modality_weight": self.auxiliary_weight or 1.0}
