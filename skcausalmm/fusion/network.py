"""Late-fusion network and the classification losses shared by fusion-style methods."""

import torch
from torch import nn

from ..nn.layers import absent_embeddings, fill_absent
from ..nn.losses import cross_entropy, present_columns

__all__ = ["FusionLoss", "LateFusionNetwork", "share_logits"]


def share_logits(head, features, names):
    """Per-modality logits from each modality's slice of a concat-fusion head.

    Modality ``m``'s logits are ``h_m W_m^T + b / M``, where ``W_m`` is the
    block of the head's weight that multiplies ``h_m`` in the concatenation
    and ``M`` the number of modalities, so that the fused logits are their sum.

    Parameters
    ----------
    head : torch.nn.Linear
        The fused head on ``cat([features[m] for m in names])``.
    features : dict of str to torch.Tensor
        Per-modality features ``(n, d_m)``.
    names : list of str
        Modalities in the order of the concatenation.

    Returns
    -------
    logits : dict of str to torch.Tensor
    """
    out, start, n_mod = {}, 0, len(names)
    bias = head.bias if head.bias is not None else 0.0
    for m in names:
        d = features[m].shape[1]
        out[m] = features[m] @ head.weight[:, start : start + d].T + bias / n_mod
        start += d
    return out


class LateFusionNetwork(nn.Module):
    """Per-modality encoders, concatenation, one linear head.

    Parameters
    ----------
    encoder_factory : EncoderFactory
        Builds one encoder per modality
        (:class:`skcausalmm.nn.encoders.EncoderFactory`), each mapping its
        batch to ``(n, d_m)``.
    n_classes : int
        Number of classes.
    detach_modality_heads : bool, default=True
        Each modality has a linear classifier on its own features. When True
        they see detached features: they measure what each modality's
        representation knows (diagnostics, contributions) without changing
        it. When False their loss trains the encoders (auxiliary losses).
    handle_missing : bool, default=False
        Learn an "absent" embedding per modality and accept an
        ``availability`` mask in ``forward``.

    Notes
    -----
    Missing modalities: when ``forward`` gets an ``availability`` mask, an
    absent modality's features are replaced by a learned "absent" embedding
    (one vector per modality, initialised at zero), so that the fused head
    always sees the same layout and learns how much to trust a missing
    modality's slot; with zero initialisation a modality never missing in
    training contributes nothing when it is missing at prediction.

    ``forward`` returns ``{"logits", "features", "modality_logits"}``;
    ``features`` and ``modality_logits`` are dicts keyed by modality; with an
    availability mask also ``"present"`` (:func:`~skcausalmm.nn.losses.present_columns`),
    so that each modality's loss terms count its present rows only. The
    fused head's weight is laid out in the order of ``encoders``, so the
    slice ``head.weight[:, offsets[m]:offsets[m+1]]`` is modality m's share
    (:meth:`logit_parts`, used by OGM-GE and by the Shapley contributions).
    """

    def __init__(self, encoder_factory, n_classes, detach_modality_heads=True, handle_missing=False):
        super().__init__()
        encoders, dims = encoder_factory.build_all()
        self.encoders = encoders
        self.names = list(encoders.keys())
        self.dims = dict(dims)
        self.head = nn.Linear(sum(self.dims[m] for m in self.names), n_classes)
        self.detach_modality_heads = detach_modality_heads
        self.modality_heads = nn.ModuleDict({m: nn.Linear(self.dims[m], n_classes) for m in self.names})
        self.absent = absent_embeddings(self.dims, self.names) if handle_missing else None

    def encode(self, X, availability=None):
        """Return ``{modality: features}`` for a batch (absent modalities: their learned embedding)."""
        feats = {m: self.encoders[m](X[m]) for m in self.names}
        present = None if availability is None else present_columns(availability, self.names)
        return fill_absent(feats, self.absent, present)

    def logit_parts(self, X, availability=None):
        """The fused logits as a sum over modalities (:func:`share_logits`): ``logits = sum(parts.values())``.

        Parameters
        ----------
        X : dict of str to torch.Tensor
            A standardised batch.
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask (absent modalities: their learned embedding's part).

        Returns
        -------
        parts : dict of str to torch.Tensor of shape (n, n_classes)
        """
        return share_logits(self.head, self.encode(X, availability), self.names)

    def forward(self, X, availability=None):
        """Fused logits, per-modality features and per-modality logits."""
        feats = self.encode(X, availability)
        out = {"logits": self._fused_logits(feats), "features": feats}
        out["modality_logits"] = {
            m: self.modality_heads[m](feats[m].detach() if self.detach_modality_heads else feats[m])
            for m in self.names
        }
        if availability is not None:
            out["present"] = present_columns(availability, self.names)
        return out

    def _fused_logits(self, feats):
        return self.head(torch.cat([feats[m] for m in self.names], dim=1))

    #: :meth:`predict_proba` is ``softmax(forward(X)["logits"])`` (the contract's flag).
    softmax_of_logits = True

    def predict_proba(self, X, availability=None):
        """Class probabilities of the fused head: ``softmax(forward(X)["logits"])``, without the per-modality heads."""
        if type(self).forward is not LateFusionNetwork.forward:  # a subclass's own forward decides
            return torch.softmax(self(X, availability)["logits"], dim=1)
        return torch.softmax(self._fused_logits(self.encode(X, availability)), dim=1)


class FusionLoss(nn.Module):
    """Cross-entropy on the fused logits plus weighted per-modality cross-entropies.

    Parameters
    ----------
    class_weight : torch.Tensor or None, default=None
        Per-class weights of every cross-entropy term.
    modality_weight : float, default=1.0
        Weight of each per-modality cross-entropy (``outputs["modality_logits"]``).
        With detached per-modality heads any positive weight only trains the
        heads; zero leaves them untrained.
    """

    def __init__(self, class_weight=None, modality_weight=1.0):
        super().__init__()
        self.register_buffer("class_weight", class_weight)
        self.modality_weight = float(modality_weight)
        self.last_terms_ = {}

    def forward(self, outputs, y, sample_weight=None):
        """Return the total loss and record its terms in ``last_terms_``."""
        loss = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)
        terms = {"fused_ce": loss.detach()}
        if self.modality_weight > 0 and "modality_logits" in outputs:
            present = outputs.get("present", {})
            for name, logits in outputs["modality_logits"].items():
                ce = cross_entropy(logits, y, self.class_weight, sample_weight, present.get(name))
                terms[f"ce_{name}"] = ce.detach()
                loss = loss + self.modality_weight * ce
        self.last_terms_ = terms
        return loss
