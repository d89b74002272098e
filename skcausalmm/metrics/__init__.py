"""Metrics of fitted multimodal models.

* contributions (:mod:`~skcausalmm.metrics.contributions`): :func:`modality_scores`,
  :func:`shapley_contributions`, :func:`imbalance_summary`;
* missing modalities (:mod:`~skcausalmm.metrics.availability`): :func:`availability_scores`;
* identifiability (:mod:`~skcausalmm.metrics.identifiability`): :func:`identifiability_scores`,
  :func:`mean_corr_coef`, :func:`heldout_linear_r2`;
* shortcuts (:mod:`~skcausalmm.metrics.spurious`): :func:`spurious_sufficiency`;
* a front-door mediator's leakage (:mod:`~skcausalmm.metrics.leakage`): :func:`mediator_diagnostics`;
* permutation importance of modalities (:mod:`~skcausalmm.metrics.permutation`):
  :func:`modality_permutation_importance`.
"""

from .availability import availability_scores
from .contributions import imbalance_summary, modality_scores, shapley_contributions
from .identifiability import heldout_linear_r2, identifiability_scores, mean_corr_coef
from .leakage import mediator_diagnostics
from .permutation import modality_permutation_importance
from .spurious import spurious_sufficiency

__all__ = [
    "availability_scores",
    "heldout_linear_r2",
    "identifiability_scores",
    "imbalance_summary",
    "mean_corr_coef",
    "mediator_diagnostics",
    "modality_permutation_importance",
    "modality_scores",
    "shapley_contributions",
    "spurious_sufficiency",
]
