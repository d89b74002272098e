"""Multimodal contrastive learning: similarities, the symmetric InfoNCE loss and the encoders.

The maths follows Zimmermann et al., "Contrastive Learning Inverts the Data Generating Process"
(ICML 2021, github.com/brendel-group/cl-ica) and its multimodal reading by Liu et al., "Beyond DAGs:
A Latent Partial Causal Model for Multimodal Learning" (arXiv 2402.06223):

* ``geometry="sphere"``: both embeddings are L2-normalised and compared by their cosine; the
  critic is ``cos(f_a(a_i), f_b(b_j)) / temperature``.
* ``geometry="box"``: embeddings stay unconstrained and are compared by their negative L1
  distance; the critic is ``-||f_a(a_i) - f_b(b_j)||_1 / temperature``.

The symmetric InfoNCE (CLIP's loss) averages the cross-entropy of matching each ``a_i`` to its
partner ``b_i`` among all ``b_j`` in the batch and the same with the roles swapped. With more than
two modalities the loss is the mean of the symmetric InfoNCE over all unordered pairs.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "GEOMETRIES",
    "similarity_matrix",
    "symmetric_info_nce",
    "multimodal_info_nce",
    "SymmetricInfoNCELoss",
    "SkipMLPEncoder",
    "IdentityEncoder",
    "ContrastiveNetwork",
]

#: The supported latent geometries and their similarities.
GEOMETRIES = ("sphere", "box")


def _check_geometry(geometry):
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}.")
    return geometry


def normalise(embedding, geometry):
    """Map raw encoder outputs to the geometry's representation space.

    Parameters
    ----------
    embedding : torch.Tensor of shape (n, d)
        Raw encoder outputs.
    geometry : {"sphere", "box"}
        ``"sphere"`` divides each row by its L2 norm; ``"box"`` returns the input unchanged.

    Returns
    -------
    representation : torch.Tensor of shape (n, d)
    """
    if _check_geometry(geometry) == "sphere":
        return F.normalize(embedding, p=2, dim=-1, eps=1e-8)
    return embedding


def similarity_matrix(a, b, geometry="sphere"):
    """All pairwise similarities between two batches of embeddings.

    Parameters
    ----------
    a : torch.Tensor of shape (n, d)
    b : torch.Tensor of shape (m, d)
    geometry : {"sphere", "box"}, default="sphere"
        ``"sphere"``: cosine similarity of the L2-normalised rows; ``"box"``: negative L1
        distance of the raw rows.

    Returns
    -------
    sim : torch.Tensor of shape (n, m)
        ``sim[i, j]`` compares ``a[i]`` with ``b[j]``.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two 2-D tensors with the same width, got {tuple(a.shape)} and {tuple(b.shape)}.")
    if _check_geometry(geometry) == "sphere":
        return normalise(a, "sphere") @ normalise(b, "sphere").T
    # |a_i - b_j|_1 summed over features, as a (n, m) matrix (cdist has no stable p=1 gradient at 0)
    return -(a.unsqueeze(1) - b.unsqueeze(0)).abs().sum(dim=-1)


