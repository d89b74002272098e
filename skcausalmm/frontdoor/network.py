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
import warnings

import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits
from torch import nn

from .._core.batching import iter_batches
from ..nn.layers import gradient_reversal, make_mlp
from ..nn.losses import cross_entropy

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
    ``n × chunk_size × max(hidden, n_classes)`` (at most 64 entries at once with the
    default head). With ``approximation="nwgm"`` each term is
    replaced by its normalised weighted geometric mean, the softmax of the weighted average
    of logits.

    With the default :class:`FrontDoorHead` the first layer is split into a sample part and
    a dictionary part (:meth:`FrontDoorHead.first_layer`): ``W_m m_i + b`` once per sample,
    ``W_r r_j + W_a z_j`` (β term) and ``W_r r_j`` (β < 1 term) once per dictionary entry,
    so that the only ``n × J`` work is ``relu(a_i + c_j)``, the output layer and the softmax
    (laid out as ``(n, hidden, J)``: the softmax runs over a middle axis, which is much
    faster on CPU than over a short last one). Any other head is called on broadcast
    triples. Both compute the same average (to rounding).

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
    marginal = conditional = None
    if _splits_first_layer(head):
        # the head's first layer, part by part: sample parts (n, h), dictionary parts (J, h)
        base = head.first_layer(mediator=mediator)
        if beta > 0.0:
            offsets = head.first_layer(context=contexts, auxiliary=dictionary_auxiliaries, bias=False)
            marginal = _average_split_head(head, base, offsets, weights, exact, chunk_size)
        if beta < 1.0:
            own = base + head.first_layer(auxiliary=auxiliary, bias=False)
            offsets = head.first_layer(context=contexts, bias=False)
            conditional = _average_split_head(
                head, own, offsets, log_attention.exp(), exact, chunk_size
            )
    else:
        m = mediator[:, None, :]
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


def _splits_first_layer(head):
    """Whether ``head`` is a :class:`FrontDoorHead` whose forward pass is the default one."""
    return (
        isinstance(head, FrontDoorHead)
        and type(head).forward is FrontDoorHead.forward
        and head.context_layer is not None
        and head.auxiliary_layer is not None
    )


def _average_split_head(head, base, offsets, weights, exact, chunk_size):
    """``Σ_j weights[., j] softmax(output(relu(base_i + offsets_j)))`` for a :class:`FrontDoorHead`.

    ``base`` is (n, h), ``offsets`` (J, h), ``weights`` (J,) or (n, J); returns (n, C).
    Computed in the layout (h, n, chunk), chunks of at most ``_SPLIT_CHUNK`` entries (they
    stay in cache): the output layer is then one plain (C, h) @ (h, n · chunk) product and
    the softmax runs over the leading class axis, with no copies (torch's softmax over a
    short last axis, and a matmul that needs a transposed copy, are each several times
    slower on CPU). Without ``exact``, returns the logits of the weighted average of the
    hidden activations (the weights sum to one, so these are the weighted average of the
    logits).
    """
    weight = head.output_layer.weight
    bias = head.output_layer.bias
    n, size = base.shape
    base_t = base.T.contiguous()[:, :, None]  # (h, n, 1)
    chunk_size = min(chunk_size, _SPLIT_CHUNK)
    total = None
    for start in range(0, offsets.shape[0], chunk_size):
        stop = start + chunk_size
        hidden = (base_t + offsets[start:stop].T.contiguous()[:, None, :]).relu_()  # (h, n, c)
        w = weights[..., start:stop]
        if exact:
            logits = (weight @ hidden.view(size, -1)).view(len(weight), n, -1)  # (C, n, c)
            if bias is not None:
                logits += bias[:, None, None]
            values = logits.softmax(dim=0)
        else:
            values = hidden
        term = values @ w if w.ndim == 1 else (values * w[None]).sum(dim=-1)  # (C or h, n)
        total = term if total is None else total + term
    total = total.T
    return total if exact else head.output_layer(total)


