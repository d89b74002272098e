"""The β-generalised front-door multimodal classifier (IMML-style, our own formulation).

The β formula (:mod:`~skcausalmm.frontdoor.average`), the head, the dictionary, the network
and the losses live beside this file; the estimator wires them into the shared scikit-learn +
skorch base: parameter validation (once, here), the choice of the predominant modality (by
name or by a short warm-up) and the prediction-time β.
"""

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions
from .._core.base import MultimodalClassifierMixin
from .._core.batching import iter_batches
from .._core.data import AVAILABILITY_KEY
from .._core.docstrings import fill_shared_docs
from ..fusion.late_fusion import LateFusionClassifier
from ..metrics.contributions import shapley_contributions
from .average import check_beta
from .losses import FrontDoorLoss
from .network import FrontDoorNetwork
from .schedule import DecorrelationSchedule

__all__ = ["FrontDoorMultimodalClassifier"]

#: The settings the auxiliary modality's role resolves (each also a parameter, "auto" by default).
_ROLE_SETTINGS = ("adversary_objective", "adversary_weight", "conditional_adversary", "mediator_normalization",
                  "unimodal_weight", "shared_trunk")


#: The optimisation each role trains with when ``lr`` and ``batch_size`` are "auto": the decorrelation
#: penalty is estimated per batch, so a confounder needs larger batches (and a slower rate to match).
_ROLE_OPTIMIZATION = {"view": {"lr": 3e-3, "batch_size": 128}, "confounder": {"lr": 1e-3, "batch_size": 256}}

#: The weight of each mediator objective against a confounder (too small leaks it, too large removes content).
_OBJECTIVE_WEIGHTS = {"decorrelation": 20.0, "reversal": 5.0, "confusion": 40.0}
#: How far ``adaptive_adversary`` may raise the decorrelation weight, as a multiple of the starting weight.
_MAX_WEIGHT_RAISE = 32.0


def _resolve_role(params, image):
    """The low-level settings that the role of the auxiliary modality implies, where the user left them "auto".

    ``"view"``: nothing to strip from the mediator (no objective against the auxiliary input), each
    modality's head trains its encoder. ``"confounder"``: the mediator must be independent of the
    auxiliary input, unconditionally (the label is a collider of content and confounder), by the
    decorrelation penalty; its head's label loss is light (it keeps the content).
    """
    role = params["auxiliary"]
    resolved = {"auxiliary_role": role}
    defaults = {
        "view": {"adversary_objective": "decorrelation", "adversary_weight": 0.0, "conditional_adversary": False,
                 "unimodal_weight": 1.0, "shared_trunk": True, "contrastive_weight": 0.3},
        "confounder": {"adversary_objective": "decorrelation", "adversary_weight": 20.0,
                       "conditional_adversary": False, "unimodal_weight": 0.3, "shared_trunk": False,
                       "contrastive_weight": 1.0},
    }[role]
    for name in defaults:
        value = params[name]
        resolved[name] = defaults[name] if isinstance(value, str) and value == "auto" else value
    if role == "confounder" and params["adversary_weight"] == "auto":  # each objective has its own scale
        resolved["adversary_weight"] = _OBJECTIVE_WEIGHTS[resolved["adversary_objective"]]
    resolved["adversary_weight"] = float(resolved["adversary_weight"])
    adaptive = params["adaptive_adversary"]
    if isinstance(adaptive, str):  # "auto": the schedule reads the decorrelation penalty, so only that objective has one
        adaptive = resolved["adversary_objective"] == "decorrelation" and resolved["adversary_weight"] > 0
    elif adaptive and resolved["adversary_objective"] != "decorrelation":
        raise ValueError(
            "adaptive_adversary=True raises the weight of the decorrelation penalty, but adversary_objective is "
            f"{resolved['adversary_objective']!r}; use adversary_objective='decorrelation' or "
            "adaptive_adversary=False."
        )
    resolved["adaptive_adversary"] = bool(adaptive)
    normalization = params["mediator_normalization"]
    if normalization == "auto":
        normalization = "layer" if image and resolved["adversary_objective"] == "reversal" else None
    resolved["mediator_normalization"] = normalization
    return resolved


