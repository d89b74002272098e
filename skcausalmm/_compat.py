"""The one place where scikit-learn's private helpers are imported.

``sklearn.utils._param_validation`` (parameter constraints),
``sklearn.base._fit_context``, ``sklearn.utils._safe_indexing`` and
``sklearn.utils._openmp_helpers`` are private to scikit-learn, but they are what
its own estimators use and what ``_parameter_constraints`` means. They are
imported here only, so that a change in scikit-learn is fixed in one file;
pyproject pins the scikit-learn range this package is tested with.
"""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval as _Interval
from sklearn.utils._param_validation import StrOptions, validate_params


class Interval(_Interval):
    """scikit-learn's ``Interval`` constraint, refusing booleans.

    ``True`` is an ``Integral`` (and a ``Real``) in Python, so scikit-learn's
    constraint accepts ``hidden_size=True`` as 1; a boolean given for a number
    is a mistake, and a parameter that takes booleans says so with the
    ``"boolean"`` constraint.
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

try:  # the thread count scikit-learn's OpenMP code uses (a fitted KMeans rebuilt from a model file needs it)
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
except ImportError:  # pragma: no cover - a private helper of scikit-learn

    def _openmp_effective_n_threads():
        return 1

try:  # scikit-learn >= 1.9: the callback API (sklearn.callback)
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - older scikit-learn has no callbacks to support

    class CallbackSupportMixin:
        """Stand-in for scikit-learn < 1.9, which has no ``sklearn.callback``."""


__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "StrOptions",
    "_fit_context",
    "_openmp_effective_n_threads",
    "_safe_indexing",
    "validate_params",
]
