"""The discriminative-knowledge exploration network of the β-generalised front door.

The predominant modality X gets two paths: a *mediator* ``m`` (its discriminative knowledge,
standing for ``P(m | x)``) and a *context* ``r`` (what the auxiliary modalities can also see).
The auxiliary modalities give ``z_a``. The head ``g(m, r, z_a)``
(:class:`~skcausalmm.frontdoor.head.FrontDoorHead`) stands for ``P(y | m, x', a)`` and is
trained with cross-entropy on each sample's own triple (the losses are
:mod:`skcausalmm.frontdoor.losses`). After training, :meth:`FrontDoorNetwork.fit_dictionary`
builds the :class:`~skcausalmm.frontdoor.dictionary.ContextDictionary` of ``(r_j, z_a_j)``
pairs, and :meth:`FrontDoorNetwork.predict_proba` averages over it with the β formula
(:func:`~skcausalmm.frontdoor.average.front_door_average`)::

    P_β(y | do(x), a) = β Σ_j w_j softmax g(m, r_j, z_a_j)
                        + (1 - β) Σ_j attn_j(a) softmax g(m, r_j, z_a)

with ``attn_j(a) = softmax_j(ẑ_a · ẑ_a_j / tau + log w_j)`` the neural stand-in for ``P(x' | a)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._core.batching import iter_batches
from ..nn.layers import absent_embeddings, fill_absent, gradient_reversal, make_mlp, scale_gradient
from ..nn.losses import present_columns
from .average import _average
from .dictionary import ContextDictionary, _kmeans
from .head import FrontDoorHead

__all__ = ["FrontDoorNetwork"]


class FrontDoorNetwork(nn.Module):
    """Discriminative-knowledge exploration network with a β front-door prediction.

    The estimator (:class:`~skcausalmm.FrontDoorMultimodalClassifier`) validates and resolves
    every setting and passes it on; the network takes them as keyword arguments, without
    defaults of its own (each is documented, with its default, on the estimator).

    Parameters
    ----------
    encoder_factory : callable
        ``encoder_factory(name, out_features) -> nn.Module`` mapping the batch of modality
        ``name`` to ``(n, out_features)``. Called, in this order, for the predominant
        modality's mediator path, its context path (only with an auxiliary modality and
        without a shared trunk), then each auxiliary modality.
    predominant : str
        Name of the predominant modality (the treatment X).
    auxiliary : list of str
        Names of the auxiliary modalities (may be empty). Several are fused into one
        representation ``z_a`` of ``auxiliary_size`` (concatenation, then a linear layer), for
        the dictionary's attention; with ``direct_terms`` (no dictionary) ``z_a`` is their
        concatenation. A single one is used as is.
    n_classes : int
        Number of classes.
    sample_shapes : dict of str to tuple of int
        Shape of one sample of each auxiliary modality: the adversary predicts the flattened
        raw auxiliary input.
    mediator_size, context_size, auxiliary_size, projection_size, hidden_size : int
        Sizes of ``m``, ``r``, ``z_a``, the InfoNCE projections and the hidden layers.
    shared_trunk : bool
        One encoder for the mediator and the context (its output split in two).
    temperature : float
        InfoNCE and attention temperature ``tau``.
    adversary_weight, adversary_ramp : float
        Scale of the mediator's objective against the auxiliary input once the ramp (the
        fraction of training over which it grows linearly from 0) is done.
    conditional_adversary : bool
        Whether the mediator is only penalised for what it says beyond the label.
    adversary_objective : {"reversal", "confusion", "decorrelation"}
        How the mediator is kept free of the auxiliary input.
    mediator_normalization : {"layer", None}
        Layer-normalise the mediator (no affine parameters).
    dictionary_size : int
        Entries of the dictionary built by :meth:`fit_dictionary`.
    dictionary : {"sample", "kmeans"}
        Random training rows with their weights, or weighted k-means prototypes of ``[r, z_a]``.
    attention : {"auxiliary", "context"} or callable
        Scores of ``attn_j(a)``: ``ẑ_a · ẑ_a_j / tau`` ("auxiliary"), ``ẑ_a · ẑ_r_j / tau``
        ("context", the InfoNCE critic), or ``attention(z_a, r_dict, z_dict) -> (n, J)``
        unnormalised log scores. ``log w_j`` is added and the scores are normalised over ``j``.
    n_prototypes : int
        Size of the prototype dictionary built with the dictionary.
    unimodal_weight : float
        Scale of the gradient that the mediator's head and the auxiliary modalities' heads
        send back to their encoders (their own cross-entropies: each modality's discriminative
        knowledge); 0 keeps them diagnostics on detached features.
    direct_terms : bool
        Predict the two β terms directly, for an auxiliary modality that confounds nothing:
        ``P(y | x, a)`` by the head on the sample's own triple and ``P(y | x)`` by the
        mediator's head; no dictionary is built. False: average over the dictionary.
    linear_projections : bool
        The InfoNCE projections of the context and of ``z_a`` are linear maps; False: MLPs
        with one hidden layer of ``hidden_size``. With ``direct_terms`` the projections serve
        the InfoNCE alone; otherwise the dictionary's attention reads them too.
    head : nn.Module or None, default=None
        Replacement for the default :class:`~skcausalmm.frontdoor.head.FrontDoorHead`; same
        call convention.
    modality_names : list of str or None, default=None
        The order of the columns of an availability mask (the order of the estimator's
        input); None: ``[predominant, *auxiliary]``.

    Attributes
    ----------
    progress : float
        Training progress in [0, 1], set by the training loop at each epoch; drives the
        adversary ramp (1.0, the full objective, when nobody sets it).
    dictionary : ContextDictionary
        The contexts of the prediction and their prototypes, built by :meth:`fit_dictionary`
        or :meth:`set_dictionary`.

    Notes
    -----
    With no auxiliary modality the auxiliary term drops out and β has no effect; the context
    path is dropped too and the network is a plain classifier ``g(m)``: with a deterministic
    mediator nothing tells which part of X is the confounder's trace, and averaging a context
    path over a dictionary would destroy what it carries. There is then no InfoNCE loss and
    no adversary.

    Missing modalities (an ``availability`` mask in :meth:`forward` and
    :meth:`predict_proba`): a missing auxiliary modality's features are a learned "absent"
    embedding (one vector per modality, initialised at zero). Each loss term counts the rows
    whose inputs it reads: the head's cross-entropy and the mediator's the rows with X; the
    InfoNCE the rows with X and at least one auxiliary modality; the mediator's objective the
    rows with X and every auxiliary modality; each diagnostic head its modality's rows. At
    prediction, a row without any auxiliary modality gets the β = 1 term whatever β (the
    auxiliary-conditional term averaged over the unobserved auxiliary input is Pearl's front
    door). A row without X has no mediator and no effect of X to adjust: it gets
    ``P(y | a)`` from :attr:`auxiliary_head`, a linear head on the detached fused auxiliary
    features trained on every row with an auxiliary modality.
    """

    def __init__(
        self,
        encoder_factory,
        predominant,
        auxiliary,
        n_classes,
        *,
        sample_shapes,
        mediator_size,
        context_size,
        auxiliary_size,
        projection_size,
        hidden_size,
        shared_trunk,
        temperature,
        adversary_weight,
        adversary_ramp,
        conditional_adversary,
        adversary_objective,
        mediator_normalization,
        dictionary_size,
        dictionary,
        attention,
        n_prototypes,
        unimodal_weight,
        direct_terms,
        linear_projections,
        head=None,
        modality_names=None,
    ):
        super().__init__()
        auxiliary = list(auxiliary)
        has_auxiliary = bool(auxiliary)
        self.predominant, self.auxiliary, self.n_classes = predominant, auxiliary, int(n_classes)
        self.modality_names = list(modality_names) if modality_names is not None else [predominant, *auxiliary]
        self.mediator_size, self.context_size, self.auxiliary_size = mediator_size, context_size, auxiliary_size
        self.temperature = float(temperature)
        self.adversary_weight, self.adversary_ramp = float(adversary_weight), float(adversary_ramp)
        self.conditional_adversary = bool(conditional_adversary)
        self.adversary_objective = adversary_objective
        self.dictionary_size, self.dictionary_kind, self.n_prototypes = int(dictionary_size), dictionary, n_prototypes
        self.attention = attention
        self.unimodal_weight, self.direct_terms = float(unimodal_weight), bool(direct_terms)
        self.progress = 1.0

        self.shared_trunk = bool(shared_trunk) and has_auxiliary
        self.mediator_encoder = encoder_factory(
            predominant, mediator_size + context_size if self.shared_trunk else mediator_size
        )
        # a bounded mediator: without it a CNN encoder can "beat" a reversal adversary by inflating m
        self.mediator_norm = (
            nn.LayerNorm(mediator_size, elementwise_affine=False) if mediator_normalization == "layer" else nn.Identity()
        )
        self.context_encoder = (
            encoder_factory(predominant, context_size) if has_auxiliary and not self.shared_trunk else None
        )
        self.auxiliary_encoders = nn.ModuleDict({name: encoder_factory(name, auxiliary_size) for name in auxiliary})
        fuse = len(auxiliary) > 1 and not self.direct_terms
        self.auxiliary_fusion = nn.Linear(len(auxiliary) * auxiliary_size, auxiliary_size) if fuse else None
        fused_size = auxiliary_size if fuse or len(auxiliary) < 2 else len(auxiliary) * auxiliary_size
        self.head = head if head is not None else FrontDoorHead(
            mediator_size,
            context_size if has_auxiliary else 0,
            fused_size if has_auxiliary else 0,
            self.n_classes,
            hidden_size,
        )
        if has_auxiliary:
            layers = 0 if linear_projections else 1
            self.context_projection = make_mlp(context_size, projection_size, hidden_size, layers)
            self.auxiliary_projection = make_mlp(fused_size, projection_size, hidden_size, layers)
        else:
            self.context_projection = self.auxiliary_projection = None

        # "decorrelation" needs no adversary network: the loss penalises m's correlations with
        # the raw auxiliary input directly
        self.adversary = None
        self.decorrelates = has_auxiliary and self.adversary_weight > 0 and adversary_objective == "decorrelation"
        if has_auxiliary and self.adversary_weight > 0 and not self.decorrelates:
            target_size = sum(int(torch.Size(sample_shapes[name]).numel()) for name in auxiliary)
            n_out = self.n_classes if self.conditional_adversary else 1
            self.adversary = make_mlp(mediator_size, n_out * target_size, hidden_size)
            self._adversary_shape = (n_out, target_size)

        # diagnostic heads on detached features; with direct terms the predominant modality's own
        # head is the mediator's, P(y | x)
        predominant_size = mediator_size + (context_size if has_auxiliary else 0)
        own_head = has_auxiliary and self.direct_terms
        self.diagnostic_heads = nn.ModuleDict({} if own_head else {predominant: nn.Linear(predominant_size, self.n_classes)})
        for name in auxiliary:
            self.diagnostic_heads[name] = nn.Linear(auxiliary_size, self.n_classes)
        self.mediator_diagnostic_head = nn.Linear(mediator_size, self.n_classes)
        # missing modalities: a learned "absent" embedding per auxiliary modality, and P(y | a)
        # for the rows without the predominant modality
        self.absent = absent_embeddings(dict.fromkeys(auxiliary, auxiliary_size), auxiliary)
        self.auxiliary_head = nn.Linear(fused_size, self.n_classes) if has_auxiliary else None

        self.dictionary = ContextDictionary(context_size, auxiliary_size, max_entries=self.dictionary_size)

    # ---------------------------------------------------------------- features
    def adversary_coefficient(self):
        """Current scale of the mediator's objective: ``adversary_weight * min(1, progress / adversary_ramp)``.

        Returns
        -------
        coefficient : float
            ``adversary_weight`` once the ramp is done (at once when ``adversary_ramp`` is 0).
        """
        if self.adversary_ramp <= 0:
            return self.adversary_weight
        return self.adversary_weight * min(1.0, max(0.0, float(self.progress)) / self.adversary_ramp)

    def _auxiliary_features(self, X, present=None):
        """Per-modality auxiliary features (the absent embedding where missing) and their fusion ``z_a``."""
        per_modality = fill_absent(
            {name: self.auxiliary_encoders[name](X[name]) for name in self.auxiliary}, self.absent, present
        )
        if len(self.auxiliary) == 1:
            fused = per_modality[self.auxiliary[0]]
        else:
            fused = torch.cat([per_modality[n] for n in self.auxiliary], dim=1)
            if self.auxiliary_fusion is not None:
                fused = self.auxiliary_fusion(fused)
        return per_modality, fused

    def encode(self, X, availability=None):
        """Encode a batch into mediator, context and auxiliary features.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask, columns in the order of ``modality_names`` (missing
            auxiliary modalities: their absent embedding).

        Returns
        -------
        features : dict
            ``"mediator"`` (n, mediator_size); with an auxiliary modality also ``"context"``
            (n, context_size), ``"auxiliary"`` (n, auxiliary_size) and ``"per_modality"``
            (each auxiliary modality's features); with a mask ``"present"``
            (:func:`~skcausalmm.nn.losses.present_columns`).
        """
        x = X[self.predominant]
        encoded = self.mediator_encoder(x)
        if self.shared_trunk:
            encoded, context = encoded[:, : self.mediator_size], encoded[:, self.mediator_size :]
        features = {"mediator": self.mediator_norm(encoded)}
        if availability is not None:
            columns = present_columns(availability, self.modality_names)
            present = features["present"] = {name: columns[name] for name in [self.predominant, *self.auxiliary]}
        else:
            present = None
        if self.auxiliary:
            features["context"] = context if self.shared_trunk else self.context_encoder(x)
            features["per_modality"], features["auxiliary"] = self._auxiliary_features(X, present)
        return features

    def _project(self, projection, features):
        return F.normalize(projection(features), dim=-1)

    # ---------------------------------------------------------------- training forward
    def forward(self, X, availability=None):
        """Training outputs on each sample's own (mediator, context, auxiliary) triple.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask (see :meth:`encode`).

        Returns
        -------
        outputs : dict
            ``"logits"`` (n, n_classes): ``g(m, r, z_a)`` on each sample's own triple;
            ``"modality_logits"``: diagnostic logits per modality (detached features; with
            ``direct_terms`` the predominant modality's entry is ``"mediator_logits"``, and
            ``"own_head_is_mediator"`` names it);
            ``"mediator_logits"``: the mediator's head (its gradient scaled by
            ``unimodal_weight``); with an
            auxiliary modality also ``"contrastive_pair"``, the context and auxiliary projections
            (n, projection_size) each, whose cosine similarities over ``"temperature"`` are the
            InfoNCE critic ``ẑ_r ẑ_aᵀ / tau``; and
            with a mediator objective ``"adversary_target"`` (n, d), the flattened raw
            auxiliary input, and what the objective needs (the adversary's prediction, the
            confusion prediction, or the decorrelation coefficient). With a mask also
            ``"present"`` and the row masks of the batch-level terms, ``"contrastive_rows"`` and
            ``"adversary_rows"``. With an auxiliary modality, ``"auxiliary_logits"``
            (:attr:`auxiliary_head` on the detached ``z_a``), with or without a mask.
        """
        features = self.encode(X, availability)
        m = features["mediator"]
        outputs = {"mediator": m}
        present = features.get("present")
        if present is not None:
            outputs["present"] = present
        if not self.auxiliary:
            outputs["logits"] = self.head(m, None, None)
            outputs["modality_logits"] = {self.predominant: self.diagnostic_heads[self.predominant](m.detach())}
            outputs["mediator_logits"] = self.mediator_diagnostic_head(scale_gradient(m, self.unimodal_weight))
            return outputs
        r, z = features["context"], features["auxiliary"]
        outputs.update(context=r, auxiliary=z, logits=self.head(m, r, z))
        outputs["contrastive_pair"] = (self.context_projection(r), self.auxiliary_projection(z))
        outputs["temperature"] = self.temperature
        if self.adversary is not None:
            n_out, target_size = self._adversary_shape
            if self.adversary_objective == "reversal":
                reversed_m = gradient_reversal(m, self.adversary_coefficient())
                outputs["adversary_prediction"] = self.adversary(reversed_m).view(-1, n_out, target_size)
            else:
                outputs["adversary_prediction"] = self.adversary(m.detach()).view(-1, n_out, target_size)
                frozen = {k: v.detach() for k, v in self.adversary.named_parameters()}
                confusion = torch.func.functional_call(self.adversary, frozen, (m,))
                outputs["confusion_prediction"] = confusion.view(-1, n_out, target_size)
                outputs["confusion_coefficient"] = self.adversary_coefficient()
        elif self.decorrelates:
            outputs["decorrelation_coefficient"] = self.adversary_coefficient()
            outputs["decorrelation_conditional"] = self.conditional_adversary
        if self.adversary is not None or self.decorrelates:
            outputs["adversary_target"] = torch.cat(
                [X[name].detach().reshape(len(m), -1).to(m.dtype) for name in self.auxiliary], dim=1
            )
        outputs["mediator_logits"] = self.mediator_diagnostic_head(scale_gradient(m, self.unimodal_weight))
        if self.direct_terms:  # the mediator's head is X's own: the loss counts it once
            modality_logits = {self.predominant: outputs["mediator_logits"]}
            outputs["own_head_is_mediator"] = self.predominant
        else:
            modality_logits = {
                self.predominant: self.diagnostic_heads[self.predominant](torch.cat([m, r], dim=1).detach())
            }
        for name, feats in features["per_modality"].items():
            modality_logits[name] = self.diagnostic_heads[name](scale_gradient(feats, self.unimodal_weight))
        outputs["modality_logits"] = modality_logits
        # P(y | a) for the rows without X at prediction: trained on every row with an auxiliary modality,
        # with a mask or without one (complete data)
        outputs["auxiliary_logits"] = self.auxiliary_head(z.detach())
        if present is not None:
            observed = torch.stack([present[name] for name in self.auxiliary], dim=1)
            outputs["contrastive_rows"] = (present[self.predominant] > 0) & (observed.amax(1) > 0)
            outputs["adversary_rows"] = (present[self.predominant] > 0) & (observed.amin(1) > 0)
        return outputs

    # ---------------------------------------------------------------- dictionary
    def set_dictionary(self, contexts, auxiliaries, weights=None, seed=0):
        """Set the dictionary of (context, auxiliary) pairs explicitly, and build its prototypes.

        Parameters
        ----------
        contexts : torch.Tensor of shape (J, context_size)
            Contexts ``r_j``.
        auxiliaries : torch.Tensor of shape (J, auxiliary_size)
            Auxiliary features ``z_a_j``.
        weights : torch.Tensor of shape (J,) or None, default=None
            Non-negative weights, normalised to sum to one; None means uniform.
        seed : int, default=0
            Seed of the prototypes' k-means.

        Returns
        -------
        self : FrontDoorNetwork
        """
        self.dictionary.set(contexts, auxiliaries, weights, n_prototypes=self.n_prototypes, seed=seed)
        return self

    @torch.no_grad()
    def fit_dictionary(self, X, y=None, generator=None, batch_size=1024, sample_weight=None, availability=None):
        """Build the dictionary (and its prototypes) from training data.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            Training modalities.
        y : torch.Tensor or None, default=None
            Training labels (unused; part of the contract).
        generator : torch.Generator or None, default=None
            Source of randomness for the sample or k-means initialisation and of the seed of
            the prototypes' k-means.
        batch_size : int, default=1024
            Batch size of the feature computation.
        sample_weight : torch.Tensor of shape (n,) or None, default=None
            Non-negative training sample weights: the dictionary weights are those of the
            sampled entries (normalised), or the total weight of each k-means cluster. None:
            uniform.
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask: the dictionary is built from the rows with every modality
            (the rows with X when there is none).

        Returns
        -------
        self : FrontDoorNetwork
            The network; without an auxiliary modality nothing is built.
        """
        if not self.auxiliary or self.direct_terms:
            return self
        inputs = {name: X[name] for name in [self.predominant, *self.auxiliary]}
        if availability is not None:
            complete = availability.amin(1) > 0
            rows = complete if bool(complete.any()) else availability[:, self.modality_names.index(self.predominant)] > 0
            inputs = {name: value[rows] for name, value in inputs.items()}
            if sample_weight is not None:
                sample_weight = torch.as_tensor(sample_weight)[rows.to(torch.as_tensor(sample_weight).device)]
        n = len(inputs[self.predominant])
        contexts, auxiliaries = [], []
        for batch, _ in iter_batches(inputs, batch_size):
            features = self.encode(batch)
            contexts.append(features["context"])
            auxiliaries.append(features["auxiliary"])
        contexts, auxiliaries = torch.cat(contexts), torch.cat(auxiliaries)
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, dtype=contexts.dtype, device=contexts.device)
            if sample_weight.shape != (n,):
                raise ValueError(f"sample_weight must have shape ({n},), got {tuple(sample_weight.shape)}.")
        if n <= self.dictionary_size:
            weights = sample_weight
        elif self.dictionary_kind == "sample":
            index = torch.randperm(n, generator=generator, device="cpu")[: self.dictionary_size].to(contexts.device)
            contexts, auxiliaries = contexts[index], auxiliaries[index]
            weights = None if sample_weight is None else sample_weight[index]
        else:
            centres, weights = _kmeans(
                torch.cat([contexts, auxiliaries], dim=1), self.dictionary_size, generator, sample_weight
            )
            contexts, auxiliaries = centres[:, : self.context_size], centres[:, self.context_size :]
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        return self.set_dictionary(contexts, auxiliaries, weights, seed=seed)

    # ---------------------------------------------------------------- prediction
    def _log_attention(self, auxiliary, contexts, dict_aux, weights):
        if callable(self.attention):
            scores = self.attention(auxiliary, contexts, dict_aux)
        else:
            query = self._project(self.auxiliary_projection, auxiliary)
            if self.attention == "auxiliary":
                keys = self._project(self.auxiliary_projection, dict_aux)
            else:
                keys = self._project(self.context_projection, contexts)
            scores = query @ keys.T / self.temperature
        scores = scores + weights.clamp_min(1e-45).log()[None, :]
        return scores.log_softmax(dim=1)

    @torch.no_grad()
    def predict_proba(self, X, beta=0.5, approximation="prototypes", chunk_size=256, availability=None):
        """β-generalised front-door class probabilities (the arguments are the estimator's, already checked).

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).
        beta : float, default=0.5
            Weight in [0, 1] of Pearl's front door against the auxiliary-conditional one; no
            effect without an auxiliary modality.
        approximation : {"prototypes", "exact", "nwgm"}, default="prototypes"
            The exact average over the prototypes (both terms and the attention), the exact
            average over the whole dictionary, or the softmax of averaged logits over it.
        chunk_size : int, default=256
            Dictionary entries per chunk (memory ``n × chunk_size × hidden_size``).
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask: rows without an auxiliary modality get the β = 1 term,
            rows without X get ``P(y | a)`` (see the class notes).

        Returns
        -------
        proba : torch.Tensor of shape (n, n_classes)
        """
        features = self.encode(X, availability)
        if not self.auxiliary:
            return self.head(features["mediator"], None, None).softmax(dim=-1)
        proba = self._front_door(features, beta, approximation, chunk_size)
        present = features.get("present")
        if present is None:
            return proba
        observed = torch.stack([present[name] for name in self.auxiliary], dim=1).amax(1) > 0
        if beta < 1.0 and not bool(observed.all()):
            unobserved = {key: value[~observed] for key, value in features.items() if key in ("mediator", "context", "auxiliary")}
            proba[~observed] = self._front_door(unobserved, 1.0, approximation, chunk_size)
        no_x = present[self.predominant] <= 0
        if bool(no_x.any()):
            proba[no_x] = self.auxiliary_head(features["auxiliary"][no_x]).softmax(dim=-1)
        return proba

    def _front_door(self, features, beta, approximation, chunk_size):
        """``P_β(y | do(x), a)`` from encoded features (with an auxiliary modality)."""
        if self.direct_terms:
            m = features["mediator"]
            conditional = self.head(m, features["context"], features["auxiliary"]).softmax(dim=-1) if beta < 1 else 0.0
            pearl = self.mediator_diagnostic_head(m).softmax(dim=-1) if beta > 0 else 0.0
            return beta * pearl + (1.0 - beta) * conditional
        contexts, dict_aux, weights = self.dictionary.entries(prototypes=approximation == "prototypes")
        z = features["auxiliary"]
        log_attention = self._log_attention(z, contexts, dict_aux, weights) if beta < 1.0 else None
        return _average(
            self.head, features["mediator"], z, contexts, dict_aux, weights, log_attention, float(beta),
            approximation != "nwgm", int(chunk_size),
        )
