"""Model selection for the package's estimators: the front door's β (and settings) by cross-validation."""

from .frontdoor.search import FrontDoorBetaSearchCV

__all__ = ["FrontDoorBetaSearchCV"]