_SPLIT_CHUNK = 64


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

    def first_layer(self, mediator=None, context=None, auxiliary=None, bias=True):
        """Sum of the given parts of the first layer, before the activation.

        ``first_layer(mediator=m) + first_layer(context=r, auxiliary=z, bias=False)`` is the
        pre-activation of :meth:`forward`; the prediction computes the sample parts and the
        dictionary parts separately, once each (see :func:`front_door_average`).

        Parameters
        ----------
        mediator, context, auxiliary : torch.Tensor of shape (..., size) or None
            The inputs whose parts are summed (None: left out). They must broadcast.
        bias : bool, default=True
            Add the first layer's bias (once).

        Returns
        -------
        pre_activation : torch.Tensor of shape (..., hidden_size)
            ``W_m m + W_r r + W_a z (+ b)`` over the given parts.
        """
        parts = []
        if mediator is not None:
            parts.append(nn.functional.linear(mediator, self.mediator_layer.weight))
        if self.context_layer is not None and context is not None:
            parts.append(self.context_layer(context))
        if self.auxiliary_layer is not None and auxiliary is not None:
            parts.append(self.auxiliary_layer(auxiliary))
        if not parts:
            raise ValueError("first_layer needs at least one of mediator, context, auxiliary.")
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        if bias and self.mediator_layer.bias is not None:
            total = total + self.mediator_layer.bias
        return total


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
    n_prototypes : int, default=64
        Size of the prototype dictionary built by :meth:`fit_dictionary` (weighted k-means
        of the dictionary, :meth:`compress_dictionary`) for ``approximation="prototypes"``.
    shared_trunk : bool, default=False
        Read the mediator and the context off one encoder of the predominant modality (its
        output split into ``m`` and ``r``: two linear heads on shared features) instead of two
        encoders; about half the predominant modality's training cost.

    Attributes
    ----------
    progress : float
        Training progress in [0, 1], set by the training loop at each epoch; drives the
        adversary ramp. Defaults to 1.0 (full adversary) when nobody sets it.
    dictionary_contexts_, dictionary_auxiliaries_, dictionary_weights_ : torch.Tensor
        The dictionary (buffers), set by :meth:`fit_dictionary` or :meth:`set_dictionary`.
    prototype_contexts_, prototype_auxiliaries_, prototype_weights_ : torch.Tensor
        The prototype dictionary (buffers), set by :meth:`compress_dictionary`;
        ``prototype_info_`` holds the number of prototypes asked for and the k-means seed.

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
        n_prototypes=64,
        shared_trunk=False,
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
        self.context_size, self.auxiliary_size = int(context_size), int(auxiliary_size)
        self.auxiliary = auxiliary
        self.n_classes = int(n_classes)
        self.temperature = float(temperature)
        self.adversary_weight = float(adversary_weight)
        self.adversary_ramp = float(adversary_ramp)
        self.conditional_adversary = bool(conditional_adversary)
        self.dictionary_size = int(dictionary_size)
        if isinstance(n_prototypes, bool) or not isinstance(n_prototypes, numbers.Integral) or n_prototypes < 1:
            raise ValueError(f"n_prototypes must be a positive integer, got {n_prototypes!r}.")
        self.n_prototypes = int(n_prototypes)
        self.dictionary = dictionary
        self.attention = attention
        self.progress = 1.0
        has_auxiliary = bool(auxiliary)

        if adversary_objective not in ("reversal", "confusion", "decorrelation"):
            raise ValueError(
                "adversary_objective must be 'reversal', 'confusion' or 'decorrelation', got "
                f"{adversary_objective!r}."
            )
        self.adversary_objective = adversary_objective
        if mediator_normalization not in ("layer", None):
            raise ValueError(
                f"mediator_normalization must be 'layer' or None, got {mediator_normalization!r}."
            )
        self.shared_trunk = bool(shared_trunk) and has_auxiliary
        self.mediator_size = int(mediator_size)
        self.mediator_encoder = encoder_factory(
            predominant, mediator_size + context_size if self.shared_trunk else mediator_size
        )
        # a bounded mediator: without it the encoder can "beat" the adversary by inflating m
        # (the adversary's MSE then explodes, seen with CNN encoders)
        self.mediator_norm = (
            nn.LayerNorm(mediator_size, elementwise_affine=False)
            if mediator_normalization == "layer"
            else nn.Identity()
        )
        self.context_encoder = (
            encoder_factory(predominant, context_size) if has_auxiliary and not self.shared_trunk else None
        )
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
        # "decorrelation" needs no adversary network: the loss penalises the correlations
        # between m and the raw auxiliary input directly
        self.decorrelates = has_auxiliary and self.adversary_weight > 0 and adversary_objective == "decorrelation"
        if has_auxiliary and self.adversary_weight > 0 and not self.decorrelates:
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

        for name in _DICTIONARY_BUFFERS:
            self.register_buffer(name, None)

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
        encoded = self.mediator_encoder(x)
        if self.shared_trunk:
            encoded, context = encoded[:, : self.mediator_size], encoded[:, self.mediator_size :]
        features = {"mediator": self.mediator_norm(encoded)}
        if self.auxiliary:
            features["context"] = context if self.shared_trunk else self.context_encoder(x)
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
        elif self.decorrelates:
            outputs["decorrelation_coefficient"] = self.adversary_coefficient()
            outputs["decorrelation_conditional"] = self.conditional_adversary
        if self.adversary is not None or self.decorrelates:
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

        The prototype dictionary (:meth:`compress_dictionary`) is dropped; prediction with
        ``approximation="prototypes"`` rebuilds it (k-means seeded with 0).

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
        contexts, auxiliaries, weights = _check_dictionary(contexts, auxiliaries, weights)
        self.dictionary_contexts_ = contexts
        self.dictionary_auxiliaries_ = auxiliaries
        self.dictionary_weights_ = weights
        self.prototype_contexts_ = self.prototype_auxiliaries_ = self.prototype_weights_ = None
        self.prototype_info_ = None
        return self

    def compress_dictionary(self, n_prototypes=None, random_state=0):
        """Build the prototype dictionary used by ``approximation="prototypes"``.

        The prototypes are the weighted k-means centres of the dictionary's ``[r_j, z_a_j]``
        (scikit-learn's :class:`~sklearn.cluster.KMeans`), weighted by the total weight of
        their entries; each centre is the weighted mean of its entries, so the linear first
        layer of the head sees exactly the cluster's average input. A dictionary of at most
        ``n_prototypes`` entries is used as it is.

        Parameters
        ----------
        n_prototypes : int or None, default=None
            Number of prototypes; None uses the network's ``n_prototypes``.
        random_state : int, default=0
            Seed of the k-means initialisation.

        Returns
        -------
        self : FrontDoorNetwork
            The network.
        """
        if self.dictionary_contexts_ is None:
            raise RuntimeError(
                "The context dictionary is not built: call fit_dictionary or set_dictionary first."
            )
        n_prototypes = self.n_prototypes if n_prototypes is None else n_prototypes
        if isinstance(n_prototypes, bool) or not isinstance(n_prototypes, numbers.Integral) or n_prototypes < 1:
            raise ValueError(f"n_prototypes must be a positive integer, got {n_prototypes!r}.")
        contexts, auxiliaries = self.dictionary_contexts_, self.dictionary_auxiliaries_
        weights = self.dictionary_weights_
        if len(contexts) > n_prototypes:
            generator = torch.Generator().manual_seed(int(random_state))
            centres, weights = _kmeans(
                torch.cat([contexts, auxiliaries], dim=1), int(n_prototypes), generator, weights
            )
            split = contexts.shape[1]
            contexts, auxiliaries = centres[:, :split], centres[:, split:]
        self.prototype_contexts_ = contexts
        self.prototype_auxiliaries_ = auxiliaries
        self.prototype_weights_ = weights
        self.prototype_info_ = torch.tensor(
            [int(n_prototypes), int(random_state)], dtype=torch.int64, device=contexts.device
        )
        return self

    def _prototypes(self, n_prototypes=None):
        """The prototype dictionary for ``n_prototypes`` (rebuilt when it was built for another size)."""
        n_prototypes = self.n_prototypes if n_prototypes is None else n_prototypes
        info = self.prototype_info_
        if self.prototype_contexts_ is None or info is None or int(info[0]) != n_prototypes:
            seed = 0 if info is None else int(info[1])
            self.compress_dictionary(n_prototypes, random_state=seed)
        return self.prototype_contexts_, self.prototype_auxiliaries_, self.prototype_weights_

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the dictionary buffers are None until fitted: give them the saved shapes first so
        # that a fitted state dict loads into a fresh network
        widths = {"contexts_": self.context_size, "auxiliaries_": self.auxiliary_size}
        rows = {}
        for name in _DICTIONARY_BUFFERS:
            if prefix + name in state_dict:
                saved = state_dict[prefix + name]
                kind = name.split("_", 1)[1]
                if kind in widths and (saved.ndim != 2 or saved.shape[1] != widths[kind]):
                    raise ValueError(
                        f"{name} has shape {tuple(saved.shape)}; this network's entries have {widths[kind]} columns."
                    )
                if kind != "info_":
                    rows.setdefault(name.split("_", 1)[0], set()).add(int(saved.shape[0]) if saved.ndim else -1)
                setattr(self, name, torch.empty_like(saved, device=self._device()))
        bad = [group for group, counts in rows.items() if len(counts) > 1]
        if bad:
            raise ValueError(f"The {bad[0]} buffers (contexts, auxiliaries, weights) disagree in their number of entries.")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _device(self):
        return next(self.parameters()).device if any(True for _ in self.parameters()) else None

    @torch.no_grad()
    def fit_dictionary(self, X, y=None, generator=None, batch_size=1024, sample_weight=None):
        """Build the dictionary (and its prototypes) from training data.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            Training modalities.
        y : torch.Tensor or None, default=None
            Training labels (unused; part of the training-loop contract).
        generator : torch.Generator or None, default=None
            Source of randomness for the sample / k-means initialisation and the seed of
            the prototypes' k-means.
        batch_size : int, default=1024
            Batch size of the feature computation.
        sample_weight : torch.Tensor of shape (n,) or None, default=None
            Non-negative training sample weights: the dictionary weights are those of the
            sampled entries (normalised), or the total weight of each k-means cluster
            (weighted k-means). None: uniform.

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
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, dtype=contexts.dtype, device=contexts.device)
            if sample_weight.shape != (n,):
                raise ValueError(f"sample_weight must have shape ({n},), got {tuple(sample_weight.shape)}.")
        if n <= self.dictionary_size:
            self.set_dictionary(contexts, auxiliaries, sample_weight)
        elif self.dictionary == "sample":
            index = torch.randperm(n, generator=generator, device="cpu")[: self.dictionary_size]
            index = index.to(contexts.device)
            weights = None if sample_weight is None else sample_weight[index]
            self.set_dictionary(contexts[index], auxiliaries[index], weights)
        else:
            centres, weights = _kmeans(
                torch.cat([contexts, auxiliaries], dim=1), self.dictionary_size, generator, sample_weight
            )
            split = contexts.shape[1]
            self.set_dictionary(centres[:, :split], centres[:, split:], weights)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        return self.compress_dictionary(self.n_prototypes, random_state=seed)

    # ---------------------------------------------------------------- prediction
    def _log_attention(self, auxiliary, contexts=None, dict_aux=None, weights=None):
        if contexts is None:
            contexts, dict_aux = self.dictionary_contexts_, self.dictionary_auxiliaries_
            weights = self.dictionary_weights_
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
    def predict_proba(self, X, beta=0.5, approximation="exact", chunk_size=256, n_prototypes=None):
        """β-generalised front-door class probabilities.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            The modalities, each of shape (n, ...).
        beta : float, default=0.5
            Weight of Pearl's front door (1) against the auxiliary-conditional one (0). It
            has no effect without an auxiliary modality.
        approximation : {"exact", "prototypes", "nwgm"}, default="exact"
            Exact average of probabilities over the whole dictionary; the same exact
            average over the prototype dictionary (:meth:`compress_dictionary`, both terms
            and the attention); or the softmax of averaged logits over the whole dictionary.
        chunk_size : int, default=256
            Dictionary entries per chunk (memory ``n × chunk_size × hidden_size``).
        n_prototypes : int or None, default=None
            With ``approximation="prototypes"``: number of prototypes (None: the network's
            ``n_prototypes``); the prototypes are rebuilt from the dictionary when they were
            built for another number.

        Returns
        -------
        proba : torch.Tensor of shape (n, n_classes)
            Class probabilities.
        """
        beta = _check_beta(beta)
        if approximation not in ("exact", "prototypes", "nwgm"):
            raise ValueError(
                f"approximation must be 'exact', 'prototypes' or 'nwgm', got {approximation!r}."
            )
        features = self.encode(X)
        if not self.auxiliary:
            return self.head(features["mediator"], None, None).softmax(dim=-1)
        if self.dictionary_contexts_ is None:
            raise RuntimeError(
                "The context dictionary is not built: call fit_dictionary or set_dictionary first."
            )
        if approximation == "prototypes":
            contexts, dict_aux, weights = self._prototypes(n_prototypes)
            approximation = "exact"
        else:
            contexts, dict_aux = self.dictionary_contexts_, self.dictionary_auxiliaries_
            weights = self.dictionary_weights_
        z = features["auxiliary"]
        log_attention = self._log_attention(z, contexts, dict_aux, weights) if beta < 1.0 else None
        return front_door_average(
            self.head,
            features["mediator"],
            z,
            contexts,
            dict_aux,
            weights,
            log_attention,
            beta,
            approximation=approximation,
            chunk_size=chunk_size,
        )


_DICTIONARY_BUFFERS = (
    "dictionary_contexts_",
    "dictionary_auxiliaries_",
    "dictionary_weights_",
    "prototype_contexts_",
    "prototype_auxiliaries_",
    "prototype_weights_",
    "prototype_info_",
)


def _check_dictionary(contexts, auxiliaries, weights):
    """Validate a dictionary; returns (contexts, auxiliaries, weights summing to one)."""
    contexts = torch.as_tensor(contexts)
    auxiliaries = torch.as_tensor(auxiliaries, dtype=contexts.dtype)
    if contexts.ndim != 2 or auxiliaries.ndim != 2 or len(contexts) != len(auxiliaries):
        raise ValueError("contexts and auxiliaries must be 2-D with the same number of rows.")
    if len(contexts) == 0:
        raise ValueError("The dictionary must have at least one entry.")
    if weights is None:
        weights = torch.full((len(contexts),), 1.0 / len(contexts), dtype=contexts.dtype, device=contexts.device)
    else:
        weights = torch.as_tensor(weights, dtype=contexts.dtype, device=contexts.device)
        if weights.shape != (len(contexts),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("weights must be non-negative, one per entry, not all zero.")
        weights = weights / weights.sum()
    return contexts, auxiliaries, weights


def _kmeans(points, n_clusters, generator=None, sample_weight=None, n_iter=20):
    """Weighted k-means (scikit-learn's ``KMeans``, k-means++ seeding) of a tensor.

    The seed of ``KMeans`` is drawn from ``generator`` (so a seeded generator gives the same
    clusters). Returns ``(centres, weights)`` of the non-empty clusters: each centre is the
    weighted mean of its points (in the dtype and on the device of ``points``), each weight
    the cluster's share of the total weight (uniform point weights when ``sample_weight``
    is None).
    """
    n = len(points)
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    if sample_weight is None:
        sample_weight = torch.ones(n, dtype=points.dtype, device=points.device)
    sample_weight = torch.as_tensor(sample_weight, dtype=points.dtype, device=points.device)
    n_clusters = min(int(n_clusters), n)
    kmeans = KMeans(n_clusters=n_clusters, n_init=1, max_iter=n_iter, random_state=seed)
    # as many threads as torch uses: scikit-learn's OpenMP pool on every core spin-waits when
    # another process holds a core (0.25-0.8 s instead of 0.02 s for 2,000 points on 2 busy cores)
    with warnings.catch_warnings(), threadpool_limits(limits=torch.get_num_threads()):
        # fewer distinct points than clusters: the duplicates' clusters stay empty (dropped)
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = kmeans.fit_predict(
            points.detach().cpu().double().numpy(),
            sample_weight=sample_weight.detach().cpu().double().numpy(),
        )
    labels = torch.from_numpy(labels).to(device=points.device, dtype=torch.int64)
    totals = torch.zeros(n_clusters, dtype=points.dtype, device=points.device).index_add_(0, labels, sample_weight)
    sums = torch.zeros(n_clusters, points.shape[1], dtype=points.dtype, device=points.device)
    sums.index_add_(0, labels, points * sample_weight[:, None])
    keep = totals > 0
    centres = sums[keep] / totals[keep, None]
    return centres, totals[keep] / totals[keep].sum()


# --------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------
def _class_means(values, y, n_classes):
    """Per-class means of the batch's rows, shape (n_classes, d) (0 for a class absent from the batch)."""
    one_hot = F.one_hot(y, n_classes).to(values.dtype)
    return (one_hot.T @ values) / one_hot.sum(0).clamp_min(1.0)[:, None]