def symmetric_info_nce(a, b, temperature=1.0, geometry="sphere", return_terms=False):
    """Symmetric InfoNCE between paired embeddings ``a[i] <-> b[i]``.

    ``0.5 * (CE(S, I) + CE(S^T, I))`` with ``S = similarity_matrix(a, b) / temperature`` and
    the targets on the diagonal.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n, d)
        Embeddings of the same ``n`` samples seen through two modalities.
    temperature : float, default=1.0
        Divides the similarities.
    geometry : {"sphere", "box"}, default="sphere"
        The similarity (see :func:`similarity_matrix`).
    return_terms : bool, default=False
        Also return the two directed cross-entropies ``(a_to_b, b_to_a)``.

    Returns
    -------
    loss : torch.Tensor (scalar)
        Equals ``log n`` when every similarity is the same (e.g. constant embeddings).
    terms : tuple of two torch.Tensor, only when ``return_terms``

    Examples
    --------
    >>> import math, torch
    >>> from skcausalmm.modules.contrastive import symmetric_info_nce
    >>> a = torch.ones(8, 3)
    >>> round(float(symmetric_info_nce(a, a)), 4) == round(math.log(8), 4)
    True
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    if a.shape != b.shape:
        raise ValueError(f"paired embeddings must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    logits = similarity_matrix(a, b, geometry) / temperature
    target = torch.arange(a.shape[0], device=a.device)
    a_to_b = F.cross_entropy(logits, target)
    b_to_a = F.cross_entropy(logits.T, target)
    loss = 0.5 * (a_to_b + b_to_a)
    if return_terms:
        return loss, (a_to_b, b_to_a)
    return loss


def multimodal_info_nce(embeddings, temperature=1.0, geometry="sphere"):
    """Mean symmetric InfoNCE over all unordered pairs of modalities.

    Parameters
    ----------
    embeddings : dict of str to torch.Tensor, or sequence of torch.Tensor
        At least two ``(n, d)`` embeddings of the same samples.
    temperature : float, default=1.0
    geometry : {"sphere", "box"}, default="sphere"

    Returns
    -------
    loss : torch.Tensor (scalar)
    pair_losses : dict of (str, str) to torch.Tensor
        The symmetric InfoNCE of every pair (keys are modality names, or indices as strings).
    """
    if isinstance(embeddings, dict):
        items = list(embeddings.items())
    else:
        items = [(str(i), e) for i, e in enumerate(embeddings)]
    if len(items) < 2:
        raise ValueError(f"contrastive learning needs at least two modalities, got {len(items)}.")
    pair_losses = {
        (na, nb): symmetric_info_nce(ea, eb, temperature, geometry)
        for (na, ea), (nb, eb) in itertools.combinations(items, 2)
    }
    loss = torch.stack(list(pair_losses.values())).mean()
    return loss, pair_losses


class SymmetricInfoNCELoss(nn.Module):
    """The contrastive criterion: mean pairwise symmetric InfoNCE of a network's embeddings.

    Parameters
    ----------
    temperature : float, default=1.0
        Divides the similarities.
    geometry : {"sphere", "box"}, default="sphere"
        The similarity (see :func:`similarity_matrix`).

    Notes
    -----
    ``forward(outputs, y=None)`` reads ``outputs["embeddings"]`` (a dict of modality to
    ``(n, d)`` tensor, as :class:`ContrastiveNetwork` returns) and ignores ``y``. The last
    pairwise losses are kept in ``last_terms_`` (floats), for logging.
    """

    def __init__(self, temperature=1.0, geometry="sphere"):
        super().__init__()
        self.temperature = float(temperature)
        self.geometry = _check_geometry(geometry)
        self.last_terms_ = {}

    def forward(self, outputs, y=None):
        """Return the mean pairwise symmetric InfoNCE; ``y`` is ignored."""
        embeddings = outputs["embeddings"] if isinstance(outputs, dict) and "embeddings" in outputs else outputs
        loss, pairs = multimodal_info_nce(embeddings, self.temperature, self.geometry)
        if len(pairs) > 1:
            self.last_terms_ = {f"infonce_{a}_{b}": float(v.detach()) for (a, b), v in pairs.items()}
        else:
            self.last_terms_ = {}
        return loss

    def extra_repr(self):
        return f"temperature={self.temperature}, geometry={self.geometry!r}"


class SkipMLPEncoder(nn.Module):
    """MLP with a linear skip path; the MLP's last layer starts at zero.

    ``f(x) = W x + b + MLP(x)``: at initialisation ``MLP(x) = 0``, so the encoder starts as a
    random linear map and the non-linear part grows from there. This keeps early training close
    to linear contrastive learning (which already aligns what a linear map can) and avoids the
    collapse that a deep randomly initialised MLP can fall into at small temperatures.

    Parameters
    ----------
    in_features : int
        Input size.
    out_features : int
        Embedding size.
    hidden_size : int, default=128
        Width of the hidden layers.
    n_hidden : int, default=3
        Number of hidden layers of the MLP branch (at least 1).
    negative_slope : float, default=0.01
        Slope of the leaky ReLU activations.
    """

    def __init__(self, in_features, out_features, hidden_size=128, n_hidden=3, negative_slope=0.01):
        super().__init__()
        if n_hidden < 1:
            raise ValueError(f"n_hidden must be >= 1, got {n_hidden!r}.")
        self.linear = nn.Linear(in_features, out_features)
        layers, width = [], in_features
        for _ in range(n_hidden):
            layers += [nn.Linear(width, hidden_size), nn.LeakyReLU(negative_slope)]
            width = hidden_size
        last = nn.Linear(width, out_features)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        layers.append(last)
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        """Encode a batch of shape ``(n, in_features)`` (other shapes are flattened)."""
        x = x.flatten(1)
        return self.linear(x) + self.mlp(x)


class IdentityEncoder(nn.Module):
    """An encoder that returns its (flattened) input: for precomputed embeddings.

    It has no parameters; a modality with this encoder is not trained, and the other modality's
    encoder learns to align with it.
    """

    def forward(self, x):
        """Return ``x`` flattened to ``(n, features)``."""
        return x.flatten(1)


class ContrastiveNetwork(nn.Module):
    """One encoder per modality, trained jointly by a contrastive loss.

    Parameters
    ----------
    encoders : torch.nn.ModuleDict, dict of str to torch.nn.Module, or None, default=None
        At least two encoders, each mapping its modality to ``(n, d)`` with the same ``d``.
    encoder_factory : callable or None, default=None
        Instead of ``encoders``: a picklable ``factory(name, out_features)`` with a ``names``
        attribute (the modalities in order), called once per modality.
    out_features : int or None, default=None
        Embedding size ``d`` passed to ``encoder_factory``.

    Notes
    -----
    ``forward(X)`` returns ``{"embeddings": {modality: raw encoder output}}``; the loss applies
    the geometry (normalisation on the sphere). :meth:`encode` returns one modality's raw
    embedding.
    """

    def __init__(self, encoders=None, encoder_factory=None, out_features=None):
        super().__init__()
        if encoders is None:
            if encoder_factory is None or out_features is None:
                raise ValueError("ContrastiveNetwork needs `encoders`, or `encoder_factory` and `out_features`.")
            encoders = {name: encoder_factory(name, int(out_features)) for name in encoder_factory.names}
        if not isinstance(encoders, nn.ModuleDict):
            encoders = nn.ModuleDict(encoders)
        if len(encoders) < 2:
            raise ValueError(f"ContrastiveNetwork needs at least two modalities, got {len(encoders)}.")
        self.encoders = encoders
        self.names = list(encoders.keys())

    def encode(self, x, modality):
        """Raw embedding of one modality's batch."""
        return self.encoders[modality](x)

    def forward(self, X, availability=None):
        """Embeddings of every modality in ``X`` (a dict of tensors); ``availability`` is unused."""
        return {"embeddings": {m: self.encoders[m](X[m]) for m in self.names if m in X}}
