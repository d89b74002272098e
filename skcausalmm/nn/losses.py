"""Loss pieces shared by the methods' losses: weighted cross-entropy and the InfoNCE family.

* :func:`cross_entropy` with class and sample weights (every supervised term of the package);
* the contrastive critic and losses (Zimmermann et al., ICML 2021; CLIP's symmetric loss):
  :func:`similarity_matrix` on the sphere (cosine) or in the box (negative L1 distance),
  :func:`symmetric_info_nce`, :func:`multimodal_info_nce` (the mean over pairs of modalities)
  and :func:`info_nce_from_logits` for a network that builds its own critic.
"""

import itertools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = [
    "GEOMETRIES",
    "check_geometry",
    "cross_entropy",
    "info_nce_from_logits",
    "multimodal_info_nce",
    "normalise",
    "present_columns",
    "similarity_matrix",
    "symmetric_info_nce",
]


#: The floor of the norm that ``normalise`` divides by on the sphere.
_SPHERE_EPS = 1e-8


def cross_entropy(logits, y, class_weight=None, sample_weight=None, present=None):
    """Cross-entropy with class weights, optional per-sample weights and an optional row mask.

    Without ``sample_weight`` this is ``F.cross_entropy(logits, y, weight=class_weight)``:
    the mean of the per-sample losses weighted by ``class_weight[y_i]``. With it, each
    sample's weight is ``sample_weight_i * class_weight[y_i]`` and the loss is the
    weighted mean ``sum_i w_i l_i / sum_i w_i`` over the batch (0 for a batch whose
    weights are all 0). On a single batch, integer weights give the loss of the batch
    with each sample repeated that many times.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, n_classes)
        Unnormalised scores.
    y : torch.LongTensor of shape (n,)
        Labels.
    class_weight : torch.Tensor of shape (n_classes,) or None, default=None
        Per-class weights.
    sample_weight : torch.Tensor of shape (n,) or None, default=None
        Non-negative per-sample weights.
    present : torch.Tensor of shape (n,) or None, default=None
        Rows that take part (1) or not (0), e.g. a column of the availability mask for a
        term computed from one modality: the loss is then the weighted mean over the
        present rows only (0, without gradient to the logits, when no row is present).
        None: every row.

    Returns
    -------
    loss : torch.Tensor
        A scalar.
    """
    if class_weight is not None:
        class_weight = torch.as_tensor(class_weight, dtype=logits.dtype, device=logits.device)
    if present is not None:
        present = present.to(dtype=logits.dtype, device=logits.device)
        sample_weight = present if sample_weight is None else sample_weight.to(logits.dtype) * present
    if sample_weight is None:
        return F.cross_entropy(logits, y, weight=class_weight)
    weight = sample_weight.to(dtype=logits.dtype, device=logits.device)
    if class_weight is not None:
        weight = weight * class_weight[y]
    per_sample = F.cross_entropy(logits, y, reduction="none")
    return (weight * per_sample).sum() / weight.sum().clamp_min(torch.finfo(logits.dtype).tiny)


def present_columns(availability, names):
    """The availability mask as ``{modality: (n,) float mask}``, the columns in the order of ``names``.

    A network that takes an availability mask returns this under ``"present"`` in its
    outputs; a loss term computed from one modality passes its column to
    :func:`cross_entropy` (``present=``) so that it counts the rows where the modality
    was observed only.

    Parameters
    ----------
    availability : torch.Tensor of shape (n, n_modalities)
        1 where the modality is present, 0 where it is missing.
    names : list of str
        Modalities in the order of the columns.

    Returns
    -------
    present : dict of str to torch.Tensor of shape (n,)
    """
    return {name: availability[:, j].to(torch.float32) for j, name in enumerate(names)}


#: The supported latent geometries and their similarities.
GEOMETRIES = ("sphere", "box")