def _whiten(values, shrinkage):
    """Rows of ``values`` (columns at unit variance) times the inverse Cholesky factor of their covariance.

    The covariance is shrunk towards the identity, ``(1 - s) C + s I``, so that it is
    invertible even with more columns than rows.
    """
    n, d = values.shape
    cov = values.T @ values / max(n, 1)
    eye = torch.eye(d, dtype=values.dtype, device=values.device)
    factor = torch.linalg.cholesky((1.0 - shrinkage) * cov + shrinkage * eye)
    return torch.linalg.solve_triangular(factor, values.T, upper=False).T


def _decorrelation_loss(outputs, y):
    """How much a linear read-out of the mediator says about the auxiliary input, scale-free.

    Both are centred within the batch (per class with the conditional variant: what m says
    about the auxiliary input beyond the label), scaled to unit variance, and the auxiliary
    input is whitened. With ``R²(v)`` the squared multiple correlation of a direction ``v``
    of m with the auxiliary input, the penalty is the average of two means of ``R²``:

    * over m's own units: charges a leak copied into many units in full;
    * over m's whitened (canonical) directions, i.e. the sum of the squared canonical
      correlations divided by ``mediator_size``: sees a leak spread over several units
      (two units sharing a large content signal, one with a small trace added: each barely
      correlated with the auxiliary input, their difference perfectly), which a linear
      probe of m reads and the units' mean misses; invariant to any invertible linear map
      of m.

    With uncorrelated units the two means are equal. Neither can be lowered by shrinking m.
    Either term alone, or the canonical correlations summed, did worse (the docs page
    "Front door on confounded real digits" says how). m's covariance gets a small ridge
    (1e-2); the auxiliary input's is shrunk towards the identity by ``d / (d + n)`` (``d``
    columns, ``n`` rows), which keeps the whitening finite when it has as many columns as the
    batch has rows. The penalty is estimated on one batch: with about as many auxiliary
    columns as rows, chance correlations swamp a real leak (a larger batch, or fewer
    auxiliary columns, helps).
    """
    m, target = outputs["mediator"], outputs["adversary_target"].detach()
    if outputs["decorrelation_conditional"]:
        n_classes = int(y.max()) + 1 if len(y) else 1
        m = m - _class_means(m, y, n_classes)[y]
        target = target - _class_means(target, y, n_classes)[y]
    else:
        m, target = m - m.mean(0), target - target.mean(0)
    m = m / m.pow(2).mean(0).add(1e-6).sqrt()
    target = target / target.pow(2).mean(0).add(1e-6).sqrt()
    n, d = target.shape
    target = _whiten(target, max(1e-2, d / (d + n)))

    def mean_r2(directions):  # mean over the directions of their R² with the auxiliary input
        return (directions.T @ target / max(n, 1)).pow(2).sum(1).mean()

    return 0.5 * (mean_r2(m) + mean_r2(_whiten(m, 1e-2)))


