"""The β-generalised front-door classifier: estimator, network, losses, β search and mediator diagnostics."""

from .estimator import FrontDoorMultimodalClassifier
from .search import FrontDoorBetaSearchCV

__all__ = ["FrontDoorBetaSearchCV", "FrontDoorMultimodalClassifier"]
