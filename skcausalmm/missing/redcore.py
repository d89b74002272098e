"""RedCore: missing modalities with imbalanced missing rates (Sun et al., AAAI 2024)."""

import numbers

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval
from .._core.base import MultimodalClassifierMixin
from .._core.docstrings import fill_shared_docs
from ..datasets import mask_modalities
from .network import RedCoreLoss, RedCoreNetwork

__all__ = ["RedCoreClassifier"]


@fill_shared_docs(lr=1e-3)
class RedCoreClassifier(TransformerMixin, MultimodalClassifierMixin):
    """Relative-advantage-aware cross-modal representation learning for missing modalities.

    RedCore (Sun et al., AAAI 2024, arXiv 2312.10386) trains on data in
    which each modality is missing in a different share of the samples.
    Every modality's encoder ends in a variational information bottleneck
    (a Gaussian latent ``z_m``: a sample in training, its mean ``mu_m`` at
    prediction); a cross-modal imputer ``G_m`` (residual autoencoder blocks)
    predicts ``z_m`` from the other modalities' latents and replaces it where
    the modality is missing; a fusion classifier reads the fused latents
    and one classifier per modality reads its own. The imputers'
    reconstruction errors are weighted by supervision weights ``beta_m``
    that follow each modality's *relative advantage*: a modality whose
    latent is reconstructed worse than average (typically the one missing
    most often) gets more weight, every ``update_interval`` training steps.

    A modality of a sample is missing when all its values are NaN (any
    input form); ``predict`` and ``predict_proba`` accept every availability
    pattern, including patterns never seen in training. A sample with no
    modality at all is an error.

    Parameters
    ----------
    latent_dim : int, default=64
        Size of each modality's latent (the default encoders' output size).
    n_blocks : int, default=3
        Residual autoencoder blocks per imputer (the depth of ``G_m``).
    imputer_layers : tuple of int, default=(64, 32)
        Encoder widths of each residual block (the decoder mirrors them).
    dropout : float, default=0.3
        Dropout in the fusion and unimodal classifiers (one hidden layer of
        ``hidden_size`` units each).
    kl_weight : float, default=8e-4
        Weight of the bottleneck terms (counted over available samples only).
    reconstruction_weight : float, default=0.15
        Weight ``w`` of the supervision-weighted reconstruction terms
        ``w * sum_m beta_m MSE_m``.
    adaptive : bool, default=True
        Update the supervision weights from the relative advantages; False
        keeps them uniform (``1 / sqrt(M)`` each), the paper's ablation.
    update_interval : int, default=3
        Training steps between two updates of the supervision weights (the
        first step included).
    eta : float, default=0.1
        Initial step size of the supervision-weight update.
    eta_growth : float, default=1.5
        Factor applied to the step size at iteration 0 and then every
        ``eta_growth_every`` iterations (the official schedule).
    eta_growth_every : int, default=500
        Growth period of the step size, in training steps.
    beta_min : float, default=0.1
        Floor of the supervision weights before they are renormalised to
        unit norm.
    train_missing_rates : float, dict of str to float or None, default=None
        Simulate the paper's protocol during ``fit`` on complete training
        data: for each modality exactly ``floor(N * r_m)`` random samples are
        made missing (:func:`skcausalmm.datasets.mask_modalities`, seeded by
        ``random_state``). None trains on the data as given.
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    supervision_weights_ : ndarray of shape (n_modalities,)
        Final supervision weights ``beta``, in the order of ``modality_names_``.
    relative_advantage_ : ndarray of shape (n_modalities,)
        Relative advantages of the last training step.
    reconstruction_loss_ : ndarray of shape (n_modalities,)
        Moving averages of the imputers' reconstruction errors at the end of
        training.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` and the epoch means of the
        loss terms: ``fused_ce``, ``ce_<m>``, ``kl_<m>``, ``mse_<m>``,
        ``beta_<m>`` and ``ra_<m>`` for every modality ``m``.

    See Also
    --------
    LateFusionClassifier : Late fusion, with a learned embedding for a missing modality.
    skcausalmm.metrics.availability_scores : Scores per availability pattern.

    Notes
    -----
    Differences from the official code (github.com/sunjunaimer/RedCore) are
    listed on the documentation page ``docs/redcore.md``; the main ones:
    prediction uses ``mu_m`` instead of a sample, the encoders are chosen by
    input shape instead of transformers, and the log-variance heads start
    at -4 instead of 0.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausalmm import RedCoreClassifier
    >>> from skcausalmm.datasets import load_multiple_features, mask_modalities
    >>> X, y = load_multiple_features(views=["fou", "kar", "mor"], return_X_y=True)
    >>> Xm = mask_modalities(X, {"fou": 0.2, "kar": 0.5, "mor": 0.8}, random_state=0)
    >>> clf = RedCoreClassifier(max_epochs=3, random_state=0).fit(Xm, y)
    >>> clf.predict(Xm[:3]).shape, clf.supervision_weights_.shape
    ((3,), (3,))
    >>> only_kar = {"fou": np.full((2, 76), np.nan), "kar": X["kar"][:2], "mor": np.full((2, 6), np.nan)}
    >>> clf.predict_proba(only_kar).shape
    (2, 10)
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_blocks": [Interval(numbers.Integral, 0, None, closed="left")],
        "imputer_layers": [tuple, list],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "kl_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "reconstruction_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "adaptive": ["boolean"],
        "update_interval": [Interval(numbers.Integral, 1, None, closed="left")],
        "eta": [Interval(numbers.Real, 0, None, closed="left")],
        "eta_growth": [Interval(numbers.Real, 0, None, closed="neither")],
        "eta_growth_every": [Interval(numbers.Integral, 1, None, closed="left")],
        "beta_min": [Interval(numbers.Real, 0, None, closed="neither")],
        "train_missing_rates": [Interval(numbers.Real, 0, 1, closed="left"), dict, None],
    }

    _module_class = RedCoreNetwork
    _criterion_class = RedCoreLoss
    _supports_missing = True

    def __init__(
        self,
        *,
        latent_dim=64,
        n_blocks=3,
        imputer_layers=(64, 32),
        dropout=0.3,
        kl_weight=8e-4,
        reconstruction_weight=0.15,
        adaptive=True,
        update_interval=3,
        eta=0.1,
        eta_growth=1.5,
        eta_growth_every=500,
        beta_min=0.1,
        train_missing_rates=None,
        modalities=None,
        image_shapes=None,
        encoders=None,
        standardize=True,
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
        warm_start=False,
    ):
        self.latent_dim = latent_dim
        self.n_blocks = n_blocks
        self.imputer_layers = imputer_layers
        self.dropout = dropout
        self.kl_weight = kl_weight
        self.reconstruction_weight = reconstruction_weight
        self.adaptive = adaptive
        self.update_interval = update_interval
        self.eta = eta
        self.eta_growth = eta_growth
        self.eta_growth_every = eta_growth_every
        self.beta_min = beta_min
        self.train_missing_rates = train_missing_rates
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

    # ----------------------------------------------------------------- hooks
    def _imputer_layers(self):
        layers = tuple(self.imputer_layers)
        if not layers or not all(
            isinstance(w, numbers.Integral) and not isinstance(w, bool) and w >= 1 for w in layers
        ):
            raise ValueError(f"imputer_layers must be a non-empty tuple of positive ints, got {self.imputer_layers!r}.")
        return tuple(int(w) for w in layers)

    def _prepare(self, data, y, sample_weight=None):
        self._imputer_layers()  # checked before anything is built
        rates = self.train_missing_rates
        if rates is None:
            return None
        already = [name for name, array in data.items() if np.isnan(array.reshape(array.shape[0], -1)[:, 0]).any()]
        if already:
            raise ValueError(
                f"train_missing_rates simulates missing modalities on complete training data, but modality "
                f"{already[0]!r} already has missing rows; pass train_missing_rates=None to train on the data as given."
            )
        if isinstance(rates, dict):
            unknown = sorted(set(rates) - set(data))
            if unknown:
                raise ValueError(f"train_missing_rates names unknown modalities {unknown}; X has {list(data)}.")
            bad = {k: v for k, v in rates.items() if not isinstance(v, numbers.Real) or not 0 <= v < 1}
            if bad:
                raise ValueError(f"train_missing_rates values must be in [0, 1), got {bad}.")
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        masked = mask_modalities(data, rates, random_state=seed)
        return {name: np.asarray(masked[name], dtype=data[name].dtype) for name in data}

    def _module_params(self, shapes, n_classes):
        return {
            "encoder_factory": self._encoder_factory(shapes),
            "n_classes": n_classes,
            "latent_dim": self.latent_dim,
            "imputer_layers": self._imputer_layers(),
            "n_blocks": self.n_blocks,
            "head_hidden": (self.hidden_size,),
            "dropout": self.dropout,
        }

    def _criterion_params(self, class_weight):
        return {
            "n_modalities": len(self.modality_names_),
            "class_weight": class_weight,
            "kl_weight": self.kl_weight,
            "reconstruction_weight": self.reconstruction_weight,
            "adaptive": self.adaptive,
            "update_interval": self.update_interval,
            "eta": self.eta,
            "eta_growth": self.eta_growth,
            "eta_growth_every": self.eta_growth_every,
            "beta_min": self.beta_min,
        }

    def _after_fit(self, X, y, generator, sample_weight=None):
        loss = self.net_.criterion_
        self.supervision_weights_ = loss.beta.detach().cpu().numpy().astype(np.float64)
        self.relative_advantage_ = loss.ra.detach().cpu().numpy().astype(np.float64)
        self.reconstruction_loss_ = loss.ema.detach().cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------- API
    def transform(self, X):
        """The fused latent ``[z~_1, ..., z~_M]``: each modality's ``mu_m``, or its imputation where missing.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit`` (missing blocks all NaN).

        Returns
        -------
        latent : ndarray of shape (n_samples, n_modalities * latent_dim)
            Blocks of ``latent_dim`` columns in the order of ``modality_names_``.
        """
        check_is_fitted(self, "net_")

        def fused(module, batch, availability):
            return module.transform(batch, availability=availability)

        return np.concatenate(self._map_batches(X, fused)).astype(np.float64)
