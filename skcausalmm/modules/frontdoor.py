"""Neural β-generalised front-door adjustment: network, loss and the β formula.

The predominant modality X gets two encoders: a *mediator* path ``m`` (its discriminative
knowledge, standing for ``P(m | x)``) and a *context* path ``r`` (what the auxiliary
modalities can also see). The auxiliary modalities give ``z_a``. A head ``g(m, r, z_a)`` stands
for ``P(y | m, x', a)`` and is trained with cross-entropy on each sample's own triple. Training
also uses

* a symmetric InfoNCE loss (temperature ``tau``) between projections of ``r`` and ``z_a``, so
  that the context path carries what the auxiliary modality sees;
* an adversary behind gradient reversal that predicts the raw auxiliary input from ``m``
  (optionally conditional on the label), ramped up over the start of training, so that the
  mediator is free of what the auxiliary modality sees (the confounder's trace);
* per-modality diagnostic linear heads on detached features (they cannot shape the encoders).

After training, a dictionary of ``(r_j, z_a_j)`` pairs (training samples or k-means
prototypes, weights ``w_j``) stands for the contexts, and prediction is
(see :func:`front_door_average`, the only place of the β formula)::

    P_β(y | do(x), a) = β Σ_j w_j softmax g(m, r_j, z_a_j)
                        + (1 - β) Σ_j attn_j(a) softmax g(m, r_j, z_a)

with ``attn_j(a) = softmax_j(ẑ_a · ẑ_a_j / tau + log w_j)`` the neural stand-in for
``P(x' | a)``. With one-hot features, the empirical tables as head and weights, and
``attn = P(x' | a)``, this is the discrete ``conditional`` front-door estimator
``β FD(y | do(x)) + (1 - β) FD_a(y | do(x), a)`` per mediator value (the bridge test).
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ._batching import iter_batches
from ._layers import gradient_reversal, make_mlp

__all__ = [
    "FrontDoorHead",
    "FrontDoorNetwork",
    "FrontDoorLoss",
    "front_door_average",
]


# --------------------------------------------------------------------------------------------
# the β formula (the only place where it is written)
# --------------------------------------------------------------------------------------------
def front_door_average(
    head,
    mediator,
    auxiliary,
    contexts,
    dictionary_auxiliaries,
    weights,
    log_attention,
    beta,
    approximation="exact",
    chunk_size=256,
):
    """β-generalised front-door prediction averaged over a dictionary of contexts.

    Computes, for every sample ``i``::

        P_β(y | i) = β Σ_j w_j softmax g(m_i, r_j, z_j)
                     + (1 - β) Σ_j attn_ij softmax g(m_i, r_j, z_i)

    where ``(r_j, z_j)`` are the dictionary's (context, auxiliary) pairs with weights
    ``w_j`` (summing to one) and ``attn_ij = exp(log_attention[i, j])`` (rows summing to one)
    stands for ``P(x'_j | a_i)``. The first term is Pearl's front door (β = 1); the second is
    the front door inside the stratum of the auxiliary modality (β = 0). The average over
    the dictionary is computed in chunks of ``chunk_size`` entries, so memory is
    ``n × chunk_size × n_classes``. With ``approximation="nwgm"`` each term is replaced by
    its normalised weighted geometric mean, the softmax of the weighted average of logits.

    Parameters
    ----------
    head : callable
        ``head(m, r, z) -> logits``; must broadcast over leading dimensions
        (``m`` is passed as (n, 1, d_m), ``r`` as (1, c, d_r), ``z`` as (1, c, d_a) or
        (n, 1, d_a)) and return logits of shape (n, c, n_classes).
    mediator : torch.Tensor of shape (n, d_m)
        Mediator features of the samples.
    auxiliary : torch.Tensor of shape (n, d_a)
        Auxiliary features of the samples.
    contexts : torch.Tensor of shape (J, d_r)
        Dictionary contexts ``r_j``.
    dictionary_auxiliaries : torch.Tensor of shape (J, d_a)
        Dictionary auxiliary features ``z_j``.
    weights : torch.Tensor of shape (J,)
        Dictionary weights ``w_j`` (non-negative, summing to one).
    log_attention : torch.Tensor of shape (n, J)
        Log attention, ``logsumexp`` over ``j`` equal to zero.
    beta : float
        Mixing weight in [0, 1].
    approximation : {"exact", "nwgm"}, default="exact"
        Exact average of probabilities, or softmax of the averaged logits.
    chunk_size : int, default=256
        Number of dictionary entries processed at once.

    Returns
    -------
    proba : torch.Tensor of shape (n, n_classes)
        Class probabilities.
    """
    beta = _check_beta(beta)
    if approximation not in ("exact", "nwgm"):
        raise ValueError(f"approximation must be 'exact' or 'nwgm', got {approximation!r}.")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    exact = approximation == "exact"
    m = mediator[:, None, :]
    marginal = conditional = None
    for start in range(0, contexts.shape[0], chunk_size):
        stop = start + chunk_size
        r = contexts[None, start:stop]
        if beta > 0.0:
            logits = head(m, r, dictionary_auxiliaries[None, start:stop])
            values = logits.softmax(dim=-1) if exact else logits
            term = torch.einsum("ncy,c->ny", values, weights[start:stop])
            marginal = term if marginal is None else marginal + term
        if beta < 1.0:
            logits = head(m, r, auxiliary[:, None, :])
            values = logits.softmax(dim=-1) if exact else logits
            term = torch.einsum("ncy,nc->ny", values, log_attention[:, start:stop].exp())
            conditional = term if conditional is None else conditional + term
    if not exact:
        marginal = None if marginal is None else marginal.softmax(dim=-1)
        conditional = None if conditional is None else conditional.softmax(dim=-1)
    if marginal is None:
        return conditional
    if conditional is None:
        return marginal
    return beta * marginal + (1.0 - beta) * conditional


def _check_beta(beta):
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must be a real number in [0, 1], got {beta!r}.")
    return float(beta)


# --------------------------------------------------------------------------------------------
# head
# --------------------------------------------------------------------------------------------
class FrontDoorHead(nn.Module):
    """The head ``g(m, r, z_a)``: an MLP on the concatenation, computed part by part.

    The first layer is ``W_m m + W_r r + W_a z_a + b`` (an MLP on the concatenation written
    so that the three parts broadcast against each other: the dictionary average evaluates
    ``n × J`` triples without materialising their concatenation).

    Parameters
    ----------
    mediator_size : int
        Size of ``m``.
    context_size : int
        Size of ``r`` (0: no context input).
    auxiliary_size : int
        Size of ``z_a`` (0: no auxiliary input).
    n_classes : int
        Number of classes.
    hidden_size : int, default=64
        Width of the hidden layer.
    """

    def __init__(self, mediator_size, context_size, auxiliary_size, n_classes, hidden_size=64):
        super().__init__()
        self.mediator_layer = nn.Linear(mediator_size, hidden_size)
        self.context_layer = nn.Linear(context_size, hidden_size, bias=False) if context_size else None
        self.auxiliary_layer = (
            nn.Linear(auxiliary_size, hidden_size, bias=False) if auxiliary_size else None
        )
        self.output_layer = nn.Linear(hidden_size, n_classes)

    def forward(self, mediator, context=None, auxiliary=None):
        """Logits of ``P(y | m, x', a)``.

        Parameters
        ----------
        mediator : torch.Tensor of shape (..., mediator_size)
            Mediator features.
        context : torch.Tensor of shape (..., context_size) or None
            Context features, broadcastable against ``mediator``.
        auxiliary : torch.Tensor of shape (..., auxiliary_size) or None
            Auxiliary features, broadcastable against ``mediator``.

        Returns
        -------
        logits : torch.Tensor of shape (..., n_classes)
            The broadcast leading shape, then the classes.
        """
        parts = [self.mediator_layer(mediator)]
        if self.context_layer is not None and context is not None:
            parts.append(self.context_layer(context))
        if self.auxiliary_layer is not None and auxiliary is not None:
            parts.append(self.auxiliary_layer(auxiliary))
        # add the small (un-broadcast) parts first: one full-size pass less in the
        # dictionary average, where m and z_a are (n, 1, h) and r is (1, J, h)
        parts.sort(key=lambda part: part.numel())
        hidden = parts[0]
        for part in parts[1:]:
            hidden = hidden + part
        return self.output_layer(torch.relu(hidden))


# --------------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------------
class FrontDoorNetwork(nn.Module):
    """Discriminative-knowledge exploration network with a β front-door prediction.

    Parameters
    ----------
    encoder_factory : callable
        ``encoder_factory(name, out_features) -> nn.Module`` mapping the batch of modality
        ``name`` to ``(n, out_features)``. Called, in this order, for the predominant
        modality's mediator path (``mediator_size``), its context path (``context_size``,
        only with an auxiliary modality), then each auxiliary modality
        (``auxiliary_size``).
    predominant : str
        Name of the predominant modality (the treatment X).
    auxiliary : list of str
        Names of the auxiliary modalities (may be empty). Several are fused into one
        representation (concatenation, then a linear layer); a single one is used as is.
    n_classes : int
        Number of classes.
    sample_shapes : dict of str to tuple of int or None, default=None
        Shape of one sample (without the batch axis) of each auxiliary modality; sets the
        adversary's output size (the flattened raw auxiliary input). Required when there
        is an auxiliary modality and ``adversary_weight > 0``.
    mediator_size, context_size, auxiliary_size : int, default=32
        Sizes of ``m``, ``r`` and ``z_a``.
    projection_size : int, default=32
        Size of the InfoNCE projections.
    hidden_size : int, default=64
        Width of the hidden layers of the head, the projections and the adversary.
    temperature : float, default=0.1
        InfoNCE and attention temperature ``tau``.
    adversary_weight : float, default=5.0
        Scale of the reversed adversary gradient reaching the mediator once the ramp is done.
    adversary_ramp : float, default=0.5
        Fraction of training (``progress``) over which the reversed gradient grows linearly
        from 0 to ``adversary_weight`` (0: full strength at once).
    conditional_adversary : bool, default=True
        If True, the adversary predicts the auxiliary input from ``m`` *and the label* (one
        output per class, selected by the loss), so that the mediator is only penalised for
        what it says about the auxiliary input beyond the label.
    dictionary_size : int, default=2000
        Number of dictionary entries built by :meth:`fit_dictionary`.
    dictionary : {"sample", "kmeans"}, default="sample"
        Random training samples with uniform weights, or k-means prototypes of
        ``[r, z_a]`` weighted by cluster size.
    attention : {"auxiliary", "context"} or callable, default="auxiliary"
        Scores of ``attn_j(a)``: ``ẑ_a · ẑ_a_j / tau`` ("auxiliary"), ``ẑ_a · ẑ_r_j / tau``
        ("context", the InfoNCE critic), or ``attention(z_a, r_dict, z_dict) -> (n, J)``
        unnormalised log scores on the raw features. ``log w_j`` is added and the scores are
        normalised over ``j``.
    head : nn.Module or None, default=None
        Replacement for the default :class:`FrontDoorHead`; same call convention.
    mediator_normalization : {"layer", None}, default=None
        ``"layer"`` normalises the mediator features (layer normalisation without affine
        parameters) so that the encoder cannot defeat the adversary by inflating ``m``;
        the default (None) uses the encoder output as is (the docs page "Front-door
        classifier" reports what each choice did on the confounded benchmark).
    adversary_objective : {"reversal", "confusion"}, default="reversal"
        How the mediator is trained against the adversary (the adversary itself always
        minimises its MSE). ``"reversal"``: gradient reversal, the mediator maximises the
        adversary's error (unbounded: an encoder can inflate ``m`` and diverge).
        ``"confusion"``: the mediator minimises the distance between the adversary's
        prediction (through a frozen copy of its weights) and the batch mean of the
        auxiliary input (per class with the conditional adversary), i.e. it makes the
        adversary predict "no information beyond the label"; bounded below, so it cannot
        diverge. Both have the same fixed point, ``E[x_a | m, y] = E[x_a | y]``.

    Attributes
    ----------
    progress : float
        Training progress in [0, 1], set by the training loop at each epoch; drives the
        adversary ramp. Defaults to 1.0 (full adversary) when nobody sets it.
    dictionary_contexts_, dictionary_auxiliaries_, dictionary_weights_ : torch.Tensor
        The dictionary (buffers), set by :meth:`fit_dictionary` or :meth:`set_dictionary`.

    Notes
    -----
    With no auxiliary modality, the auxiliary term drops out and β has no effect; the
    context path is then dropped too and the network is a plain classifier ``g(m)``: with a
    deterministic mediator nothing tells which part of X is the confounder's trace, and
    averaging a context path over a dictionary would destroy what it carries (see the
    design notes). There is then no InfoNCE loss and no adversary.
    """

    def __init__(
        self,
        encoder_factory,
        predominant,
        auxiliary,
        n_classes,
        sample_shapes=None,
        mediator_size=32,
        context_size=32,
        auxiliary_size=32,
        projection_size=32,
        hidden_size=64,
        temperature=0.1,
        adversary_weight=5.0,
        adversary_ramp=0.5,
        conditional_adversary=True,
        dictionary_size=2000,
        dictionary="sample",
        attention="auxiliary",
        head=None,
        mediator_normalization=None,
        adversary_objective="reversal",
    ):
        super().__init__()
        if isinstance(auxiliary, str):
            auxiliary = [auxiliary]
        auxiliary = list(auxiliary)
        if predominant in auxiliary:
            raise ValueError(f"The predominant modality {predominant!r} is also listed as auxiliary.")
        if dictionary not in ("sample", "kmeans"):
            raise ValueError(f"dictionary must be 'sample' or 'kmeans', got {dictionary!r}.")
        if not (callable(attention) or attention in ("auxiliary", "context")):
            raise ValueError(
                f"attention must be 'auxiliary', 'context' or a callable, got {attention!r}."
            )
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        self.predominant = predominant
        self.auxiliary = auxiliary
        self.n_classes = int(n_classes)
        self.temperature = float(temperature)
        self.adversary_weight = float(adversary_weight)
        self.adversary_ramp = float(adversary_ramp)
        self.conditional_adversary = bool(conditional_adversary)
        self.dictionary_size = int(dictionary_size)
        self.dictionary = dictionary
        self.attention = attention
        self.progress = 1.0
        has_auxiliary = bool(auxiliary)

        if adversary_objective not in ("reversal", "confusion"):
            raise ValueError(
                f"adversary_objective must be 'reversal' or 'confusion', got {adversary_objective!r}."
            )
        self.adversary_objective = adversary_objective
        if mediator_normalization not in ("layer", None):
            raise ValueError(
                f"mediator_normalization must be 'layer' or None, got {mediator_normalization!r}."
            )
        self.mediator_encoder = encoder_factory(predominant, mediator_size)
        # a bounded mediator: without it the encoder can "beat" the adversary by inflating m
        # (the adversary's MSE then explodes, seen with CNN encoders)
        self.mediator_norm = (
            nn.LayerNorm(mediator_size, elementwise_affine=False)
            if mediator_normalization == "layer"
            else nn.Identity()
        )
        self.context_encoder = encoder_factory(predominant, context_size) if has_auxiliary else None
        self.auxiliary_encoders = nn.ModuleDict(
            {name: encoder_factory(name, auxiliary_size) for name in auxiliary}
        )
        self.auxiliary_fusion = (
            nn.Linear(len(auxiliary) * auxiliary_size, auxiliary_size) if len(auxiliary) > 1 else None
        )
        self.head = (
            head
            if head is not None
            else FrontDoorHead(
                mediator_size,
                context_size if has_auxiliary else 0,
                auxiliary_size if has_auxiliary else 0,
                self.n_classes,
                hidden_size,
            )
        )
        if has_auxiliary:
            self.context_projection = make_mlp(context_size, projection_size, hidden_size)
            self.auxiliary_projection = make_mlp(auxiliary_size, projection_size, hidden_size)
        else:
            self.context_projection = self.auxiliary_projection = None

        self.adversary = None
        if has_auxiliary and self.adversary_weight > 0:
            if sample_shapes is None or any(name not in sample_shapes for name in auxiliary):
                raise ValueError(
                    "sample_shapes must give the shape of every auxiliary modality when "
                    "adversary_weight > 0 (the adversary predicts the raw auxiliary input)."
                )
            target_size = sum(int(torch.Size(sample_shapes[name]).numel()) for name in auxiliary)
            n_out = self.n_classes if self.conditional_adversary else 1
            self.adversary = make_mlp(mediator_size, n_out * target_size, hidden_size)
            self._adversary_shape = (n_out, target_size)

        # diagnostic heads on detached features
        predominant_size = mediator_size + (context_size if has_auxiliary else 0)
        self.diagnostic_heads = nn.ModuleDict(
            {predominant: nn.Linear(predominant_size, self.n_classes)}
        )
        for name in auxiliary:
            self.diagnostic_heads[name] = nn.Linear(auxiliary_size, self.n_classes)
        self.mediator_diagnostic_head = nn.Linear(mediator_size, self.n_classes)

        self.register_buffer("dictionary_contexts_", None)
        self.register_buffer("dictionary_auxiliaries_", None)
        self.register_buffer("dictionary_weights_", None)

    # ---------------------------------------------------------------- features
    def adversary_coefficient(self):
        """Current scale of the reversed adversary gradient.

        Returns
        -------
        coefficient : float
            ``adversary_weight * min(1, progress / adversary_ramp)`` (``adversary_weight``
            when ``adversary_ramp`` is 0).
        """
        if self.adversary_ramp <= 0:
            return self.adversary_weight
        return self.adversary_weight * min(1.0, max(0.0, float(self.progress)) / self.adversary_ramp)

    def _auxiliary_features(self, X):
        """Per-modality auxiliary features and their fusion ``z_a``."""
        per_modality = {name: self.auxiliary_encoders[name](X[name]) for name in self.auxiliary}
        if self.auxiliary_fusion is None:
            fused = per_modality[self.auxiliary[0]]
        else:
            fused = self.auxiliary_fusion(torch.cat([per_modality[n] for n in self.auxiliary], dim=1))
        return per_modality, fused

    def _check_input(self, X):
        if not isinstance(X, dict):
            raise TypeError(f"X must be a dict of modality tensors, got {type(X).__name__}.")
        missing = [n for n in [self.predominant, *self.auxiliary] if n not in X]
        if missing:
            raise ValueError(f"X lacks the modalities {missing}; it has {sorted(X)}.")

    def encode(self, X):
        """Encode a batch into mediator, context and auxiliary features.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).

        Returns
        -------
        features : dict
            ``"mediator"`` (n, mediator_size); with an auxiliary modality also
            ``"context"`` (n, context_size), ``"auxiliary"`` (n, auxiliary_size) and
            ``"per_modality"`` (dict of each auxiliary modality's features).
        """
        self._check_input(X)
        x = X[self.predominant]
        features = {"mediator": self.mediator_norm(self.mediator_encoder(x))}
        if self.auxiliary:
            features["context"] = self.context_encoder(x)
            features["per_modality"], features["auxiliary"] = self._auxiliary_features(X)
        return features

    def _project(self, projection, features):
        return F.normalize(projection(features), dim=-1)

    # ---------------------------------------------------------------- training forward
    def forward(self, X):
        """Training outputs on each sample's own (mediator, context, auxiliary) triple.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).

        Returns
        -------
        outputs : dict
            ``"logits"`` (n, n_classes): ``g(m, r, z_a)`` on each sample's own triple;
            ``"modality_logits"``: dict of diagnostic logits per modality (detached
            features); ``"mediator_logits"``: diagnostic logits on the detached mediator;
            with an auxiliary modality also ``"contrastive_logits"`` (n, n): ``ẑ_r ẑ_aᵀ /
            tau``; and with an adversary ``"adversary_prediction"`` (n, K or 1, d) and
            ``"adversary_target"`` (n, d): the flattened raw auxiliary input.
        """
        features = self.encode(X)
        m = features["mediator"]
        outputs = {"mediator": m}
        if not self.auxiliary:
            outputs["logits"] = self.head(m, None, None)
            outputs["modality_logits"] = {
                self.predominant: self.diagnostic_heads[self.predominant](m.detach())
            }
            outputs["mediator_logits"] = self.mediator_diagnostic_head(m.detach())
            return outputs
        r, z = features["context"], features["auxiliary"]
        outputs.update(context=r, auxiliary=z, logits=self.head(m, r, z))
        outputs["contrastive_logits"] = (
            self._project(self.context_projection, r)
            @ self._project(self.auxiliary_projection, z).T
            / self.temperature
        )
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
            outputs["adversary_target"] = torch.cat(
                [X[name].detach().reshape(len(m), -1).to(m.dtype) for name in self.auxiliary], dim=1
            )
        modality_logits = {
            self.predominant: self.diagnostic_heads[self.predominant](
                torch.cat([m, r], dim=1).detach()
            )
        }
        for name, feats in features["per_modality"].items():
            modality_logits[name] = self.diagnostic_heads[name](feats.detach())
        outputs["modality_logits"] = modality_logits
        outputs["mediator_logits"] = self.mediator_diagnostic_head(m.detach())
        return outputs

    # ---------------------------------------------------------------- dictionary
    def set_dictionary(self, contexts, auxiliaries, weights=None):
        """Set the dictionary of (context, auxiliary) pairs explicitly.

        Parameters
        ----------
        contexts : torch.Tensor of shape (J, context_size)
            Contexts ``r_j``.
        auxiliaries : torch.Tensor of shape (J, auxiliary_size)
            Auxiliary features ``z_a_j``.
        weights : torch.Tensor of shape (J,) or None, default=None
            Non-negative weights, normalised to sum to one; None means uniform.

        Returns
        -------
        self : FrontDoorNetwork
            The network.
        """
        contexts = torch.as_tensor(contexts)
        auxiliaries = torch.as_tensor(auxiliaries, dtype=contexts.dtype)
        if contexts.ndim != 2 or auxiliaries.ndim != 2 or len(contexts) != len(auxiliaries):
            raise ValueError("contexts and auxiliaries must be 2-D with the same number of rows.")
        if len(contexts) == 0:
            raise ValueError("The dictionary must have at least one entry.")
        if weights is None:
            weights = torch.full((len(contexts),), 1.0 / len(contexts), dtype=contexts.dtype)
        else:
            weights = torch.as_tensor(weights, dtype=contexts.dtype)
            if weights.shape != (len(contexts),) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError("weights must be non-negative, one per entry, not all zero.")
            weights = weights / weights.sum()
        self.dictionary_contexts_ = contexts
        self.dictionary_auxiliaries_ = auxiliaries
        self.dictionary_weights_ = weights
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the dictionary buffers are None until fitted: give them the saved shapes first so
        # that a fitted state dict loads into a fresh network
        for name in ("dictionary_contexts_", "dictionary_auxiliaries_", "dictionary_weights_"):
            if prefix + name in state_dict:
                saved = state_dict[prefix + name]
                setattr(self, name, torch.empty_like(saved, device=self._device()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _device(self):
        return next(self.parameters()).device if any(True for _ in self.parameters()) else None

    @torch.no_grad()
    def fit_dictionary(self, X, y=None, generator=None, batch_size=1024):
        """Build the dictionary from training data.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            Training modalities.
        y : torch.Tensor or None, default=None
            Training labels (unused; part of the training-loop contract).
        generator : torch.Generator or None, default=None
            Source of randomness for the sample / k-means initialisation.
        batch_size : int, default=1024
            Batch size of the feature computation.

        Returns
        -------
        self : FrontDoorNetwork
            The network; without an auxiliary modality nothing is built.
        """
        if not self.auxiliary:
            return self
        self._check_input(X)
        n = len(X[self.predominant])
        contexts, auxiliaries = [], []
        inputs = {name: X[name] for name in [self.predominant, *self.auxiliary]}
        for batch, _ in iter_batches(inputs, batch_size):
            features = self.encode(batch)
            contexts.append(features["context"])
            auxiliaries.append(features["auxiliary"])
        contexts, auxiliaries = torch.cat(contexts), torch.cat(auxiliaries)
        if n <= self.dictionary_size:
            return self.set_dictionary(contexts, auxiliaries)
        if self.dictionary == "sample":
            index = torch.randperm(n, generator=generator, device="cpu")[: self.dictionary_size]
            index = index.to(contexts.device)
            return self.set_dictionary(contexts[index], auxiliaries[index])
        centres, weights = _kmeans(torch.cat([contexts, auxiliaries], dim=1), self.dictionary_size, generator)
        split = contexts.shape[1]
        return self.set_dictionary(centres[:, :split], centres[:, split:], weights)

    # ---------------------------------------------------------------- prediction
    def _log_attention(self, auxiliary):
        contexts, dict_aux = self.dictionary_contexts_, self.dictionary_auxiliaries_
        if callable(self.attention):
            scores = self.attention(auxiliary, contexts, dict_aux)
        else:
            query = self._project(self.auxiliary_projection, auxiliary)
            if self.attention == "auxiliary":
                keys = self._project(self.auxiliary_projection, dict_aux)
            else:
                keys = self._project(self.context_projection, contexts)
            scores = query @ keys.T / self.temperature
        scores = scores + self.dictionary_weights_.clamp_min(1e-45).log()[None, :]
        return scores.log_softmax(dim=1)

    @torch.no_grad()
    def predict_proba(self, X, beta=0.5, approximation="exact", chunk_size=256):
        """β-generalised front-door class probabilities.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).
        beta : float, default=0.5
            Weight of Pearl's front door (1) against the auxiliary-conditional one (0). It
            has no effect without an auxiliary modality.
        approximation : {"exact", "nwgm"}, default="exact"
            Exact dictionary average of probabilities, or softmax of averaged logits.
        chunk_size : int, default=256
            Dictionary entries per chunk (memory ``n × chunk_size × n_classes``).

        Returns
        -------
        proba : torch.Tensor of shape (n, n_classes)
            Class probabilities.
        """
        beta = _check_beta(beta)
        features = self.encode(X)
        if not self.auxiliary:
            return self.head(features["mediator"], None, None).softmax(dim=-1)
        if self.dictionary_contexts_ is None:
            raise RuntimeError(
                "The context dictionary is not built: call fit_dictionary or set_dictionary first."
            )
        z = features["auxiliary"]
        log_attention = self._log_attention(z) if beta < 1.0 else None
        return front_door_average(
            self.head,
            features["mediator"],
            z,
            self.dictionary_contexts_,
            self.dictionary_auxiliaries_,
            self.dictionary_weights_,
            log_attention,
            beta,
            approximation=approximation,
            chunk_size=chunk_size,
        )


def _kmeans(points, n_clusters, generator, n_iter=20):
    """Lloyd's k-means with k-means++ seeding; returns (centres, weights) of non-empty clusters."""
    n = len(points)
    first = torch.randint(n, (1,), generator=generator).item()
    centres = [points[first]]
    closest = ((points - points[first]) ** 2).sum(dim=1)
    for _ in range(1, n_clusters):
        probs = closest / closest.sum() if closest.sum() > 0 else torch.full_like(closest, 1.0 / n)
        pick = torch.multinomial(probs.cpu(), 1, generator=generator).item()
        centres.append(points[pick])
        closest = torch.minimum(closest, ((points - points[pick]) ** 2).sum(dim=1))
    centres = torch.stack(centres)
    for _ in range(n_iter):
        labels = torch.cdist(points, centres).argmin(dim=1)
        counts = torch.bincount(labels, minlength=len(centres)).to(points.dtype)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        nonempty = counts > 0
        centres[nonempty] = sums[nonempty] / counts[nonempty, None]
    labels = torch.cdist(points, centres).argmin(dim=1)
    counts = torch.bincount(labels, minlength=len(centres)).to(points.dtype)
    keep = counts > 0
    return centres[keep], counts[keep] / n


# --------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------
def _confusion_loss(outputs, y):
    """MSE between the frozen adversary's prediction and the (per-class) batch mean target."""
    prediction = outputs["confusion_prediction"]
    target = outputs["adversary_target"].detach()
    rows = torch.arange(len(y), device=y.device)
    if prediction.shape[1] > 1:
        one_hot = F.one_hot(y, prediction.shape[1]).to(target.dtype)
        means = (one_hot.T @ target) / one_hot.sum(0).clamp_min(1.0)[:, None]
        return F.mse_loss(prediction[rows, y], means[y])
    return F.mse_loss(prediction[:, 0], target.mean(0, keepdim=True).expand_as(target))


class FrontDoorLoss(nn.Module):
    """Training loss of :class:`FrontDoorNetwork`.

    ``ce(logits, y) + contrastive_weight · InfoNCE + adversary MSE
    + diagnostic_weight · Σ diagnostic CE``. The adversary term is the adversary's own
    mean squared error; the network's gradient reversal layer turns it into a penalty of
    scale ``adversary_coefficient()`` for the mediator. The diagnostic heads see detached
    features and so do not shape the encoders.

    Parameters
    ----------
    class_weight : torch.Tensor of shape (n_classes,) or None, default=None
        Class weights of the main cross-entropy.
    contrastive_weight : float, default=1.0
        Weight of the symmetric InfoNCE loss between context and auxiliary projections.
    diagnostic_weight : float, default=1.0
        Weight of the diagnostic heads' cross-entropies.

    Attributes
    ----------
    progress : float
        Training progress in [0, 1], set by the training loop (unused by the loss itself;
        the network applies the adversary ramp).
    last_terms_ : dict of str to float
        Detached values of the terms of the last call: ``"ce"``, ``"nce"``, ``"adv"``,
        ``"diag"`` and, with ``adversary_objective="confusion"``, ``"conf"`` (the mediator's
        confusion MSE, added with the network's current adversary coefficient).
    """

    def __init__(self, class_weight=None, contrastive_weight=1.0, diagnostic_weight=1.0):
        super().__init__()
        self.class_weight = class_weight
        self.contrastive_weight = float(contrastive_weight)
        self.diagnostic_weight = float(diagnostic_weight)
        self.progress = 1.0
        self.last_terms_ = {}

    def forward(self, outputs, y):
        """Total loss.

        Parameters
        ----------
        outputs : dict
            Output of :meth:`FrontDoorNetwork.forward`.
        y : torch.LongTensor of shape (n,)
            Labels.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        weight = self.class_weight
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=outputs["logits"].dtype, device=y.device)
        ce = F.cross_entropy(outputs["logits"], y, weight=weight)
        terms = {"ce": ce}
        total = ce
        if "contrastive_logits" in outputs:
            sims = outputs["contrastive_logits"]
            target = torch.arange(len(sims), device=sims.device)
            nce = 0.5 * (F.cross_entropy(sims, target) + F.cross_entropy(sims.T, target))
            terms["nce"] = nce
            total = total + self.contrastive_weight * nce
        if "adversary_prediction" in outputs:
            prediction = outputs["adversary_prediction"]
            index = y if prediction.shape[1] > 1 else torch.zeros_like(y)
            selected = prediction[torch.arange(len(y), device=y.device), index]
            adv = F.mse_loss(selected, outputs["adversary_target"])
            terms["adv"] = adv
            total = total + adv
        if "confusion_prediction" in outputs:
            terms["conf"] = conf = _confusion_loss(outputs, y)
            total = total + outputs["confusion_coefficient"] * conf
        diagnostic_logits = list(outputs.get("modality_logits", {}).values())
        if "mediator_logits" in outputs:
            diagnostic_logits.append(outputs["mediator_logits"])
        if diagnostic_logits:
            diag = sum(F.cross_entropy(logits, y) for logits in diagnostic_logits)
            terms["diag"] = diag
            total = total + self.diagnostic_weight * diag
        self.last_terms_ = {key: float(value.detach()) for key, value in terms.items()}
        return total
