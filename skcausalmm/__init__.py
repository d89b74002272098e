"""skcausalmm: causal multimodal classifiers that behave like scikit-learn estimators."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