def _confusion_loss(outputs, y):
    """MSE between the frozen adversary's prediction and the (per-class) batch mean target."""
    prediction = outputs["confusion_prediction"]
    target = outputs["adversary_target"].detach()
    rows = torch.arange(len(y), device=y.device)
    if prediction.shape[1] > 1:
        means = _class_means(target, y, prediction.shape[1])
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

    def forward(self, outputs, y, sample_weight=None):
        """Total loss.

        Parameters
        ----------
        outputs : dict
            Output of :meth:`FrontDoorNetwork.forward`.
        y : torch.LongTensor of shape (n,)
            Labels.
        sample_weight : torch.Tensor of shape (n,) or None, default=None
            Per-sample weights of the cross-entropies (the main one and the diagnostic
            heads'); the InfoNCE and adversary terms are batch-level and unweighted.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        ce = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)
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
        if "decorrelation_coefficient" in outputs:
            terms["decor"] = decor = _decorrelation_loss(outputs, y)
            total = total + outputs["decorrelation_coefficient"] * decor
        if "confusion_prediction" in outputs:
            terms["conf"] = conf = _confusion_loss(outputs, y)
            total = total + outputs["confusion_coefficient"] * conf
        diagnostic_logits = list(outputs.get("modality_logits", {}).values())
        if "mediator_logits" in outputs:
            diagnostic_logits.append(outputs["mediator_logits"])
        if diagnostic_logits:
            diag = sum(cross_entropy(logits, y, sample_weight=sample_weight) for logits in diagnostic_logits)
            terms["diag"] = diag
            total = total + self.diagnostic_weight * diag
        self.last_terms_ = {key: float(value.detach()) for key, value in terms.items()}
        return total
