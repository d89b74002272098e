"""Causal information minimisation: confounder representations, then debiasing (TE-D and ATE-D)."""

import copy
import inspect
import numbers
import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions
from .._core.base import MultimodalClassifierMixin
from .._core.docstrings import fill_shared_docs
from ..fusion.late_fusion import LateFusionClassifier
from .network import (
    AverageTreatmentEffectNetwork,
    BackdoorLoss,
    FrozenFeatures,
    TiedLinearAutoencoder,
    TotalEffectLoss,
    TotalEffectNetwork,
)

__all__ = ["CausalInfoMinClassifier"]

#: The parameters each debiasing method uses (the others have no effect on it, and a changed value warns).
_METHOD_PARAMS = {
    "te": ("bias_size", "rate_coefficient", "coding_eps", "dynamic_weight", "contrastive_weight", "temperature",
           "inference"),
    "ate": ("confounder_modality", "code_size", "n_confounders", "prior", "ate_variant", "biased_epochs",
            "treatment_weight"),
}

#: Shared parameters handed to the first-stage (biased) model of ATE-D.
_FIRST_STAGE_PARAMS = (
    "encoders",
    "standardize",
    "hidden_size",
    "lr",
    "batch_size",
    "optimizer",
    "weight_decay",
    "device",
)


#: A modality is a shortcut candidate when the label read from its k-means clusters is at least
#: this share of the accuracy of a linear probe on its features (its predictive information is a
#: categorical code of the label).
SHORTCUT_SUFFICIENCY = 0.985

#: ... and when its k-means clusters explain at least this share of its features' variance (the
#: features are nearly discrete: a code, not a measurement).
SHORTCUT_DISCRETENESS = 0.9

#: Rows used to score the modalities (a seeded subsample beyond it).
_DETECTION_ROWS = 5000


def _weighted_accuracy(correct, sample_weight):
    return float(np.average(correct, weights=sample_weight))


