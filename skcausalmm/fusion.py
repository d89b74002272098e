"""Late fusion: the plain multimodal baseline and the first estimator on the shared base."""

import numbers

from sklearn.utils._param_validation import Interval

from ._base import MultimodalClassifierMixin
from .modules.fusion import FusionLoss, LateFusionNetwork

__all__ = ["LateFusionClassifier"]


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
    modalities : dict of str to column selector, default=None
        For 2-D array or DataFrame input: the columns of each modality
        (slice, integer indices, boolean mask or column names). ``None``
        treats such input as one tabular modality named ``"X"``; ignored for
        dict input (which must then be None).
    image_shapes : dict of str to tuple of int, default=None
        For 2-D array or DataFrame input: per-sample shape to reshape a
        modality's columns into, e.g. ``{"pix": (1, 16, 15)}``.
    encoders : dict of str to str, torch.nn.Module or callable, default=None
        Per-modality encoder: a kind (``"mlp"``, ``"cnn"``, ``"rnn"``), a
        module mapping ``(n, *sample_shape)`` to ``(n, k)`` (deep-copied at
        fit, its weights used as given), or a callable
        ``f(sample_shape, out_features)`` returning one. Modalities not named
        get the default for their shape.
    hidden_size : int, default=64
        Width and output size of the default encoders.
    max_epochs : int, default=30
        Training epochs (an upper bound with ``early_stopping``).
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=128
        Mini-batch size.
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
        Optimiser.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimiser.
    class_weight : dict, "balanced" or None, default=None
        Class weights of the cross-entropy, as in scikit-learn.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data,
        stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and restore the best weights.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (deep-copied at fit).
    device : str, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU; or any torch
        device string.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order and the validation split;
        two CPU fits with the same integer give identical predictions.
    verbose : int, default=0
        0 silent, 1 an epoch table, 2 also a progress bar.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    modality_names_ : list of str
        Modalities seen in ``fit``, in order.
    modality_shapes_ : dict of str to tuple
        Per-sample shape of each modality.
    n_features_in_ : int
        Number of columns (only for array or DataFrame input).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names (only for DataFrame input with string column names).
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch network.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` (and ``valid_*`` with early
        stopping) and the loss terms.
    n_epochs_ : int
        Epochs actually run.
    device_ : str
        The device used.

    See Also
    --------
    FrontDoorMultimodalClassifier : The causal front-door classifier.

    Examples
    --------
    >>> from skcausalmm import LateFusionClassifier, ModalityDict
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
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
        hidden_size=64,
        max_epochs=30,
        lr=1e-3,
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
    ):
        self.auxiliary_weight = auxiliary_weight
        self.modalities = modalities
        self.image_shapes = image_shapes
        self.encoders = encoders
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

    def _build_network(self, shapes, n_classes):
        encoders, dims = self._make_encoders(shapes)
        return LateFusionNetwork(encoders, dims, n_classes, detach_modality_heads=self.auxiliary_weight == 0)

    def _build_loss(self, class_weight):
        return FusionLoss(class_weight, modality_weight=self.auxiliary_weight or 1.0)
