"""ContrastiveICA: multimodal contrastive learning, then linear ICA on the learned representation."""

import math
import numbers
from collections.abc import Mapping

import numpy as np
import torch
from sklearn.decomposition import PCA, FastICA
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, _fit_context
from .._core.base import MultimodalTransformerMixin
from .._core.callbacks import fitted_attributes
from .._core.data import AVAILABILITY_KEY
from .._core.docstrings import CLASSIFIER_ONLY, fill_shared_docs
from ..nn.encoders import EncoderFactory
from ..nn.losses import GEOMETRIES, normalise
from .network import ContrastiveNetwork, SymmetricInfoNCELoss

__all__ = ["ContrastiveICA"]

_DEFAULT_TEMPERATURE = {"sphere": 0.2, "box": 1.0}
#: ``n_init="auto"``: at most this many fits in all
_AUTO_MAX_FITS = 2
#: a direction of the representation with less than this fraction of the isotropic variance
#: share (1 / n_components) is unused: the fit collapsed onto a lower-dimensional solution
_COLLAPSE_SHARE = 0.01


def _variance_ratio(rep):
    """Shares of the total variance of ``rep`` along its principal directions, largest first."""
    centred = rep - rep.mean(axis=0)
    eig = np.clip(np.linalg.eigvalsh(centred.T @ centred / max(len(rep) - 1, 1)), 0.0, None)[::-1]
    total = eig.sum()
    return eig / total if total > 0 else np.full_like(eig, np.nan)