def _probe_accuracy(features, y, sample_weight, seed):
    """Training accuracy of a multinomial logistic regression on standardised ``features``."""
    Z = StandardScaler().fit_transform(features)
    probe = LogisticRegression(max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a probe that stops early is still a probe
        probe.fit(Z, y, sample_weight=sample_weight)
    return _weighted_accuracy(probe.predict(Z) == y, sample_weight)


def _cluster_accuracy(features, y, n_clusters, sample_weight, seed):
    """``(accuracy, explained)``: the label read from each row's k-means cluster (its majority label), and the share of variance the clusters explain."""
    Z = StandardScaler().fit_transform(features)
    kmeans = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(Z, sample_weight=sample_weight)
    labels = kmeans.labels_
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    hits = 0.0
    for c in np.unique(labels):
        rows = labels == c
        hits += np.bincount(y[rows], weights=weight[rows]).max()
    total = float(np.sum(weight[:, None] * (Z - np.average(Z, axis=0, weights=weight)) ** 2))
    explained = 1.0 - float(kmeans.inertia_) / total if total > 0 else 1.0
    return float(hits / weight.sum()), explained


def _find_shortcut_modalities(features, y, n_classes, sample_weight=None, seed=0, present=None):
    """The modalities whose predictive information is a categorical code of the label, and every modality's score.

    For each modality ``m`` (its first-stage features), the score is the accuracy of the label
    read from ``m``'s k-means clusters (``n_classes`` of them) divided by a linear probe's
    accuracy on ``m``'s features. A modality is chosen when its score reaches
    :data:`SHORTCUT_SUFFICIENCY` and its clusters explain at least
    :data:`SHORTCUT_DISCRETENESS` of its (standardised) features' variance: its features are
    nearly a categorical code and its information about the label is carried by that code, the
    simplest predictive feature there is (a tag, a watermark, a site code). At least one
    modality always stays out of the choice.

    With missing modalities (``present``), each modality is scored on the rows where it is
    present only (its probe, its k-means and its variance share); a modality with fewer
    present rows than clusters, or with one class among them, cannot be scored (NaN) and is
    not chosen. The chosen modalities keep at least one row where they are all present (the
    confounder dictionary is built from such rows).

    Parameters
    ----------
    features : dict of str to ndarray of shape (n_samples, n_features_m)
    y : ndarray of shape (n_samples,)
        Encoded labels ``0 .. n_classes - 1``.
    n_classes : int
    sample_weight : ndarray or None
    seed : int
    present : dict of str to ndarray of shape (n_samples,) of bool, or None
        Where each modality is present (its features elsewhere are ignored); None: everywhere.

    Returns
    -------
    chosen : list of str
    scores : dict of str to float
    """
    names = list(features)
    n = len(y)
    n_clusters = max(n_classes, 2)
    scores, explained = {}, {}
    for m in names:
        # the rows that score m: those where it is present, a seeded subsample beyond _DETECTION_ROWS
        rows = None if present is None or bool(np.all(present[m])) else np.flatnonzero(present[m])
        size = n if rows is None else len(rows)
        if size > _DETECTION_ROWS:
            draw = np.sort(np.random.RandomState(seed).choice(size, _DETECTION_ROWS, replace=False))
            rows = draw if rows is None else rows[draw]
        f_m, y_m, w_m = features[m], y, sample_weight
        if rows is not None:
            f_m, y_m = f_m[rows], y[rows]
            w_m = None if w_m is None else np.asarray(w_m)[rows]
        if len(y_m) < n_clusters or len(np.unique(y_m)) < 2:
            scores[m] = explained[m] = float("nan")  # too few present rows to tell
            continue
        probe = _probe_accuracy(f_m, y_m, w_m, seed)
        clusters, explained[m] = _cluster_accuracy(f_m, y_m, n_clusters, w_m, seed)
        scores[m] = clusters / max(probe, 1e-12)
    chosen = []
    joint = None  # rows where every chosen modality is present
    for m in sorted(names, key=lambda m: -np.nan_to_num(scores[m], nan=-np.inf)):
        if scores[m] >= SHORTCUT_SUFFICIENCY and explained[m] >= SHORTCUT_DISCRETENESS and len(chosen) < len(names) - 1:
            if present is not None:
                both = np.asarray(present[m], dtype=bool) if joint is None else joint & present[m]
                if not both.any():
                    continue
                joint = both
            chosen.append(m)
    return [m for m in names if m in chosen], scores


@fill_shared_docs
class CausalInfoMinClassifier(MultimodalClassifierMixin):
    """Debiasing by causal information minimisation (Patil, Maharana and Bansal, 2023): TE-D or ATE-D.

    A biased model's simplest predictive features stand for the confounder of the input
    and the label; the model learns a low-information code of them and removes it causally
    ("Debiasing Multimodal Models via Causal Information Minimization", EMNLP Findings 2023,
    arXiv 2311.16941). Per-modality encoders and concatenation stand in for the paper's
    LXMERT backbone.

    * ``method="te"`` (total-effect debiasing, TE-D): the fused feature ``z`` gives a
      confounder code ``z_c = E(stopgrad z)`` of width ``bias_size``, mapped back to
      ``z~_c``; the main head reads the debiased feature ``phi(z - z~_c)`` and a bias head
      reads ``z~_c``, both trained on the label. The coding rate
      ``R(Z) = 1/2 logdet(I + p / (m eps) Z^T Z)`` of ``z~_c`` is minimised with the dynamic
      weight ``alpha = min(1, rate_coefficient * CE_bias / R)`` (detached, recomputed each
      step), and a one-positive one-negative InfoNCE pulls ``z`` towards the debiased feature
      and away from ``z~_c``. Prediction: the debiased head, or with ``inference="tie"`` the
      softmax of ``logits - bias_logits``.
    * ``method="ate"`` (average-treatment-effect debiasing, ATE-D): a plain late-fusion model
      is fitted first (``biased_estimator_``). The confounder modalities are those named by
      ``confounder_modality`` or, by default, found from the first stage: a modality whose
      features are nearly a categorical code (k-means clusters explain most of their variance)
      and whose clusters predict the label as well as a linear probe on its features (its
      information about the label is the simplest there is: a tag, a site code, a watermark).
      A tied-weight linear autoencoder compresses their first-stage features to ``code_size``
      dimensions, and k-means on the codes gives the confounder dictionary
      ``confounder_dictionary_`` with prior ``confounder_prior_``. The debiased network reads
      the other modalities (the treatment) and the code: ``ate_variant="additive"`` (default)
      adds logits of the code to a linear head's logits of the treatment, so the backdoor
      adjustment (the prior-weighted average of the logits over the dictionary) is exact and
      predicts with the treatment head; ``"backdoor"`` feeds the code to a two-layer head and
      averages its logits over the dictionary (the normalised weighted geometric mean);
      ``"recalibrate"`` multiplies the confounder modalities' features by
      ``1 - sum_j pi_j cos(code, d_j)`` (in [0, 2]).

    One class holds both methods, so that a search compares them (``GridSearchCV`` over
    ``method``) and both share the confounder representation's API (``confounder_transform``).
    Each method-specific parameter says "TE-D:" or "ATE-D:"; setting one for the other method
    has no effect and warns at fit.

    Parameters
    ----------
    method : {"te", "ate"}, default="te"
        TE-D or ATE-D.
    bias_size : int or None, default=None
        TE-D: width of the confounder code; None means a quarter of the fused width.
    rate_coefficient : float, default=0.25
        TE-D: cap ratio of the dynamic weight of the coding rate (its constant weight with
        ``dynamic_weight=False``).
    coding_eps : float, default=0.01
        TE-D: distortion ``eps`` of the coding rate.
    dynamic_weight : bool, default=True
        TE-D: use the dynamic weight.
    contrastive_weight : float, default=1.0
        TE-D: weight of the InfoNCE term (0 drops it).
    temperature : float, default=1.0
        TE-D: InfoNCE temperature.
    inference : {"debiased", "tie"}, default="debiased"
        TE-D prediction: the debiased head, or ``logits - bias_logits``.
    confounder_modality : str, list of str or None, default=None
        ATE-D: the modalities whose first-stage features define the confounder (for the
        backdoor variants they are left out of the treatment; for ``"recalibrate"`` their
        features are recalibrated). None: found from the first stage (``confounder_scores_``),
        possibly none, in which case the model is a plain fused model. An empty list names none.
    code_size : int, default=16
        ATE-D: autoencoder code size (capped at the feature width).
    n_confounders : int, default=10
        ATE-D: dictionary size (k-means clusters; capped at the number of samples).
    prior : {"uniform", "empirical"}, default="uniform"
        ATE-D: dictionary prior, uniform (as in the paper's code) or the cluster shares.
    ate_variant : {"additive", "backdoor", "recalibrate"}, default="additive"
        ATE-D: how the dictionary is used.
    biased_epochs : int or None, default=None
        ATE-D: epochs of the first-stage model; None means ``max_epochs``.
    treatment_weight : float, default=1.0
        ATE-D, additive variant: weight of the treatment head's own cross-entropy beside that
        of the additive model (0 drops it).
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` and the loss terms (TE-D: ``ce``,
        ``bias_ce``, ``rate``, ``alpha``, ``info_nce``; ATE-D: ``ce``).
    biased_estimator_ : LateFusionClassifier
        ATE-D only: the fitted first-stage (biased) model.
    confounder_autoencoder_ : TiedLinearAutoencoder
        ATE-D only: the autoencoder of the first-stage features.
    confounder_kmeans_ : sklearn.cluster.KMeans
        ATE-D only: k-means on the training codes (of the rows where every confounder
        modality is present).
    confounder_dictionary_ : ndarray of shape (n_confounders, code_size)
        ATE-D only: the confounder prototypes.
    confounder_prior_ : ndarray of shape (n_confounders,)
        ATE-D only: their prior.
    confounder_modalities_ : list of str
        ATE-D only: the modalities the confounder is read from (possibly none).
    confounder_scores_ : dict of str to float
        ATE-D with ``confounder_modality=None`` only: each modality's score, the accuracy of the
        label read from its first-stage k-means clusters over a linear probe's; a modality
        scoring at least ``SHORTCUT_SUFFICIENCY`` whose clusters explain at least
        ``SHORTCUT_DISCRETENESS`` of its features' variance is a confounder.

    See Also
    --------
    LateFusionClassifier : The plain (biased) baseline and ATE-D's first stage.
    skcausalmm.metrics.spurious_sufficiency : How sufficient spurious evidence is for the predictions.

    Notes
    -----
    Every difference from the official code (github.com/Vaidehi99/CausalInfoMin) is listed in
    the documentation page ``docs/infomin.md``.

    **Missing modalities.** A modality whose values are all NaN in a row is missing there; fit
    and prediction accept any pattern with at least one modality per row, including patterns
    never seen in training.

    * Wherever the encodings of several modalities are fused (TE-D's ``z``, ATE-D's treatment
      ``z``), a missing modality's encoding is a learned "absent" embedding, one per modality,
      initialised at zero. TE-D's terms (both cross-entropies, the coding rate, the InfoNCE)
      read the fused feature, which every row has, so they count every row; ATE-D's
      cross-entropies too.
    * ATE-D's first stage is a :class:`LateFusionClassifier`, which handles missing modalities
      the same way. The shortcut detection scores each modality on the rows where it is present
      only (its linear probe, its k-means and their variance share); a modality with too few
      present rows to be scored gets a NaN score and is not a confounder.
    * The confounder of a row is known when every confounder modality is present there. The
      autoencoder, the k-means dictionary and its empirical prior are fitted on those rows
      only. In training, a row without its confounder gets a learned "absent" term (zero at
      first) instead of the code's term ``g(c)``; with ``"recalibrate"`` its features are not
      recalibrated (weight 1).
    * At prediction, the additive and backdoor variants average over the dictionary and never
      read the row's own code, and the confounder modalities are not in the treatment: whether
      they are present or missing does not change the prediction. A row with only confounder
      modalities therefore gets the prediction of the treatment's absent embeddings, the same
      for every such row. ``confounder_transform`` gives NaN codes and
      ``confounder_assignments`` -1 for the rows without the confounder.
    * With every row complete, the results are those of the same fit without the mask path
      (the absent embeddings get zero gradients and the masked terms equal the plain ones).

    Examples
    --------
    >>> from skcausalmm import CausalInfoMinClassifier
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["fou", "mor"], return_X_y=True)
    >>> clf = CausalInfoMinClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape, clf.confounder_transform(X[:3]).shape
    ((3,), (3, 128))
    >>> ate = CausalInfoMinClassifier(method="ate", confounder_modality="mor", max_epochs=2,
    ...                               random_state=0).fit(X, y)
    >>> ate.confounder_dictionary_.shape
    (10, 16)
    >>> found = CausalInfoMinClassifier(method="ate", max_epochs=2, random_state=0).fit(X, y)
    >>> found.confounder_modalities_, sorted(found.confounder_scores_)
    ([], ['fou', 'mor'])
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "method": [StrOptions({"te", "ate"})],
        "bias_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "rate_coefficient": [Interval(numbers.Real, 0, None, closed="left")],
        "coding_eps": [Interval(numbers.Real, 0, None, closed="neither")],
        "dynamic_weight": ["boolean"],
        "contrastive_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "inference": [StrOptions({"debiased", "tie"})],
        "confounder_modality": [str, list, None],
        "code_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_confounders": [Interval(numbers.Integral, 1, None, closed="left")],
        "prior": [StrOptions({"uniform", "empirical"})],
        "ate_variant": [StrOptions({"additive", "backdoor", "recalibrate"})],
        "treatment_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "biased_epochs": [Interval(numbers.Integral, 0, None, closed="left"), None],
    }

    _supports_missing = True
    _fitted_module_classes = (TiedLinearAutoencoder,)

    def __init__(
        self,
        *,
        method="te",
        bias_size=None,
        rate_coefficient=0.25,
        coding_eps=0.01,
        dynamic_weight=True,
        contrastive_weight=1.0,
        temperature=1.0,
        inference="debiased",
        confounder_modality=None,
        code_size=16,
        n_confounders=10,
        prior="uniform",
        ate_variant="additive",
        biased_epochs=None,
        treatment_weight=1.0,
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
        self.method = method
        self.bias_size = bias_size
        self.rate_coefficient = rate_coefficient
        self.coding_eps = coding_eps
        self.dynamic_weight = dynamic_weight
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.inference = inference
        self.confounder_modality = confounder_modality
        self.code_size = code_size
        self.n_confounders = n_confounders
        self.prior = prior
        self.ate_variant = ate_variant
        self.biased_epochs = biased_epochs
        self.treatment_weight = treatment_weight
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

    # ------------------------------------------------------------------ the method's classes
    @property
    def _module_class(self):
        return TotalEffectNetwork if self.method == "te" else AverageTreatmentEffectNetwork

    @property
    def _criterion_class(self):
        return TotalEffectLoss if self.method == "te" else BackdoorLoss

    # ------------------------------------------------------------------ ATE-D first stage
    def _confounder_names(self, names):
        """The declared confounder modalities (None: to be found from the first stage)."""
        chosen = self.confounder_modality
        if chosen is None:
            return None
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        unknown = [m for m in chosen if m not in names]
        if unknown:
            raise ValueError(f"confounder_modality names {unknown!r}, not among the modalities {list(names)}.")
        if self.ate_variant != "recalibrate" and len(set(chosen)) == len(names):
            raise ValueError(
                f"confounder_modality names every modality ({list(names)}): the backdoor adjustment needs at "
                "least one modality left as the treatment. Name the modality that carries the shortcut, or "
                "leave confounder_modality=None to have it found."
            )
        return [m for m in names if m in chosen]

    def _first_stage_class_weight(self):
        if not isinstance(self.class_weight, dict):
            return self.class_weight
        # the first stage sees encoded labels 0..K-1
        return {int(np.searchsorted(self.classes_, k)): w for k, w in self.class_weight.items()}

    def _warn_unused_params(self):
        """Warn about parameters set away from their default that the chosen method does not use."""
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        other = "ate" if self.method == "te" else "te"
        unused = [name for name in _METHOD_PARAMS[other] if getattr(self, name) != defaults[name]]
        if unused:
            shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in unused)
            warnings.warn(
                f"method={self.method!r} does not use {shown} ({other.upper()}-D parameters); they have no effect.",
                UserWarning,
            )

    def _prepare(self, data, y, sample_weight=None):
        """ATE-D: fit the biased model, the autoencoder on its features and k-means on the codes (kept on a warm start)."""
        if self._continues():
            return None
        self._warn_unused_params()
        for name in ("biased_estimator_", "confounder_autoencoder_", "confounder_kmeans_", "confounder_dictionary_",
                     "confounder_prior_", "confounder_modalities_", "confounder_scores_", "_frozen_features"):
            self.__dict__.pop(name, None)
        if self.method != "ate":
            return None
        names = list(data)
        declared = self._confounder_names(names)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        epochs = self.max_epochs if self.biased_epochs is None else self.biased_epochs
        biased = LateFusionClassifier(
            **{p: getattr(self, p) for p in _FIRST_STAGE_PARAMS},
            class_weight=self._first_stage_class_weight(),
            max_epochs=epochs,
            random_state=seed,
        )
        biased.fit(dict(data), y, sample_weight=sample_weight)
        self.biased_estimator_ = biased
        encoders = copy.deepcopy(biased.net_.module_.encoders).cpu()

        availability = {}  # the first stage's availability mask ((n, n_modalities), 1 = present)

        def first_stage_features(modalities):
            frozen = FrozenFeatures(encoders, modalities)

            def batch_features(module, batch, mask):
                out = {"features": frozen.to(batch[names[0]].device)(batch)}
                if mask is not None:
                    out["present"] = mask
                return out

            parts = biased._map_batches(dict(data), batch_features)
            frozen.cpu()
            if "present" in parts[0]:
                availability["mask"] = np.concatenate([p["present"] for p in parts]) > 0
            return np.concatenate([p["features"] for p in parts])

        def present_rows(modalities):
            """Rows where every one of ``modalities`` is present (None: all rows)."""
            mask = availability.get("mask")
            if mask is None or not modalities:
                return None
            rows = mask[:, [names.index(m) for m in modalities]].all(axis=1)
            return None if rows.all() else rows

        per_modality = None
        if declared is None:
            y_enc = np.asarray(y)  # the base hands _prepare the encoded labels
            per_modality = {m: first_stage_features([m]) for m in names}
            mask = availability.get("mask")
            present = None if mask is None else {m: mask[:, j] for j, m in enumerate(names)}
            declared, self.confounder_scores_ = _find_shortcut_modalities(
                per_modality, y_enc, len(self.classes_), sample_weight, seed, present=present
            )
        self.confounder_modalities_ = declared
        frozen = FrozenFeatures(encoders, declared)
        if per_modality is not None and declared:  # already computed: the same concatenation, in the same order
            features = np.concatenate([per_modality[m] for m in declared], axis=1)
        else:
            features = first_stage_features(declared)
        # the confounder's representation is learned from the rows where it is observed
        rows = present_rows(declared)
        if rows is not None:
            if not rows.any():
                raise ValueError(
                    f"No training row has every confounder modality {declared} present; the confounder dictionary "
                    "is built from such rows. Name fewer confounder modalities."
                )
            features = features[rows]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[rows]
        features = torch.from_numpy(features).float()
        autoencoder = TiedLinearAutoencoder(features.shape[1], min(self.code_size, features.shape[1])).fit(features)
        with torch.no_grad():
            codes = autoencoder.encode(features).numpy().astype(np.float64)
        # no confounder modality: one constant code, and the adjustment is the treatment head itself
        k = min(self.n_confounders, codes.shape[0]) if declared else 1
        kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(codes, sample_weight=sample_weight)
        counts = np.bincount(kmeans.labels_, weights=sample_weight, minlength=k).astype(np.float64)
        prior = counts / counts.sum() if self.prior == "empirical" else np.full(k, 1.0 / k)
        self.confounder_autoencoder_ = autoencoder
        self.confounder_kmeans_ = kmeans
        self.confounder_dictionary_ = kmeans.cluster_centers_.astype(np.float32)
        self.confounder_prior_ = prior
        self._frozen_features = frozen
        return None

    def _restore_fitted_state(self):
        """ATE-D: rebuild the private frozen first-stage features that the network is built from."""
        if self.method != "ate":
            return
        biased = self.__dict__.get("biased_estimator_")
        names = self.__dict__.get("confounder_modalities_")
        if not isinstance(biased, LateFusionClassifier) or not hasattr(biased, "net_"):
            raise ValueError("CausalInfoMinClassifier(method='ate') needs its fitted biased_estimator_.")
        if not isinstance(self.__dict__.get("confounder_autoencoder_"), TiedLinearAutoencoder):
            raise ValueError("CausalInfoMinClassifier(method='ate') needs its confounder_autoencoder_.")
        if not (isinstance(names, list) and all(n in self.modality_names_ for n in names)):
            raise ValueError("confounder_modalities_ must be a list of the fitted modalities.")
        self._frozen_features = FrozenFeatures(copy.deepcopy(biased.net_.module_.encoders).cpu(), names)

    # ------------------------------------------------------------------ base hooks
    def _module_params(self, shapes, n_classes):
        if self.method == "te":
            return {
                "encoder_factory": self._encoder_factory(shapes),
                "n_classes": n_classes,
                "bias_size": self.bias_size,
                "inference": self.inference,
                "handle_missing": True,
            }
        return {
            "encoder_factory": self._encoder_factory(shapes),
            "n_classes": n_classes,
            "confounder_features": copy.deepcopy(self._frozen_features),
            "autoencoder": copy.deepcopy(self.confounder_autoencoder_),
            "dictionary": torch.from_numpy(self.confounder_dictionary_),
            "prior": torch.from_numpy(self.confounder_prior_.astype(np.float32)),
            "variant": self.ate_variant,
            "recalibrated": self.confounder_modalities_,
            "hidden_size": self.hidden_size,
            "treatment": self._treatment(),
            "handle_missing": True,
        }

    def _treatment(self):
        """Backdoor: the modalities the debiased head reads (all but the confounder's), or None for all."""
        if self.ate_variant == "recalibrate":
            return None
        rest = [m for m in self.modality_names_ if m not in self.confounder_modalities_]
        return rest or None

    def _criterion_params(self, class_weight):
        if self.method == "te":
            return {
                "class_weight": class_weight,
                "rate_coefficient": self.rate_coefficient,
                "eps": self.coding_eps,
                "contrastive_weight": self.contrastive_weight,
                "temperature": self.temperature,
                "dynamic": self.dynamic_weight,
            }
        return {"class_weight": class_weight, "treatment_weight": self.treatment_weight}

    def _predict_params(self):
        return {"inference": self.inference} if self.method == "te" else {}

    # ------------------------------------------------------------------ public extras
    def confounder_transform(self, X):
        """The learned confounder representation of each sample.

        TE-D: the remapped confounder features ``z~_c`` (the fused width); ATE-D: the
        autoencoder codes of the first-stage features (``code_size`` columns), which k-means
        grouped into ``confounder_dictionary_``.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``; missing modalities (all-NaN rows) are
            accepted.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features)
            ATE-D: NaN in the rows where a confounder modality is missing (they have no code).
        """
        if isinstance(self._fitted_module(), TotalEffectNetwork):
            return np.concatenate(
                self._map_batches(X, lambda module, batch, mask: self._call_module(module, batch, mask)["bias"])
            )
        return np.concatenate(self._map_batches(X, lambda module, batch, mask: module.code(batch, mask)))

    def confounder_assignments(self, X):
        """ATE-D: index of each sample's nearest dictionary entry (its k-means cluster).

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 in the rows where a confounder modality is missing (they have no code).
        """
        if not isinstance(self._fitted_module(), AverageTreatmentEffectNetwork):
            raise AttributeError("confounder_assignments is defined for method='ate' only.")
        codes = self.confounder_transform(X).astype(np.float64)
        known = ~np.isnan(codes).any(axis=1)
        if known.all():
            return self.confounder_kmeans_.predict(codes)
        labels = np.full(len(codes), -1, dtype=np.int32)  # the dtype of KMeans.predict
        if known.any():
            labels[known] = self.confounder_kmeans_.predict(codes[known])
        return labels

    def _fitted_module(self):
        check_is_fitted(self, "net_")
        return self.net_.module_
