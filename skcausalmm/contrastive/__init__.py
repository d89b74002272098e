"""Multimodal contrastive learning and linear ICA: ContrastiveICA."""

from .ica import ContrastiveICA

__all__ = ["ContrastiveICA"]
