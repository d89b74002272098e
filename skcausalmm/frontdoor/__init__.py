"""The β-generalised front-door classifier: estimator, network, losses and the β search."""

from .estimator import FrontDoorMultimodalClassifier
from .search import FrontDoorBetaSearchCV

__all__ = ["FrontDoorBetaSearchCV", "FrontDoorMultimodalClassifier"]
