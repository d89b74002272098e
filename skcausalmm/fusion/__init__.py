"""Late fusion: the plain multimodal baseline (estimator and network)."""

from .late_fusion import LateFusionClassifier

__all__ = ["LateFusionClassifier"]
