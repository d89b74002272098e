"""The front-door network's training loss and the mediator's independence objectives.

:class:`FrontDoorLoss` adds, to the head's cross-entropy on each sample's own triple, the
symmetric InfoNCE between the context and the auxiliary projections (the shared
:func:`~skcausalmm.nn.losses.symmetric_info_nce`), the mediator's objective against the
auxiliary input (the adversary's own error behind gradient reversal, the confusion term, or the
decorrelation penalty :func:`_decorrelation_loss`) and the diagnostic heads' cross-entropies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.losses import cross_entropy, symmetric_info_nce

__all__ = ["FrontDoorLoss"]


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


@torch.no_grad()
def _decorrelation_excess(outputs, y, penalty):
    """The penalty minus its value with the auxiliary rows paired with other rows of the batch.

    The auxiliary input is rolled by half the batch, so each mediator row meets another
    sample's auxiliary input: what the penalty reads by chance at this mediator. On shuffled
    batches the difference has mean 0 when the mediator is independent of the auxiliary
    input, and is positive when it depends on it.
    """
    target = outputs["adversary_target"]
    shuffled = dict(outputs, adversary_target=target.roll(len(target) // 2, 0))
    return penalty.detach() - _decorrelation_loss(shuffled, y)


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
    """Training loss of :class:`~skcausalmm.frontdoor.network.FrontDoorNetwork`.

    ``ce(logits, y) + contrastive_weight · InfoNCE + mediator objective
    + diagnostic_weight · Σ diagnostic CE``. The mediator objective is what the network's
    ``adversary_objective`` produces: with ``"reversal"`` the adversary's own mean squared
    error (the network's gradient reversal layer turns it into a penalty of scale
    ``adversary_coefficient()`` for the mediator); with ``"confusion"`` that error (training
    the adversary) plus the coefficient times the confusion error of the frozen adversary
    (training the mediator); with ``"decorrelation"`` the coefficient times
    :func:`_decorrelation_loss`. The diagnostic heads see detached features and so do not
    shape the encoders, but for the mediator's and the auxiliary modalities' own heads, whose
    gradient the network scales by ``unimodal_weight``.

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
    measure_excess : bool
        Whether training batches also measure ``"decor_excess"`` (set by
        :class:`~skcausalmm.frontdoor.schedule.DecorrelationSchedule`; False by default).
    last_terms_ : dict of str to float
        Detached values of the terms of the last call: ``"ce"`` and ``"diag"``; with an
        auxiliary modality ``"nce"``; with an adversary network ``"adv"`` (its MSE) and, with
        ``"confusion"``, ``"conf"`` (the mediator's confusion MSE); with ``"decorrelation"``,
        ``"decor"`` (the penalty before the coefficient) and, with ``measure_excess`` in
        training, ``"decor_excess"`` (:func:`_decorrelation_excess`).
    """

    def __init__(self, class_weight=None, contrastive_weight=1.0, diagnostic_weight=1.0):
        super().__init__()
        self.class_weight = class_weight
        self.contrastive_weight = float(contrastive_weight)
        self.diagnostic_weight = float(diagnostic_weight)
        self.progress = 1.0
        self.measure_excess = False
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
            heads'); the InfoNCE and adversary terms are batch-level and unweighted. With
            an availability mask in ``outputs`` each term counts the rows whose inputs it
            reads (:class:`~skcausalmm.frontdoor.network.FrontDoorNetwork`'s notes).

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        present = outputs.get("present", {})  # keyed [predominant, *auxiliary]
        x_rows = next(iter(present.values())) if present else None
        ce = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight, x_rows)
        terms = {"ce": ce}
        total = ce
        if "contrastive_pair" in outputs:
            context, auxiliary = outputs["contrastive_pair"]
            rows = outputs.get("contrastive_rows")
            if rows is not None and not bool(rows.all()):
                context, auxiliary = context[rows], auxiliary[rows]  # rows with X and an auxiliary modality only
            if len(context) > 1:
                terms["nce"] = nce = symmetric_info_nce(context, auxiliary, outputs["temperature"])
                total = total + self.contrastive_weight * nce
        total = total + self._mediator_objective(outputs, y, terms, self.measure_excess and self.training)
        own = outputs.get("own_head_is_mediator")  # the modality whose own head is the mediator's (counted once)
        diagnostic = [(logits, present.get(name)) for name, logits in outputs.get("modality_logits", {}).items()
                      if name != own]
        if "mediator_logits" in outputs:
            diagnostic.append((outputs["mediator_logits"], x_rows))
        if "auxiliary_logits" in outputs:
            # the rows with an auxiliary modality (every row without a mask)
            observed = torch.stack(list(present.values())[1:], dim=1).amax(1) if present else None
            diagnostic.append((outputs["auxiliary_logits"], observed))
        if diagnostic:
            diag = sum(cross_entropy(logits, y, sample_weight=sample_weight, present=rows) for logits, rows in diagnostic)
            terms["diag"] = diag
            total = total + self.diagnostic_weight * diag
        self.last_terms_ = {key: float(value.detach()) for key, value in terms.items()}
        return total

    @staticmethod
    def _mediator_objective(outputs, y, terms, measure_excess=False):
        """The mediator's objective against the auxiliary input, over the rows with every input it reads.

        With ``measure_excess`` (and the decorrelation objective, on a batch of more than 3
        rows) also ``terms["decor_excess"]`` (:func:`_decorrelation_excess`).
        """
        rows = outputs.get("adversary_rows")
        if rows is not None and not bool(rows.all()):
            per_row = ("mediator", "adversary_target", "adversary_prediction", "confusion_prediction")
            outputs = {k: (v[rows] if k in per_row else v) for k, v in outputs.items()}
            y = y[rows]
        total = 0.0
        if not len(y):
            return total
        if "adversary_prediction" in outputs:
            prediction = outputs["adversary_prediction"]
            index = y if prediction.shape[1] > 1 else torch.zeros_like(y)
            selected = prediction[torch.arange(len(y), device=y.device), index]
            terms["adv"] = adv = F.mse_loss(selected, outputs["adversary_target"])
            total = total + adv
        if "decorrelation_coefficient" in outputs:
            terms["decor"] = decor = _decorrelation_loss(outputs, y)
            if measure_excess and len(y) > 3:
                terms["decor_excess"] = _decorrelation_excess(outputs, y, decor)
            total = total + outputs["decorrelation_coefficient"] * decor
        if "confusion_prediction" in outputs:
            terms["conf"] = conf = _confusion_loss(outputs, y)
            total = total + outputs["confusion_coefficient"] * conf
        return total
