"""Loss pieces shared by the methods' losses."""

import torch
import torch.nn.functional as F

__all__ = ["cross_entropy"]


def cross_entropy(logits, y, class_weight=None, sample_weight=None):
    """Cross-entropy with class weights and optional per-sample weights.

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

    Returns
    -------
    loss : torch.Tensor
        A scalar.
    """
    if class_weight is not None:
        class_weight = torch.as_tensor(class_weight, dtype=logits.dtype, device=logits.device)
    if sample_weight is None:
        return F.cross_entropy(logits, y, weight=class_weight)
    weight = sample_weight.to(dtype=logits.dtype, device=logits.device)
    if class_weight is not None:
        weight = weight * class_weight[y]
    per_sample = F.cross_entropy(logits, y, reduction="none")
    return (weight * per_sample).sum() / weight.sum().clamp_min(torch.finfo(logits.dtype).tiny)
