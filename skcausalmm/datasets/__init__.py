"""Data set loaders and synthetic generators."""

from ._confounded import confounded_ceilings, confounded_interventional_proba, make_confounded_multimodal
from ._confounded_digits import make_confounded_digits
from ._mfeat import load_multiple_features
from ._missing import mask_modalities
from ._partial_causal import PartialCausalSampler, make_partial_causal
from ._shortcut import make_shortcut_multimodal, shortcut_patch_positions

__all__ = [
    "PartialCausalSampler",
    "confounded_ceilings",
    "confounded_interventional_proba",
    "load_multiple_features",
    "make_confounded_digits",
    "make_confounded_multimodal",
    "make_partial_causal",
    "make_shortcut_multimodal",
    "mask_modalities",
    "shortcut_patch_positions",
]
