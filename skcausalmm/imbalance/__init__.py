"""Modality-imbalance baselines that boost the weak modality during training: OGM-GE, MMPareto, MLA."""

from .mla import MLAClassifier
from .ogm import OGMGEClassifier
from .pareto import MMParetoClassifier

__all__ = ["MLAClassifier", "MMParetoClassifier", "OGMGEClassifier"]