#: The estimator's parameters that the network takes as they are (its others it gets resolved).
_NETWORK_PARAMS = (
    "mediator_size",
    "context_size",
    "auxiliary_size",
    "projection_size",
    "hidden_size",
    "temperature",
    "adversary_ramp",
    "dictionary_size",
    "dictionary",
    "attention",
    "n_prototypes",
)


@fill_shared_docs(max_epochs=40, lr="auto", batch_size="auto")
class FrontDoorMultimodalClassifier(MultimodalClassifierMixin):
    r"""Multimodal classifier with a β-generalised front-door adjustment of the predominant modality.

    One modality is *predominant* (the treatment X: given by name, or found by a short
    warm-up); the others are *auxiliary* (A). The network (see
    :class:`~skcausalmm.frontdoor.network.FrontDoorNetwork`) reads two paths off X: a
    mediator ``m`` (X's discriminative knowledge) and a context ``r`` aligned with the
    auxiliary features ``z_a`` by a symmetric InfoNCE loss. A head ``g(m, r, z_a)`` stands
    for ``P(y | m, x', a)``. ``predict_proba`` returns

    ``P_β(y | do(x), a) = β FD(y | do(x)) + (1 - β) FD_a(y | do(x), a)``:

    Pearl's front door at β = 1, the front door inside the stratum of the auxiliary modality
    at β = 0. This β formulation is our own derivation (see the documentation page
    "Front-door classifier"), not a formula quoted from the paper.

    **One assumption, stated by** ``auxiliary``. Whether the auxiliary modality reads a hidden
    confounder of X and the label, or is one more view of the same object, cannot be told from
    data: any joint law of (A, X, Y) is also produced by a model without a hidden confounder
    (A → X → Y, A → Y), so only the user (or environments, see
    :class:`~skcausalmm.model_selection.FrontDoorBetaSearchCV`) can say which.

    * ``auxiliary="view"`` (the default): nothing confounds the modalities, so
      ``FD_a = P(y | x, a)`` and ``FD = P(y | x)``; the network computes them directly (the
      head on each sample's own triple, and the mediator's head), nothing is stripped from
      the mediator, and each modality's head trains its encoder on the label (each
      modality's discriminative knowledge, the lever of imbalanced learning). β mixes the
      predominant modality's own prediction with the joint one.
    * ``auxiliary="confounder"``: the mediator must be independent of what the auxiliary
      modality sees (unconditionally: the label is a collider of content and confounder), by
      the decorrelation penalty; after training a dictionary of ``(r_j, z_a_j)`` pairs from the
      training data stands for the contexts and the prediction averages over it,
      ``FD ≈ Σ_j w_j softmax g(m, r_j, z_a_j)`` and
      ``FD_a ≈ Σ_j attn_j(a) softmax g(m, r_j, z_a)``.

    The low-level settings a role implies (``adversary_objective``, ``adversary_weight``,
    ``conditional_adversary``, ``unimodal_weight``, ``contrastive_weight``, ``shared_trunk``,
    and the optimisation: ``lr`` and ``batch_size``) stay available: each ``"auto"`` takes the
    role's value, any other value overrides it. The optimisation is 3e-3 and 128 for a view,
    1e-3 and 256 for a confounder (the decorrelation penalty is estimated on each batch).

    ``beta`` and ``approximation`` are used at prediction time only: ``set_params(beta=...)``
    on a fitted estimator changes ``predict_proba`` without refitting, so one fit serves a
    whole β sweep (:class:`~skcausalmm.model_selection.FrontDoorBetaSearchCV` searches β with
    one fit per fold; ``GridSearchCV`` refits per candidate, as it does for every parameter).
    With a single modality there is no auxiliary modality, the network is a plain classifier
    ``g(m)`` and β has no effect.

    Parameters
    ----------
    beta : float, default=0.5
        Weight in [0, 1] of Pearl's front door (1) against the auxiliary-conditional front
        door (0). Prediction time only.
    auxiliary : {"view", "confounder"}, default="view"
        The causal role of the auxiliary modalities: ``"view"`` when they see the same object
        as the predominant one and nothing confounds them (several views, sensors, an image
        and its measurements); ``"confounder"`` when they read a hidden cause of both the
        predominant modality and the label (a site, a scanner, a demographic variable that
        also drives the outcome). See above for what each sets.
    predominant : str, default="auto"
        Name of the predominant modality, or ``"auto"``: with several modalities a
        :class:`~skcausalmm.LateFusionClassifier` is first trained for ``warmup_epochs``
        epochs and the modality with the largest Shapley contribution to its training
        accuracy (absent modalities at their training mean, i.e. zero after standardisation;
        :func:`skcausalmm.metrics.shapley_contributions`) is chosen, ties broken by the
        accuracy of the detached linear per-modality heads.
    approximation : {"prototypes", "exact", "nwgm"}, default="prototypes"
        How ``predict_proba`` averages over the dictionary. ``"prototypes"``: the exact
        average of probabilities over the ``n_prototypes`` weighted k-means prototypes of the
        dictionary (built at fit time; both β terms and the attention use them), close to
        ``"exact"`` and faster (the docs page "Performance: benchmark results" measures both). ``"exact"``: the
        exact average over all ``dictionary_size`` entries. ``"nwgm"``: the normalised
        weighted geometric mean over all entries (softmax of averaged logits; less
        accurate). Prediction time only.
    n_prototypes : int, default=64
        Number of prototypes of ``approximation="prototypes"`` (the whole dictionary when
        it has no more entries), built at fit time; prediction cost is linear in it.
    mediator_size : int, default=64
        Size of the mediator ``m``.
    context_size : int, default=64
        Size of the context ``r``.
    shared_trunk : bool or "auto", default="auto"
        One encoder of the predominant modality for both the mediator and the context (its
        output split into ``m`` and ``r``) instead of two: the predominant modality is encoded
        once per batch. ``"auto"``: True with ``auxiliary="view"``, False with
        ``"confounder"`` (where the context must carry what the mediator must not).
    auxiliary_size : int, default=64
        Size of the (fused) auxiliary features ``z_a``.
    projection_size : int, default=32
        Size of the InfoNCE projections.
    temperature : float, default=0.1
        InfoNCE and attention temperature.
    contrastive_weight : float or "auto", default="auto"
        Weight of the InfoNCE loss between context and auxiliary projections. ``"auto"``: 0.3
        with ``auxiliary="view"`` (a light alignment of the views), 1 with ``"confounder"``
        (the context must carry what the auxiliary modality sees, for the attention).
    adversary_weight : float or "auto", default="auto"
        Weight of the mediator's objective against the auxiliary input (0: none).
        ``"auto"``: 0 with ``auxiliary="view"`` (nothing to strip); with ``"confounder"`` 20
        for the decorrelation penalty (5 for reversal, 40 for confusion).
    adversary_ramp : float, default=0.5
        Fraction of training over which the adversary weight grows linearly from 0.
    adaptive_adversary : bool or "auto", default="auto"
        With the decorrelation objective, raise its weight while the mediator still
        measurably depends on the auxiliary input: from halfway up the ramp, each training batch
        compares the penalty with its value when every mediator row is paired with another
        sample's auxiliary input; when the pooled excess since the last raise is positive
        and above one standard error at the end of an epoch, the weight doubles (up to
        32 times ``adversary_weight``). Where the penalty already holds, the weight stays.
        The weight each epoch used is ``history_[:, "decor_weight"]``
        (:class:`~skcausalmm.frontdoor.schedule.DecorrelationSchedule`). ``"auto"``: True
        with the decorrelation objective; True with another objective is an error.
    conditional_adversary : bool or "auto", default="auto"
        The objective also gets the label, so the mediator is only penalised for what it
        says about the auxiliary input beyond the label. ``"auto"``: False (with a
        confounder the label is a collider of content and confounder, and conditioning on it
        penalises the content).
    unimodal_weight : float or "auto", default="auto"
        How strongly each modality's own head (the mediator's, and each auxiliary
        modality's) trains its encoder on the label; 0 keeps the heads diagnostics on
        detached features. ``"auto"``: 1 with ``auxiliary="view"``; 0.3 with ``"confounder"``
        (enough to keep the content in the mediator; a stronger label loss on the mediator
        alone pulls the confounder's trace back in against the decorrelation penalty, and over
        many training steps on easily read tabular inputs even this one does: there, 0 keeps
        the mediator clean; see the front-door page).
    adversary_objective : {"auto", "reversal", "confusion", "decorrelation"}, default="auto"
        How the mediator is kept free of the auxiliary input: gradient reversal (it maximises the
        adversary's MSE), or confusion (it makes the frozen adversary predict the batch
        mean of the auxiliary input given the label; bounded, cannot diverge), or
        decorrelation (no adversary network: ``adversary_weight`` times the mean squared
        multiple correlation of the raw auxiliary input with the mediator's units and with
        its whitened directions, centred per class when ``conditional_adversary``;
        scale-free, so the encoder cannot shrink its way out, and aimed at what a linear
        probe of ``m`` reads, including a leak spread over several units; estimated per
        batch, so it needs clearly fewer auxiliary columns than ``batch_size``). ``"auto"``:
        decorrelation. The page "Front door: benchmark results" compares them with
        :func:`skcausalmm.metrics.mediator_diagnostics`.
    dictionary_size : int, default=2000
        Number of dictionary entries (all training samples when there are fewer) with
        ``auxiliary="confounder"`` (``"view"`` needs no dictionary). The cost of
        ``approximation="exact"`` is linear in it.
    dictionary : {"sample", "kmeans"}, default="sample"
        Random training samples with uniform weights, or k-means prototypes weighted by
        cluster size.
    attention : {"auxiliary", "context"}, default="auxiliary"
        Scores of the attention ``attn_j(a)`` standing for ``P(x'_j | a)``: auxiliary
        projection against the dictionary's auxiliary projections, or against its context
        projections (the InfoNCE critic).
    mediator_normalization : {"auto", "layer"} or None, default="auto"
        ``"layer"`` layer-normalises the mediator (bounded: stops a CNN encoder from
        inflating ``m`` to defeat a reversal adversary, which made training diverge); None
        uses the encoder output. ``"auto"``: ``"layer"`` when the predominant modality is an
        image or a sequence *and* the objective is reversal, else None.
    warmup_epochs : int, default=10
        Epochs of the warm-up model used by ``predominant="auto"`` (long enough for a CNN
        encoder to catch up with a fast-learning table). ``verbose=1`` prints the measured
        contributions and the choice.
    %(shared_parameters)s

    Attributes
    ----------
    predominant_modality_ : str
        The predominant modality.
    auxiliary_modalities_ : list of str
        The other modalities, in input order (empty with one modality).
    modality_contributions_ : dict of str to float
        Training accuracy of each modality's per-modality linear head: the warm-up model's
        heads (on detached features) with ``predominant="auto"`` (what the choice was made
        on), the fitted front-door network's own heads otherwise (for the predominant
        modality the mediator's head with ``auxiliary="view"``, a head on the detached
        ``[m, r]`` with ``"confounder"``).
    modality_shapley_ : dict of str to float or None
        With ``predominant="auto"`` and several modalities: the Shapley contribution of each
        modality to the warm-up model's training accuracy, absent modalities zeroed
        (:func:`skcausalmm.metrics.shapley_contributions`); None otherwise.
    auxiliary_role_ : {"view", "confounder"}
        The declared role the model was fitted with.
    adversary_objective_, adversary_weight_, conditional_adversary_, unimodal_weight_, shared_trunk_ : object
        The settings the role resolved (or the values given); ``adversary_weight_`` is the
        starting weight.
    adaptive_adversary_ : bool
        Whether the decorrelation weight followed the schedule of ``adaptive_adversary``
        during training (the weight each epoch used: ``history_[:, "decor_weight"]``).
    mediator_normalization_ : {"layer"} or None
        The resolved ``mediator_normalization``.
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` and the loss terms ``ce``, ``nce``,
        ``adv``, ``diag`` (and ``conf`` with the confusion objective, ``decor`` with the
        decorrelation objective; with ``adaptive_adversary_`` also ``decor_weight`` every
        epoch and ``decor_excess`` after the ramp).

    See Also
    --------
    LateFusionClassifier : The observational late-fusion baseline.
    skcausalmm.FrontDoorAdjustment : The exact discrete β front-door estimator.

    Notes
    -----
    Missing modalities (a row's block all NaN) are accepted at fit and at predict. A missing
    auxiliary modality is a learned absent embedding; a row without any auxiliary modality
    gets the β = 1 term whatever ``beta`` (the auxiliary-conditional term averaged over an
    unobserved auxiliary input is Pearl's front door). A row without the predominant modality
    has no mediator and no effect of X to adjust: it gets ``P(y | a)`` from a head on the
    auxiliary features, the same at every β, and ``mediator_features`` is NaN there.

    References
    ----------
    .. [1] "Multimodal classification via modal-aware interactive enhancement and
       front-door adjustment" (IMML), arXiv:2406.11490. The β formulation implemented here
       is our own derivation.
    .. [2] J. Pearl, "Causality", 2nd ed., Cambridge University Press, 2009 (front-door
       criterion).

    Examples
    --------
    >>> from skcausalmm import FrontDoorMultimodalClassifier
    >>> from skcausalmm.datasets import make_confounded_multimodal
    >>> data = make_confounded_multimodal(300, predominant="table", random_state=0)
    >>> clf = FrontDoorMultimodalClassifier(predominant="table", max_epochs=2, random_state=0)
    >>> clf = clf.fit(data.data, data.target)
    >>> clf.predominant_modality_, clf.auxiliary_modalities_
    ('table', ['auxiliary'])
    >>> clf.set_params(beta=1.0).predict_proba(data.data).shape
    (300, 4)
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "beta": [Interval(numbers.Real, 0, 1, closed="both")],
        "predominant": [str],
        "auxiliary": [StrOptions({"view", "confounder"})],
        "approximation": [StrOptions({"prototypes", "exact", "nwgm"})],
        "n_prototypes": [Interval(numbers.Integral, 1, None, closed="left")],
        "mediator_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "context_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "shared_trunk": ["boolean", StrOptions({"auto"})],
        "auxiliary_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "projection_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "contrastive_weight": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "adversary_weight": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "adversary_ramp": [Interval(numbers.Real, 0, 1, closed="both")],
        "conditional_adversary": ["boolean", StrOptions({"auto"})],
        "adaptive_adversary": ["boolean", StrOptions({"auto"})],
        "unimodal_weight": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "adversary_objective": [StrOptions({"auto", "reversal", "confusion", "decorrelation"})],
        "dictionary_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "dictionary": [StrOptions({"sample", "kmeans"})],
        "attention": [StrOptions({"auxiliary", "context"})],
        "mediator_normalization": [StrOptions({"auto", "layer"}), None],
        "warmup_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        beta=0.5,
        predominant="auto",
        *,
        auxiliary="view",
        approximation="prototypes",
        n_prototypes=64,
        mediator_size=64,
        context_size=64,
        shared_trunk="auto",
        auxiliary_size=64,
        projection_size=32,
        temperature=0.1,
        contrastive_weight="auto",
        adversary_weight="auto",
        adversary_ramp=0.5,
        adaptive_adversary="auto",
        conditional_adversary="auto",
        unimodal_weight="auto",
        adversary_objective="auto",
        dictionary_size=2000,
        dictionary="sample",
        attention="auxiliary",
        mediator_normalization="auto",
        warmup_epochs=10,
        modalities=None,
        image_shapes=None,
        encoders=None,
        standardize=True,
        hidden_size=64,
        max_epochs=40,
        lr="auto",
        batch_size="auto",
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
        self.beta = beta
        self.predominant = predominant
        self.auxiliary = auxiliary
        self.approximation = approximation
        self.n_prototypes = n_prototypes
        self.mediator_size = mediator_size
        self.context_size = context_size
        self.shared_trunk = shared_trunk
        self.auxiliary_size = auxiliary_size
        self.projection_size = projection_size
        self.temperature = temperature
        self.contrastive_weight = contrastive_weight
        self.adversary_weight = adversary_weight
        self.adversary_ramp = adversary_ramp
        self.adaptive_adversary = adaptive_adversary
        self.conditional_adversary = conditional_adversary
        self.unimodal_weight = unimodal_weight
        self.adversary_objective = adversary_objective
        self.dictionary_size = dictionary_size
        self.dictionary = dictionary
        self.attention = attention
        self.mediator_normalization = mediator_normalization
        self.warmup_epochs = warmup_epochs
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

    _module_class = FrontDoorNetwork
    _predicts_during_training = False  # predictions need what _after_fit builds
    _criterion_class = FrontDoorLoss
    _supports_missing = True

    # ------------------------------------------------------------------ fit
    def _prepare(self, data, y, sample_weight=None):
        """Choose the predominant modality and resolve the adversary settings (kept on a warm start)."""
        if self._continues():
            return
        names = list(data)
        self.modality_shapley_ = None
        if self.predominant == "auto":
            predominant = names[0] if len(names) == 1 else self._warm_up(data, self.classes_[y], sample_weight)
        elif self.predominant in names:
            predominant = self.predominant
        else:
            raise ValueError(
                f"predominant={self.predominant!r} is not a modality of X; the modalities "
                f"are {names}. Pass one of them or 'auto'."
            )
        self.predominant_modality_ = predominant
        self.auxiliary_modalities_ = [name for name in names if name != predominant]
        for name, value in _resolve_role(self.get_params(), image=data[predominant].ndim > 2).items():
            setattr(self, name + "_", value)

    def _warm_up(self, data, y, sample_weight=None):
        """Fit a short late-fusion model; return the modality with the largest Shapley contribution."""
        warm = LateFusionClassifier(
            encoders=self.encoders,
            standardize=self.standardize,
            hidden_size=self.hidden_size,
            max_epochs=self.warmup_epochs,
            **self._optimization_params(),
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            class_weight=self.class_weight,
            device=self.device,
            random_state=self.random_state,
        ).fit(data, y, sample_weight=sample_weight)
        proba = warm.modality_proba(data)
        self.modality_contributions_ = {
            name: float(np.mean(warm.classes_[p.argmax(axis=1)] == y)) for name, p in proba.items()
        }
        self.modality_shapley_ = {
            name: float(value) for name, value in shapley_contributions(warm, data, y).items()
        }
        # the contribution to the fused model: head accuracies after a short warm-up
        # favour modalities whose encoders learn fast (small tables over CNNs)
        chosen = max(data, key=lambda name: (self.modality_shapley_[name], self.modality_contributions_[name]))
        if self.verbose:
            shapley = ", ".join(f"{k} {v:.3f}" for k, v in self.modality_shapley_.items())
            heads = ", ".join(f"{k} {v:.3f}" for k, v in self.modality_contributions_.items())
            print(
                f"predominant='auto': a {self.warmup_epochs}-epoch late-fusion warm-up gives Shapley contributions "
                f"to its training accuracy {shapley} (own-head accuracies {heads}); predominant modality: {chosen!r}."
            )
        return chosen

    def _module_params(self, shapes, n_classes):  # noqa: D401
        return {
            "encoder_factory": self._encoder_factory(shapes),
            "predominant": self.predominant_modality_,
            "auxiliary": self.auxiliary_modalities_,
            "n_classes": n_classes,
            "sample_shapes": {name: shapes[name] for name in self.auxiliary_modalities_},
            **{name: getattr(self, name) for name in _NETWORK_PARAMS},
            **{name: getattr(self, name + "_") for name in _ROLE_SETTINGS},
            "direct_terms": self.auxiliary_role_ == "view",
            # without a dictionary the projections only align the views (InfoNCE): a linear map serves
            "linear_projections": self.auxiliary_role_ == "view",
            "modality_names": list(shapes),
        }

    def _callbacks(self):
        callbacks = super()._callbacks()
        if getattr(self, "adaptive_adversary_", False) and self.adversary_weight_ > 0 and self.auxiliary_modalities_:
            schedule = DecorrelationSchedule(max_weight=_MAX_WEIGHT_RAISE * self.adversary_weight_)
            callbacks.append(("decorrelation_schedule", schedule))
        return callbacks

    def _optimization_params(self):
        # a fit that continues the fitted network keeps the role it was built with
        role = self.auxiliary_role_ if self._continues() and "auxiliary_role_" in self.__dict__ else self.auxiliary
        resolved = _ROLE_OPTIMIZATION[role]
        return {name: resolved[name] if value == "auto" else value
                for name, value in (("lr", self.lr), ("batch_size", self.batch_size))}

    def _criterion_params(self, class_weight):
        return {"class_weight": class_weight, "contrastive_weight": self.contrastive_weight_}

    def _after_fit(self, X, y, generator, sample_weight=None):
        super()._after_fit(X, y, generator, sample_weight)  # builds the dictionary
        if self.predominant == "auto" and self.auxiliary_modalities_:
            return  # contributions measured by the warm-up
        module = self.net_.module_
        correct, seen = {}, {}
        for batch, _ in iter_batches({**X, "__y__": y}, 1024):
            yb = batch.pop("__y__")
            availability = batch.pop(AVAILABILITY_KEY, None)
            outputs = module(batch, availability=availability)
            present = outputs.get("present", {})
            for name, logits in outputs["modality_logits"].items():
                rows = present[name] > 0 if name in present else torch.ones_like(yb, dtype=torch.bool)
                correct[name] = correct.get(name, 0) + int(((logits.argmax(1) == yb) & rows).sum())
                seen[name] = seen.get(name, 0) + int(rows.sum())
        self.modality_contributions_ = {name: hits / max(seen[name], 1) for name, hits in correct.items()}

    # ------------------------------------------------------------- predict
    def _predict_params(self):
        """``beta`` and ``approximation``, checked once per call (set_params may have changed them after fit)."""
        check_is_fitted(self, "net_")
        if self.approximation not in ("prototypes", "exact", "nwgm"):
            raise ValueError(f"approximation must be 'prototypes', 'exact' or 'nwgm', got {self.approximation!r}.")
        dictionary = self.net_.module_.dictionary
        if self.approximation == "prototypes" and dictionary.built and dictionary.n_prototypes != self.n_prototypes:
            raise ValueError(
                f"n_prototypes={self.n_prototypes!r}, but the prototypes were built at fit time for "
                f"n_prototypes={dictionary.n_prototypes}; refit to change it (or use approximation='exact')."
            )
        return {"beta": check_beta(self.beta), "approximation": self.approximation}

    def set_prototypes(self, n_prototypes):
        """Rebuild the fitted prototype dictionary with ``n_prototypes`` entries, and set the parameter.

        The prototypes are built at fit time, never in ``predict_proba``; this rebuilds them
        explicitly (weighted k-means of the fitted dictionary, with the seed drawn at fit time,
        so the result is reproducible), e.g. to trade prediction speed against closeness to
        ``approximation="exact"`` without refitting.

        Parameters
        ----------
        n_prototypes : int
            The number of prototypes.

        Returns
        -------
        self : FrontDoorMultimodalClassifier
        """
        check_is_fitted(self, "net_")
        self.set_params(n_prototypes=n_prototypes)
        self._validate_params()
        dictionary = self.net_.module_.dictionary
        if dictionary.built:
            dictionary.compress(self.n_prototypes, seed=int(dictionary.prototype_info[1]))
        return self

    def mediator_features(self, X):
        """The mediator ``m`` of each sample (what the head reads off the predominant modality).

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        mediator : ndarray of shape (n_samples, mediator_size)
            NaN in the rows where the predominant modality is missing. See
            :func:`skcausalmm.metrics.mediator_diagnostics` for probing it.
        """

        def mediator(module, batch, availability):
            mediator = module.encode(batch, availability)["mediator"]
            if availability is None:
                return mediator
            missing = availability[:, module.modality_names.index(module.predominant)] <= 0
            return mediator.masked_fill(missing[:, None], float("nan"))

        return np.concatenate(self._map_batches(X, mediator)).astype(np.float64)

    def front_door_terms(self, X):
        """Both β endpoints: Pearl's front door and the auxiliary-conditional one.

        ``predict_proba`` at any β is ``β * pearl + (1 - β) * conditional`` (with
        ``approximation="prototypes"`` or ``"exact"``), so a whole β sweep costs one call.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        pearl : ndarray of shape (n_samples, n_classes)
            ``P_1(y | do(x))``, the prediction at β = 1.
        conditional : ndarray of shape (n_samples, n_classes)
            ``P_0(y | do(x), a)``, the prediction at β = 0.
        """
        approximation = self._predict_params()["approximation"]

        def terms(module, batch, availability):
            return {
                str(beta): module.predict_proba(batch, beta, approximation, availability=availability)
                for beta in (1.0, 0.0)
            }

        parts = self._map_batches(X, terms)
        pearl, conditional = (np.concatenate([p[k] for p in parts]).astype(np.float64) for k in ("1.0", "0.0"))
        return pearl / pearl.sum(1, keepdims=True), conditional / conditional.sum(1, keepdims=True)

    def predict_proba(self, X):
        """Predict ``P_β(y | do(x_p), x_a)`` with the current ``beta``.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        return super().predict_proba(X)
