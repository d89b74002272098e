"""The β formula: the front-door prediction averaged over a dictionary of contexts (its only place).

For every sample ``i``, with the dictionary's (context, auxiliary) pairs ``(r_j, z_j)`` and
weights ``w_j``::

    P_β(y | i) = β Σ_j w_j softmax g(m_i, r_j, z_j) + (1 - β) Σ_j attn_ij softmax g(m_i, r_j, z_i)

Pearl's front door at β = 1, the front door inside the stratum of the auxiliary modality at
β = 0. With one-hot features, the empirical tables as head and weights, and ``attn = P(x' | a)``,
this is the discrete ``conditional`` estimator of :mod:`skcausalmm.adjustment` per mediator value
(the bridge test).
"""

from __future__ import annotations

import numbers

import torch

from .head import FrontDoorHead

__all__ = ["check_beta", "front_door_average"]

#: Dictionary entries per chunk of the split-head fast path (they stay in cache).
_SPLIT_CHUNK = 64


def check_beta(beta):
    """Return ``beta`` as a float in [0, 1]; raise a ``ValueError`` otherwise."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must be a real number in [0, 1], got {beta!r}.")
    return float(beta)



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
    beta = check_beta(beta)
    if approximation not in ("exact", "nwgm"):
        raise ValueError(f"approximation must be 'exact' or 'nwgm', got {approximation!r}.")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    return _average(
        head, mediator, auxiliary, contexts, dictionary_auxiliaries, weights, log_attention, float(beta),
        approximation == "exact", int(chunk_size),
    )


def _average(head, mediator, auxiliary, contexts, dictionary_auxiliaries, weights, log_attention, beta, exact, chunk_size):
    """:func:`front_door_average` on arguments already checked (the prediction's inner loop)."""
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
