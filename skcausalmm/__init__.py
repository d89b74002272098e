"""skcausalmm: causal multimodal classifiers that behave like scikit-learn estimators."""

from ._core.config import config_context, get_config, set_config
from ._core.validation import ModalityDict, check_modalities
from .adjustment import FrontDoorAdjustment, PositivityError, front_door_adjustment
from .contrastive import ContrastiveICA
from .debiasing import CausalInfoMinClassifier
from .frontdoor import FrontDoorMultimodalClassifier
from .fusion import LateFusionClassifier
from .imbalance import MLAClassifier, MMParetoClassifier, OGMGEClassifier
from .io import load, save
from .missing import RedCoreClassifier
from .transformers import ModalityTransformer

__version__ = "0.1.0.dev0"

__all__ = [
    "CausalInfoMinClassifier",
    "ContrastiveICA",
    "FrontDoorAdjustment",
    "FrontDoorMultimodalClassifier",
    "LateFusionClassifier",
    "MLAClassifier",
    "MMParetoClassifier",
    "ModalityDict",
    "ModalityTransformer",
    "OGMGEClassifier",
    "PositivityError",
    "RedCoreClassifier",
    "check_modalities",
    "config_context",
    "front_door_adjustment",
    "get_config",
    "load",
    "save",
    "set_config",
    "__version__",
]