@fill_shared_docs(exclude=CLASSIFIER_ONLY, hidden_size=256, max_epochs=60, lr=1e-3, batch_size=512)
class ContrastiveICA(MultimodalTransformerMixin):
    """Multimodal contrastive learning followed by linear ICA: recovers coupled latent variables.

    One encoder per modality is trained with the symmetric InfoNCE loss (CLIP's loss; with more
    than two modalities, the mean over all pairs of modalities) so that paired samples are
    similar and unpaired ones are not. Under a latent partial causal model (Liu et al., arXiv
    2402.06223) the learned representation of a modality is a linear map of its coupled latent
    variables, free of the modality-specific ones: orthogonal on the sphere (``geometry="sphere"``,
    cosine similarity), a permutation and scaling in a convex body (``geometry="box"``, negative
    L1 distance). Linear ICA (scikit-learn's :class:`~sklearn.decomposition.FastICA`, optionally
    after :class:`~sklearn.decomposition.PCA`), fitted on the training data's representation, then
    turns that into independent components when the latent components are independent and
    non-Gaussian. ``y`` is ignored.

    Parameters
    ----------
    n_components : int or None, default=None
        Size of the learned representation (the number of coupled latents it should capture).
        None takes the width of an ``"identity"`` modality if there is one, else the smallest
        number of features among the modalities, capped at ``hidden_size``.
    geometry : {"sphere", "box"}, default="sphere"
        ``"sphere"``: L2-normalised embeddings compared by cosine similarity; ``"box"``:
        unconstrained embeddings compared by negative L1 distance.
    temperature : float or None, default=None
        Divides the similarities in the loss; None takes 0.2 on the sphere and 1.0 in the box
        (where the unconstrained embedding scale makes it immaterial). On the sphere the critic
        that matches a vMF conditional of concentration ``kappa`` has ``temperature = 1 /
        kappa``; a somewhat larger value trains faster and avoids collapsing onto a smaller
        sphere (see the documentation page).
    ica : bool, default=True
        Return ICA sources from ``transform``; False returns the contrastive representation
        itself (normalised on the sphere).
    pca_components : int or None, default=None
        Reduce the representation with PCA to this many components before ICA (None: no
        PCA; ICA extracts ``n_components`` sources).
    modality : str or None, default=None
        Which modality ``transform`` encodes: a modality name, None for the first one, or
        ``"all"`` for every modality's components side by side (a modality named ``"all"``
        takes precedence).
    n_hidden_layers : int, default=3
        Hidden layers of the default tabular encoder (:class:`~skcausalmm.nn.encoders.SkipMLPEncoder`).
    max_iter_ica : int, default=1000
        ``max_iter`` of FastICA.
    n_init : int or "auto", default="auto"
        Number of fits from different initialisations; the one with the lowest final InfoNCE
        (on the validation split with ``early_stopping``, else on the training data) is kept.
        ``"auto"``: one fit, and a second one only when the first has *collapsed*: a
        principal direction of some modality's representation carries less than 1 % of
        the share 1 / ``n_components`` it would have if all were used (contrastive training
        can settle in such a lower-dimensional optimum); the second fit is kept if its
        InfoNCE is lower. A representation wider than the number of coupled latents also
        leaves directions unused, so with such an ``n_components`` "auto" fits twice.
        ``warm_start`` continuation and ``partial_fit`` never refit.
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    n_components_ : int
        Size of the contrastive representation.
    temperature_ : float
        Temperature used.
    pca_ : dict of str to PCA or None
        Per-modality PCA (None entries when ``pca_components`` is None).
    ica_ : dict of str to FastICA
        Per-modality FastICA fitted on that modality's training representation.
    history_ : skorch.History
        Per-epoch ``train_loss`` (and ``valid_loss`` with early stopping): the InfoNCE.
    variance_ratio_ : dict of str to ndarray of shape (n_components_,)
        Per modality, the shares of its representation's variance (training rows where it is
        present) along the principal directions, largest first; a share near 0 is an unused
        direction.
    n_init_ : int
        Fits run by the last ``fit`` (see ``n_init``; 1 after ``partial_fit`` or a continued fit).

    See Also
    --------
    skcausalmm.datasets.make_partial_causal : Synthetic data with known coupled latents.
    skcausalmm.metrics.identifiability_scores : R² and MCC against known latents.

    Notes
    -----
    The representation is identified only up to the transformation above; ICA fixes the
    rotation up to permutation, sign and scale, provided the latent components are
    independent and at most one is Gaussian. A modality given ``encoders={"t": "identity"}``
    is taken as already embedded (e.g. precomputed CLIP text features, ``n_components`` must
    then equal its width) and only the other encoders are trained.

    Missing modalities (a row's block all NaN) are accepted in ``fit`` and ``transform``: a
    pair of modalities contributes to the contrastive loss through the rows where both are
    present (a row missing one of them is neither a positive nor a negative of that pair),
    each modality's PCA and ICA are fitted on its present rows, and ``transform`` returns NaN
    in a selected modality's columns for the rows where it is missing.

    Examples
    --------
    >>> from skcausalmm import ContrastiveICA
    >>> from skcausalmm.datasets import make_partial_causal
    >>> d = make_partial_causal(512, n_latent=3, n_specific=1, random_state=0)
    >>> est = ContrastiveICA(n_components=3, max_epochs=2, random_state=0).fit(d.data)
    >>> est.transform(d.data).shape
    (512, 3)
    """

    _parameter_constraints = {
        **MultimodalTransformerMixin._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "geometry": [StrOptions(set(GEOMETRIES))],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "ica": ["boolean"],
        "pca_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "modality": [str, None],
        "n_hidden_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter_ica": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        n_components=None,
        *,
        geometry="sphere",
        temperature=None,
        ica=True,
        pca_components=None,
        modality=None,
        n_hidden_layers=3,
        max_iter_ica=1000,
        n_init="auto",
        modalities=None,
        image_shapes=None,
        encoders=None,
        standardize=True,
        hidden_size=256,
        max_epochs=60,
        lr=1e-3,
        batch_size=512,
        optimizer="adam",
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        callbacks=None,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.geometry = geometry
        self.temperature = temperature
        self.ica = ica
        self.pca_components = pca_components
        self.modality = modality
        self.n_hidden_layers = n_hidden_layers
        self.max_iter_ica = max_iter_ica
        self.n_init = n_init
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    _module_class = ContrastiveNetwork
    _predicts_during_training = False  # predictions need what _after_fit builds
    _criterion_class = SymmetricInfoNCELoss
    _supports_missing = True
    # one table with scikit-learn's checks: its even and odd columns are the two modalities
    _check_estimator_params = {"modalities": {"a": slice(0, None, 2), "b": slice(1, None, 2)}}

    def _expected_failed_checks(self):
        reason = (
            "the check sets n_components=1, and on the sphere (the default geometry) one dimension carries only "
            "a sign: refused with a clear message"
        )
        checks = (
            "check_dont_overwrite_parameters",
            "check_fit2d_1sample",
            "check_fit2d_predict1d",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
        )
        return dict.fromkeys(checks, reason)

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the encoders (from ``n_init`` initialisations), then PCA and ICA per modality.

        Parameters
        ----------
        X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
            Training modalities (at least two).
        y : None
            Ignored.

        Returns
        -------
        self : ContrastiveICA
            The fitted transformer.
        """
        continues = self._continues()
        data = self._validate_X(X, reset=not continues)
        if continues:
            return self._fit(data, None, continue_training=True)
        n_fits = _AUTO_MAX_FITS if self.n_init == "auto" else int(self.n_init)
        restarts = check_random_state(self.random_state if isinstance(self.random_state, numbers.Integral) else None)
        best, best_loss = None, math.inf
        for attempt in range(n_fits):
            # the first fit is the plain fit of random_state; the others draw other seeds from it
            self._restart_state = None if attempt == 0 else int(restarts.randint(2**31 - 1))
            try:
                self._fit(data, None, continue_training=False)
            finally:
                del self._restart_state
            loss = self._final_loss()
            if best is None or loss < best_loss:
                best, best_loss = fitted_attributes(self), loss
            if self.n_init == "auto" and not self._collapsed(best["variance_ratio_"]):
                break
        self.__dict__.update(best)
        self.n_init_ = attempt + 1
        return self

    def _fit_random_state(self):
        restart = getattr(self, "_restart_state", None)
        if restart is None or not isinstance(self.random_state, numbers.Integral):
            return self.random_state  # None or a RandomState instance already draws new seeds on each fit
        return restart

    def _final_loss(self):
        """The InfoNCE of the last epoch: on the validation split when there is one, else on the training data."""
        last = self.history_[-1] if len(self.history_) else {}
        loss = last.get("valid_loss", last.get("train_loss", math.inf))
        return float(loss) if np.isfinite(loss) else math.inf

    def _collapsed(self, ratios):
        """Whether a modality's representation leaves a principal direction (nearly) unused."""
        threshold = _COLLAPSE_SHARE / self.n_components_
        return any(len(r) > 1 and np.nanmin(r) < threshold for r in ratios.values())

    # ------------------------------------------------------------------ hooks
    def _prepare(self, data, y, sample_weight=None):
        if len(data) < 2:
            names = list(data)
            raise ValueError(
                f"ContrastiveICA needs at least two modalities (paired views of the same samples), got {len(data)}: "
                f"{names}. Pass a dict such as {{'x': X_x, 't': X_t}}, or a 2-D array with a `modalities` selector."
            )
        specs = self.encoders or {}
        for name, spec in specs.items():
            if spec == "identity" and name in data and data[name].ndim != 2:
                raise ValueError(f"Encoder of modality {name!r}: 'identity' needs 2-D embeddings (n, d).")
        widths = [int(np.prod(data[m].shape[1:])) for m in data]
        identity_widths = {m: int(np.prod(data[m].shape[1:])) for m, s in specs.items() if s == "identity" and m in data}
        identity = list(identity_widths.values())
        if self.n_components is not None:
            self.n_components_ = int(self.n_components)
            wrong = [(m, w) for m, w in identity_widths.items() if w != self.n_components_]
            if wrong:
                name, width = wrong[0]
                raise ValueError(
                    f"Encoder of modality {name!r}: an 'identity' encoder passes the {width} input features through, "
                    f"so n_components must be {width}, got {self.n_components_}."
                )
        elif identity:
            self.n_components_ = identity[0]
        else:
            self.n_components_ = int(min(min(widths), self.hidden_size))
            if self.geometry == "sphere":  # the sphere in one dimension is two points: a sign, not a representation
                self.n_components_ = max(self.n_components_, min(2, self.hidden_size))
        if self.geometry == "sphere" and self.n_components_ < 2:
            raise ValueError(
                f"n_components={self.n_components_} on the sphere: the unit sphere in one dimension is the two "
                "points -1 and +1, so the representation could only carry a sign. Use n_components >= 2 (and "
                "hidden_size >= 2), or geometry='box'."
            )
        if all(specs.get(m) == "identity" for m in data):
            raise ValueError("Every modality has an 'identity' encoder: there is nothing to train.")
        if self.pca_components is not None and self.pca_components > self.n_components_:
            raise ValueError(f"pca_components={self.pca_components} cannot exceed n_components={self.n_components_}.")
        self.temperature_ = float(_DEFAULT_TEMPERATURE[self.geometry] if self.temperature is None else self.temperature)

    def _encoder_factory(self, shapes):
        # tables get the skip-path perceptron unless the user names another kind
        return EncoderFactory(
            shapes, self.hidden_size, self.encoders, table_kind="skip_mlp", depth=self.n_hidden_layers
        )

    def _module_params(self, shapes, n_outputs):
        return {"encoder_factory": self._encoder_factory(shapes), "out_features": self.n_components_}

    def _criterion_params(self, class_weight):
        return {"temperature": self.temperature_, "geometry": self.geometry}

    def _after_fit(self, X, y, generator, sample_weight=None):
        module = self.net_.module_
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        self.n_init_ = 1  # one training run; fit's restarts count theirs
        self.pca_, self.ica_, self.variance_ratio_ = {}, {}, {}
        availability = X.get(AVAILABILITY_KEY)
        for j, name in enumerate(self.modality_names_):
            rep = self._representation(module, X[name], name)
            if availability is not None:  # each modality's ICA sees the rows where it is present
                rep = rep[availability[:, j].cpu().numpy() > 0]
            self._check_representation(name, rep)
            self.variance_ratio_[name] = _variance_ratio(rep)
            try:
                if self.pca_components is not None:
                    self.pca_[name] = PCA(self.pca_components, random_state=seed).fit(rep)
                    rep = self.pca_[name].transform(rep)
                else:
                    self.pca_[name] = None
                self.ica_[name] = FastICA(
                    whiten="unit-variance", max_iter=self.max_iter_ica, random_state=seed
                ).fit(rep)
            except ValueError as exc:  # a degenerate (rank-deficient) representation reaches the whitening
                raise ValueError(self._degenerate_message(name, f"ICA could not be fitted ({exc})")) from None

    def _degenerate_message(self, name, what):
        return (
            f"ContrastiveICA: the learned representation of modality {name!r} is degenerate: {what}. Likely "
            f"causes: a constant or nearly constant modality, a learning rate too large (lr={self.lr!r}), or too "
            f"few units (hidden_size={self.hidden_size!r}, n_components={self.n_components!r})."
        )

    def _check_representation(self, name, rep):
        if not np.isfinite(rep).all():
            raise ValueError(self._degenerate_message(name, "it is not finite"))
        if rep.shape[0] > 1 and np.all(rep.std(axis=0) <= 1e-12):
            raise ValueError(self._degenerate_message(name, "it is constant across samples"))

    # -------------------------------------------------------------- transform
    def _representation(self, module, x, name):
        """Geometry-normalised embedding of one modality's (standardised) batch, as float64 numpy."""
        with torch.no_grad():
            chunks = [normalise(module.encode(x[i : i + 8192], name), self.geometry) for i in range(0, len(x), 8192)]
        return torch.cat(chunks).double().cpu().numpy()

    def _selected(self):
        if self.modality is None:
            return [self.modality_names_[0]]
        if self.modality in self.modality_names_:
            return [self.modality]
        if self.modality == "all":
            return list(self.modality_names_)
        raise ValueError(f"modality={self.modality!r} is not one of the fitted modalities {self.modality_names_} or 'all'.")

    def _transform_batch(self, module, X, availability):
        out = {}
        for name in self._selected():
            rep = normalise(module.encode(X[name], name), self.geometry)
            if availability is not None:  # a missing modality has no representation
                missing = availability[:, self.modality_names_.index(name)] <= 0
                rep = rep.masked_fill(missing[:, None], float("nan"))
            out[name] = rep
        return out

    def _complete(self, X):
        """Let a dict omit the modalities that ``transform`` does not encode (they are zero-filled)."""
        if not isinstance(X, Mapping):
            return X
        selected = self._selected()
        absent = [m for m in self.modality_names_ if m not in X]
        if not absent or any(m in absent for m in selected):
            return X
        n = len(X[selected[0]])
        filled = {k: X[k] for k in X}
        for m in absent:
            filled[m] = np.zeros((n, *self.modality_shapes_[m]), dtype=np.float32)
        return type(X)(filled) if not isinstance(X, dict) else filled

    def transform(self, X):
        """Encode ``X`` and return the ICA sources of the selected modality (or the representation).

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``; a dict may leave out the modalities
            that are not encoded (e.g. only ``{"image": ...}`` with ``modality="image"``).

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            ``n_components_`` (or ``pca_components``) columns per selected modality; NaN in
            a selected modality's columns for the rows where it is missing.
        """
        check_is_fitted(self, "ica_")
        names = self._selected()
        batches = self._map_batches(self._complete(X), self._transform_batch)
        out = []
        for name in names:
            rep = np.concatenate([b[name] for b in batches]).astype(np.float64)
            if self.ica:
                rows = ~np.isnan(rep).any(axis=1)  # rows whose modality is missing stay NaN
                sources = np.full((len(rep), self.ica_[name].components_.shape[0]), np.nan)
                if rows.any():
                    present = rep[rows]
                    if self.pca_[name] is not None:
                        present = self.pca_[name].transform(present)
                    sources[rows] = self.ica_[name].transform(present)
                rep = sources
            out.append(rep)
        return np.hstack(out)

    @property
    def _n_features_out(self):
        """Columns per selected modality (``pca_components`` with PCA before ICA, else ``n_components_``)."""
        per_modality = self.pca_components if self.ica and self.pca_components is not None else self.n_components_
        return per_modality * len(self._selected())

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``<modality>_ic<i>`` (``<modality>_z<i>`` with ``ica=False``).

        Parameters
        ----------
        input_features : None
            Ignored (the outputs are learned features, not input columns).

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "ica_")
        names = self._selected()
        k = self._n_features_out // len(names)
        stem = "ic" if self.ica else "z"
        return np.asarray([f"{name}_{stem}{i}" for name in names for i in range(k)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags
