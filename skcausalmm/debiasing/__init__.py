"""Debiasing by causal information minimisation: CausalInfoMin (TE-D and ATE-D)."""

from .infomin import CausalInfoMinClassifier

__all__ = ["CausalInfoMinClassifier"]
