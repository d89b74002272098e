"""The shared base: the estimator base classes, the skorch net, the data and batching, validation.

Nothing here knows a method by name; a method plugs in through the hooks of
:class:`~skcausalmm._core.base.BaseMultimodalEstimator` (see :mod:`skcausalmm.base`).
"""
