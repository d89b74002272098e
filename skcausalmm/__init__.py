"""skcausalmm: causal multimodal classifiers that behave like scikit-learn estimators."""

from ._validation import ModalityDict, check_modalities
from .adjustment import FrontDoorAdjustment, PositivityError, front_door_adjustment
from .fusion import LateFusionClassifier
from .transformers import ModalityTransformer

__version__ = "0.1.0.dev0"

__all__ = [
    "FrontDoorAdjustment",
    "LateFusionClassifier",
    "ModalityDict",
    "ModalityTransformer",
    "PositivityError",
    "check_modalities",
    "front_door_adjustment",
    "__version__",
]
