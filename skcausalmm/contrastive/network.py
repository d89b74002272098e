"""The contrastive network and its criterion: one encoder per modality, the mean pairwise InfoNCE.

The maths follows Zimmermann et al., "Contrastive Learning Inverts the Data Generating Process"
(ICML 2021, github.com/brendel-group/cl-ica) and its multimodal reading by Liu et al., "Beyond DAGs:
A Latent Partial Causal Model for Multimodal Learning" (arXiv 2402.06223); the critic and the
losses are the shared ones of :mod:`skcausalmm.nn.losses`:

* ``geometry="sphere"``: both embeddings are L2-normalised and compared by their cosine; the
  critic is ``cos(f_a(a_i), f_b(b_j)) / temperature``.
* ``geometry="box"``: embeddings stay unconstrained and are compared by their negative L1
  distance; the critic is ``-||f_a(a_i) - f_b(b_j)||_1 / temperature``.

The symmetric InfoNCE (CLIP's loss) averages the cross-entropy of matching each ``a_i`` to its
partner ``b_i`` among all ``b_j`` in the batch and the same with the roles swapped. With more than
two modalities the loss is the mean of the symmetric InfoNCE over all unordered pairs.
"""

from __future__ import annotations

from torch import nn

from ..nn.losses import check_geometry, multimodal_info_nce, present_columns

__all__ = ["ContrastiveNetwork", "SymmetricInfoNCELoss"]


class SymmetricInfoNCELoss(nn.Module):
    """The contrastive criterion: mean pairwise symmetric InfoNCE of a network's embeddings.

    Parameters
    ----------
    temperature : float, default=1.0
        Divides the similarities.
    geometry : {"sphere", "box"}, default="sphere"
        The similarity (see :func:`skcausalmm.nn.losses.similarity_matrix`).

    Notes
    -----
    ``forward(outputs, y=None)`` reads ``outputs["embeddings"]`` (a dict of modality to
    ``(n, d)`` tensor, as :class:`ContrastiveNetwork` returns) and ignores ``y``; with
    ``outputs["present"]`` (missing modalities) each pair of modalities counts the rows where
    both are present (:func:`~skcausalmm.nn.losses.multimodal_info_nce`). The last pairwise
    losses are kept in ``last_terms_`` (floats), for logging.
    """

    def __init__(self, temperature=1.0, geometry="sphere"):
        super().__init__()
        self.temperature = float(temperature)
        self.geometry = check_geometry(geometry)
        self.last_terms_ = {}

    def forward(self, outputs, y=None):
        """Return the mean pairwise symmetric InfoNCE; ``y`` is ignored."""
        structured = isinstance(outputs, dict) and "embeddings" in outputs
        embeddings = outputs["embeddings"] if structured else outputs
        present = outputs.get("present") if structured else None
        loss, pairs = multimodal_info_nce(embeddings, self.temperature, self.geometry, present)
        if len(pairs) > 1:
            self.last_terms_ = {f"infonce_{a}_{b}": float(v.detach()) for (a, b), v in pairs.items()}
        else:
            self.last_terms_ = {}
        return loss

    def extra_repr(self):
        return f"temperature={self.temperature}, geometry={self.geometry!r}"


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
    ``forward(X, availability=None)`` returns ``{"embeddings": {modality: raw encoder
    output}}`` (with a mask also ``"present"``); the loss applies the geometry (normalisation
    on the sphere). :meth:`encode` returns one modality's raw embedding.
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
        """Embeddings of every modality in ``X`` (a dict of tensors), and the mask's columns when given."""
        out = {"embeddings": {m: self.encoders[m](X[m]) for m in self.names if m in X}}
        if availability is not None:
            out["present"] = present_columns(availability, self.names)
        return out
