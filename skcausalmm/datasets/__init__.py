"""Data set loaders and synthetic generators."""

from ._mfeat import load_multiple_features

__all__ = ["load_multiple_features"]
