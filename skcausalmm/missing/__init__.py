"""Missing modalities at imbalanced rates: RedCore (estimator, network, loss)."""

from .redcore import RedCoreClassifier

__all__ = ["RedCoreClassifier"]
