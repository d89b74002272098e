"""Building blocks for a new method: the estimator bases, the skorch nets and the estimator registry.

A method outside the package subclasses :class:`MultimodalClassifierMixin` (or
:class:`MultimodalTransformerMixin`), names its torch network and loss (see
:mod:`skcausalmm.nn.contract`) and registers the class with :func:`register_estimator`; it then
trains, predicts, handles missing modalities (if it declares ``_supports_missing``) and saves
like the package's own estimators. The documentation page "Writing a new method" walks through
an example.
"""

from ._core.base import BaseMultimodalEstimator, MultimodalClassifierMixin, MultimodalTransformerMixin
from ._core.docstrings import fill_shared_docs
from ._core.net import MultimodalNet, RecordingNet
from ._core.registry import all_estimators, estimator_class, estimator_name, package_estimators, register_estimator

__all__ = [
    "BaseMultimodalEstimator",
    "MultimodalClassifierMixin",
    "MultimodalNet",
    "MultimodalTransformerMixin",
    "RecordingNet",
    "all_estimators",
    "estimator_class",
    "estimator_name",
    "fill_shared_docs",
    "package_estimators",
    "register_estimator",
]
