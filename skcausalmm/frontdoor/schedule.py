"""The decorrelation weight's schedule: raised while the mediator measurably depends on the auxiliary input.

:class:`DecorrelationSchedule` is a skorch callback of the front-door net with the
decorrelation objective. Once the weight's ramp is halfway up, every training batch also
measures the penalty's *excess*: its value minus its value with the auxiliary rows paired with
other rows of the batch (:func:`~skcausalmm.frontdoor.losses._decorrelation_excess`), which is
0 on average when the mediator is independent of the auxiliary input. The excesses of the
batches since the last change are pooled; at the end of an epoch, when their mean is positive
and above ``z`` standard errors, the weight is multiplied by ``factor`` (up to
``max_weight``) and the pool starts afresh. Where the penalty holds at the starting weight,
nothing changes.
"""

from __future__ import annotations

import math

from skorch.callbacks import Callback

from .._core.callbacks import unwrapped

__all__ = ["DecorrelationSchedule"]


class DecorrelationSchedule(Callback):
    """Raise the decorrelation weight while the training batches show the mediator depending on the auxiliary input.

    Parameters
    ----------
    factor : float, default=2.0
        What the weight is multiplied by at each raise.
    max_weight : float or None, default=None
        The weight is never raised above it (None: no bound).
    z : float, default=1.0
        A raise needs the pooled mean excess above ``z`` standard errors.
    start : float, default=0.5
        The batches are pooled from this fraction of the weight's ramp on (before, the
        ramp holds the weight low on purpose).

    Notes
    -----
    The weight is the network's ``adversary_weight``; a warm start continues from the weight
    reached. ``history`` gets ``decor_weight`` (the weight after the ramp used in the epoch)
    every epoch. In data-parallel training the pooled statistics are summed over the
    processes, so every process takes the same decision.
    """

    def __init__(self, factor=2.0, max_weight=None, z=1.0, start=0.5):
        self.factor = factor
        self.max_weight = max_weight
        self.z = z
        self.start = start

    def initialize(self):
        self._pool = [0.0, 0.0, 0.0]  # count, sum, sum of squares
        self._active = False
        return self

    def on_epoch_begin(self, net, **kwargs):
        module = unwrapped(net.module_)
        self._active = module.adversary_ramp <= 0 or module.progress >= self.start * module.adversary_ramp
        unwrapped(net.criterion_).measure_excess = self._active

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not (training and self._active):
            return
        excess = net.criterion_.last_terms_.get("decor_excess")
        if excess is not None:
            self._pool = [self._pool[0] + 1.0, self._pool[1] + excess, self._pool[2] + excess * excess]

    def on_epoch_end(self, net, **kwargs):
        module = unwrapped(net.module_)
        net.history.record("decor_weight", float(module.adversary_weight))
        if not self._active:
            return
        share = getattr(net, "sum_over_processes", None)  # data-parallel: pool every process's batches
        count, total, squares = share(self._pool) if share is not None else self._pool
        if count < 2:
            return
        mean = total / count
        variance = max(squares - count * mean * mean, 0.0) / (count - 1)
        if mean > 0 and mean > self.z * math.sqrt(variance / count):
            raised = module.adversary_weight * self.factor
            module.adversary_weight = raised if self.max_weight is None else min(raised, float(self.max_weight))
            self._pool = [0.0, 0.0, 0.0]
