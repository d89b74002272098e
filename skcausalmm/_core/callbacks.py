"""Callbacks: the skorch ones every estimator's net carries, and the adapter to scikit-learn's.

* :class:`TrainingProgress` and :class:`EpochMetrics` are skorch callbacks (training progress
  for ramps; per-epoch accuracy and loss terms in ``history``);
* :class:`EpochTasks` makes each epoch a subtask of the fit for scikit-learn's callbacks
  (``sklearn.callback``, 1.9+).
"""

from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch.nn.parallel import DistributedDataParallel

__all__ = ["EpochMetrics", "EpochTasks", "TrainingProgress", "fitted_attributes"]


class TrainingProgress(Callback):
    """Set ``progress = epoch / max_epochs`` on the network and the loss."""

    def on_epoch_begin(self, net, **kwargs):
        progress = (len(net.history) - 1) / max(net.max_epochs, 1)
        for obj in (net.module_, net.criterion_):
            obj = unwrapped(obj)  # the network inside a data-parallel wrapper
            if hasattr(obj, "progress"):
                obj.progress = float(progress)


class EpochMetrics(Callback):
    """Record accuracy and the loss's named terms per epoch, from the batches' outputs."""

    def on_epoch_begin(self, net, **kwargs):
        self._correct = {"train": 0, "valid": 0}
        self._count = {"train": 0, "valid": 0}
        self._terms = {}

    def on_batch_end(self, net, batch, training, y_pred=None, **kwargs):
        prefix = "train" if training else "valid"
        _, yi = unpack_data(batch)
        if isinstance(y_pred, dict) and "logits" in y_pred and yi is not None:
            self._correct[prefix] += int((y_pred["logits"].argmax(1) == yi).sum())
            self._count[prefix] += int(yi.shape[0])
        terms = getattr(net.criterion_, "last_terms_", None)
        if training and terms:
            n = int(yi.shape[0]) if yi is not None else 1
            for key, value in terms.items():
                total, count = self._terms.get(key, (0.0, 0))
                self._terms[key] = (total + float(value) * n, count + n)

    def on_epoch_end(self, net, **kwargs):
        share = getattr(net, "sum_over_processes", None)  # data-parallel: each process saw its share of the batches
        if share is not None:
            names = sorted(self._terms)
            totals = share([self._correct["train"], self._count["train"], *(v for k in names for v in self._terms[k])])
            self._correct["train"], self._count["train"] = totals[0], totals[1]
            self._terms = {k: (totals[2 + 2 * i], totals[3 + 2 * i]) for i, k in enumerate(names)}
        for prefix in ("train", "valid"):
            if self._count[prefix]:
                net.history.record(f"{prefix}_acc", self._correct[prefix] / self._count[prefix])
        for key, (total, count) in self._terms.items():
            net.history.record(key, total / count)
        for extra in getattr(net, "epoch_records_", {}).items():
            net.history.record(*extra)


class EpochTasks:
    """Epochs as the subtasks of a fit, for scikit-learn's callbacks (``sklearn.callback``, 1.9+).

    The net calls :meth:`begin` and :meth:`end` around every epoch; ``end`` returns True
    when a callback asks to stop.
    """

    def __init__(self, estimator, context, X, y, metadata):
        self.estimator, self.context = estimator, context
        self.kwargs = {"X": X, "y": y, "metadata": metadata}
        self.task = None

    def begin(self):
        self.task = self.context.subcontext(task_name="epoch")
        self.task.call_on_fit_task_begin(estimator=self.estimator, **self.kwargs)

    def end(self):
        # a ready-to-predict copy (built only if a callback asks for it) where the network
        # alone predicts; methods that build something after training (a dictionary, an
        # ICA) have no such copy mid-training
        attributes = (lambda: fitted_attributes(self.estimator)) if self.estimator._predicts_during_training else None
        return bool(
            self.task.call_on_fit_task_end(
                estimator=self.estimator, **self.kwargs, reconstruction_attributes=attributes
            )
        )


def unwrapped(module):
    """The network inside a ``DistributedDataParallel`` wrapper (data-parallel training); anything else as it is."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def fitted_attributes(estimator):
    return {k: v for k, v in vars(estimator).items() if k.endswith("_") and not k.startswith("_")}