def check_geometry(geometry):
    """Return ``geometry`` if it is one of :data:`GEOMETRIES`; raise a ``ValueError`` otherwise."""
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
    if check_geometry(geometry) == "sphere":
        return F.normalize(embedding, p=2, dim=-1, eps=_SPHERE_EPS)
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
    if check_geometry(geometry) == "sphere":
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
    >>> from skcausalmm.nn.losses import symmetric_info_nce
    >>> a = torch.ones(8, 3)
    >>> round(float(symmetric_info_nce(a, a)), 4) == round(math.log(8), 4)
    True
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    if a.shape != b.shape:
        raise ValueError(f"paired embeddings must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    if return_terms or check_geometry(geometry) != "sphere" or torch.is_tensor(temperature) or not len(a):
        # autograd of the definition: the terms, the box, a learned temperature, an empty batch
        loss, terms = info_nce_from_logits(similarity_matrix(a, b, geometry) / temperature, return_terms=True)
        return (loss, terms) if return_terms else loss
    return _SphereInfoNCE.apply(a, b, float(temperature))


class _SphereInfoNCE(torch.autograd.Function):
    """The symmetric InfoNCE of cosine similarities, with its gradient written out.

    The same value and gradient as ``info_nce_from_logits(similarity_matrix(a, b) / t)`` in a
    handful of tensor operations (autograd would record about thirty for the normalisations,
    the two cross-entropies and their means): with ``p, q`` the normalised rows, ``S = p qᵀ / t``
    and ``P_r, P_c`` its row- and column-wise softmax, ``dL/dS = (P_r + P_c - 2 I) / (2 n)``,
    then ``dL/dp = dL/dS q / t`` and through the normalisation ``dL/da = (dL/dp - p (p · dL/dp)) / |a|``
    (the projection is dropped where ``|a|`` is below the normalisation's floor, as there
    ``normalise`` divides by the floor). Once differentiable: a second derivative through it is
    an error (``symmetric_info_nce(..., return_terms=True)`` takes autograd's path).
    """

    @staticmethod
    def forward(ctx, a, b, temperature):
        norm_a, norm_b = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
        inv_a, inv_b = norm_a.clamp_min(_SPHERE_EPS).reciprocal(), norm_b.clamp_min(_SPHERE_EPS).reciprocal()
        p, q = a * inv_a, b * inv_b
        scores = (p @ q.T).mul_(1.0 / temperature)
        by_row, by_column = scores.log_softmax(dim=1), scores.log_softmax(dim=0)
        loss = (by_row.diagonal().sum() + by_column.diagonal().sum()).mul_(-0.5 / len(a))
        project_a, project_b = inv_a * (norm_a > _SPHERE_EPS), inv_b * (norm_b > _SPHERE_EPS)
        ctx.save_for_backward(p, q, inv_a, inv_b, project_a, project_b, by_row, by_column)
        ctx.temperature = temperature
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        p, q, inv_a, inv_b, project_a, project_b, by_row, by_column = ctx.saved_tensors
        scores_grad = by_row.exp().add_(by_column.exp())
        scores_grad.diagonal().sub_(2.0)
        scores_grad.mul_(grad / (2 * len(p) * ctx.temperature))
        grad_p, grad_q = scores_grad @ q, scores_grad.T @ p
        grad_a = grad_p * inv_a - p * ((p * grad_p).sum(1, keepdim=True) * project_a)
        grad_b = grad_q * inv_b - q * ((q * grad_q).sum(1, keepdim=True) * project_b)
        return grad_a, grad_b, None


def multimodal_info_nce(embeddings, temperature=1.0, geometry="sphere", present=None):
    """Mean symmetric InfoNCE over all unordered pairs of modalities.

    Parameters
    ----------
    embeddings : dict of str to torch.Tensor, or sequence of torch.Tensor
        At least two ``(n, d)`` embeddings of the same samples.
    temperature : float, default=1.0
    geometry : {"sphere", "box"}, default="sphere"
    present : dict of str to torch.Tensor of shape (n,) or None, default=None
        Availability of each modality (:func:`present_columns`; needs a dict of
        embeddings): a pair's InfoNCE is computed over the rows where both modalities are
        present (their positives and their negatives), and a pair with fewer than two such
        rows in the batch leaves the mean. None: every row of every modality.

    Returns
    -------
    loss : torch.Tensor (scalar)
        0 (with a gradient of 0) when no pair has two rows.
    pair_losses : dict of (str, str) to torch.Tensor
        The symmetric InfoNCE of every pair that took part (keys are modality names, or
        indices as strings).
    """
    if isinstance(embeddings, dict):
        items = list(embeddings.items())
    else:
        items = [(str(i), e) for i, e in enumerate(embeddings)]
    if len(items) < 2:
        raise ValueError(f"contrastive learning needs at least two modalities, got {len(items)}.")
    pair_losses = {}
    for (na, ea), (nb, eb) in itertools.combinations(items, 2):
        if present is not None:
            rows = (present[na] > 0) & (present[nb] > 0)
            if int(rows.sum()) < 2:
                continue
            if not bool(rows.all()):
                ea, eb = ea[rows], eb[rows]
        pair_losses[(na, nb)] = symmetric_info_nce(ea, eb, temperature, geometry)
    if not pair_losses:
        return sum(e.sum() for _, e in items) * 0.0, pair_losses
    loss = torch.stack(list(pair_losses.values())).mean()
    return loss, pair_losses


def info_nce_from_logits(logits, return_terms=False):
    """Symmetric InfoNCE of a square matrix of critic values, positives on the diagonal.

    ``0.5 * (CE(S, I) + CE(S^T, I))``: the cross-entropy of matching each row to its own
    column and each column to its own row. :func:`symmetric_info_nce` computes ``S`` from
    two batches of embeddings; a network that builds its own critic (e.g. projections and a
    temperature of its own) passes ``S`` here.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, n)
        Critic values ``S[i, j]`` of pairing row sample ``i`` with column sample ``j``.
    return_terms : bool, default=False
        Also return the two directed cross-entropies ``(rows, columns)``.

    Returns
    -------
    loss : torch.Tensor (scalar)
    terms : tuple of two torch.Tensor, only when ``return_terms``
    """
    target = torch.arange(logits.shape[0], device=logits.device)
    rows = F.cross_entropy(logits, target)
    columns = F.cross_entropy(logits.T, target)
    loss = 0.5 * (rows + columns)
    if return_terms:
        return loss, (rows, columns)
    return loss
