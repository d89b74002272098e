"""Save and load fitted estimators without pickle: parameters as JSON, weights as safetensors.

:func:`save` and :func:`load` are documented in :mod:`skcausalmm.io.model_file`; the file's
layout, JSON and tensors are :mod:`~skcausalmm.io.archive`, :mod:`~skcausalmm.io.codec` and
:mod:`~skcausalmm.io.state`. Nothing here knows any estimator by name: an estimator says which
torch modules its fitted attributes may hold (``_fitted_module_classes``) and rebuilds private
state from its fitted attributes (``_restore_fitted_state``).
"""

from .model_file import FORMAT_NAME, FORMAT_VERSION, SUPPORTED_FORMAT_VERSIONS, load, save

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SUPPORTED_FORMAT_VERSIONS", "load", "save"]
