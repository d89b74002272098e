"""The skorch side of the package: the net every estimator trains, and a net that logs per-batch values.

* :class:`MultimodalNet` is a skorch ``NeuralNet`` whose module takes and
  returns dicts. It owns the fixed input layer
  (:class:`~skcausalmm.nn.layers.InputStandardizer`, ``standardizer_``)
  that standardises each modality and zeroes missing ones, and hands the
  availability mask to networks that take it.
* A method that changes the optimisation step subclasses :class:`MultimodalNet`
  (or :class:`RecordingNet`, which logs epoch means of per-batch values) in its
  own family folder and overrides ``train_step_single`` or ``train_step``; its
  parameters are constructor arguments of the net.

Nothing here knows about scikit-learn or about any method; the estimator layer is
:mod:`skcausalmm._core.base`.
"""

import math
from functools import partial

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.callbacks import PrintLog as _SkorchPrintLog
from skorch.setter import optimizer_setter

from ..nn.layers import InputStandardizer
from .data import AVAILABILITY_KEY, SAMPLE_WEIGHT_KEY

__all__ = ["MultimodalNet", "RecordingNet", "PrintLog", "assign_gradient"]


class PrintLog(_SkorchPrintLog):
    """skorch's ``PrintLog`` whose default sink (``print``) is not part of its saved state.

    Serialisers that list the types a file holds before loading it (skops) would otherwise
    report ``builtins.print`` as an untrusted type of every model; the sink is written as a
    marker and ``print`` is put back on load. Any other sink is kept as it is.
    """

    _PRINT = "<print>"

    def __getstate__(self):
        state = self.__dict__.copy()
        if state.get("sink") is print:
            state["sink"] = self._PRINT
        return state

    def __setstate__(self, state):
        if state.get("sink") == self._PRINT:
            state = {**state, "sink": print}
        self.__dict__.update(state)


def assign_gradient(param, grad):
    """Set ``param.grad`` to ``grad``, in the parameter's memory layout.

    ``torch.autograd.grad`` may return a gradient in another layout than its parameter's (a
    channels-last convolution weight); ``backward`` copies it into the parameter's layout, and
    the fused optimiser steps read gradient and parameter element by element in one layout. A
    training step that sets gradients itself goes through here.

    Parameters
    ----------
    param : torch.nn.Parameter
    grad : torch.Tensor
        The gradient, of ``param``'s shape.
    """
    if grad.stride() != param.stride():
        grad = torch.empty_like(param).copy_(grad)
    param.grad = grad


def drop_modalities(availability, rate):
    """The availability mask with each present modality of a row dropped with probability ``rate``.

    A row whose every present modality would be dropped keeps its mask unchanged, so every row
    keeps at least one modality (and a row with one modality is never emptied). Draws from
    torch's global generator (seeded per fit by the base).

    Parameters
    ----------
    availability : torch.Tensor of shape (n, n_modalities)
        1 where a modality is present.
    rate : float
        Probability in [0, 1) of dropping each present modality.

    Returns
    -------
    availability : torch.Tensor of shape (n, n_modalities)
    """
    kept = availability * (torch.rand(availability.shape, device=availability.device) >= rate).to(availability.dtype)
    emptied = kept.sum(dim=1, keepdim=True) == 0
    return torch.where(emptied, availability, kept)


class MultimodalNet(NeuralNet):
    """skorch ``NeuralNet`` whose module takes and returns dicts.

    The module gets the whole ``{modality: tensor}`` batch as one argument
    (skorch's default would spread a dict into keyword arguments), after the
    fixed input layer ``standardizer_``; the loss gets the module's output
    dict. Subclasses change the optimisation step by overriding
    :meth:`train_step_single`; they may put per-epoch values into
    ``self.epoch_records_`` to have them logged in ``history``.

    Parameters
    ----------
    *args, **kwargs
        skorch ``NeuralNet`` arguments.
    input_stats : dict of str to (ndarray, ndarray) or None, default=None
        ``(mean, scale)`` of each modality to standardise (see
        :class:`~skcausalmm.nn.layers.InputStandardizer`).
    modality_names : list of str or None, default=None
        The modalities, in the order of the availability mask's columns.
    pass_availability : bool, default=False
        Hand the availability mask to the module (``module(X, availability=mask)``).
    modality_dropout : float, default=0.0
        In training steps (module in training mode, gradients on), each present modality of a
        row is marked missing with this probability, a row keeping at least one
        (:func:`drop_modalities`): the network learns the patterns it will meet at prediction.
        Needs ``pass_availability``; validation and prediction never drop.
    """

    def __init__(
        self, *args, input_stats=None, modality_names=None, pass_availability=False, modality_dropout=0.0, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.input_stats = input_stats
        self.modality_names = modality_names
        self.pass_availability = pass_availability
        self.modality_dropout = modality_dropout

    def get_default_callbacks(self):
        """skorch's default callbacks, with :class:`PrintLog` in place of skorch's."""
        return [
            (name, PrintLog() if isinstance(cb, _SkorchPrintLog) else cb) for name, cb in super().get_default_callbacks()
        ]

    def __getstate__(self):
        """skorch's state without what is rebuilt on load.

        The optimiser's virtual parameters (``functools.partial`` objects of skorch's
        ``optimizer_setter``, which skops would list as untrusted types) and the cache of
        per-batch listeners are dropped; :meth:`__setstate__` registers the setters again.
        """
        state = super().__getstate__()
        state.pop("virtual_params_", None)
        state.pop("_listener_cache", None)
        return state

    def __setstate__(self, state):
        """skorch's ``__setstate__``, then the optimiser setters that ``__getstate__`` left out."""
        had_virtual = "virtual_params_" in state
        super().__setstate__(state)
        if not had_virtual and self.__dict__.get("initialized_", False):
            self._initialize_virtual_params()
            for name in getattr(self, "_optimizers", ()):
                patterns = [name + "__param_groups__*__*", name + "__*"] + (["lr"] if name == "optimizer" else [])
                self._register_virtual_param(patterns, partial(optimizer_setter, optimizer_attr=name + "_",
                                                               optimizer_name=name))

    #: skorch's per-batch notifications: delivered only to the callbacks that define them.
    PER_BATCH_EVENTS = ("on_batch_begin", "on_batch_end", "on_grad_computed")

    def notify(self, method_name, **cb_kwargs):
        """skorch's ``notify``; per-batch events skip the callbacks that do not define them.

        A callback that neither overrides the event's method of skorch's ``Callback`` (in its
        class or on the instance) nor is a ``Callback`` at all would only run the base class's
        empty method, so it is not called. Every other event reaches every callback.
        """
        if method_name not in self.PER_BATCH_EVENTS:
            return super().notify(method_name, **cb_kwargs)
        getattr(self, method_name)(self, **cb_kwargs)
        for cb in self._event_listeners(method_name):
            getattr(cb, method_name)(self, **cb_kwargs)

    def _event_listeners(self, method_name):
        callbacks = self.callbacks_
        key = (id(callbacks), len(callbacks), tuple(id(cb) for _, cb in callbacks))
        cache = self.__dict__.get("_listener_cache")
        if cache is None or cache[0] != key:
            cache = (key, {})
            self.__dict__["_listener_cache"] = cache
        listeners = cache[1].get(method_name)
        if listeners is None:
            empty = getattr(Callback, method_name)
            listeners = [
                cb
                for _, cb in callbacks
                if not isinstance(cb, Callback) or method_name in vars(cb) or getattr(type(cb), method_name) is not empty
            ]
            cache[1][method_name] = listeners
        return listeners

    def _set_training(self, training=True):
        """skorch's, but a module whose every part is already in that mode is left alone (it runs at every batch)."""
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and any(m.training != training for m in module.modules()):
                module.train(training)

    def initialize_module(self):
        """Build the network (skorch's way, from ``module`` and ``module__*``) and the input layer."""
        super().initialize_module()
        self.standardizer_ = InputStandardizer(self.input_stats, names=self.modality_names)
        return self

    def prepare_batch(self, X):
        """Split off the availability mask (and sample weights) and standardise: return ``(modalities, availability)``.

        ``availability`` is the mask for a network that takes one (``pass_availability``),
        else None: this is the one place that decides whether a network sees it.
        """
        X = dict(X)
        availability = X.pop(AVAILABILITY_KEY, None)
        X.pop(SAMPLE_WEIGHT_KEY, None)
        if not self.pass_availability:
            # every row is complete (the estimator refuses missing modalities): nothing to zero or pass on
            availability = None
        elif availability is not None and self.modality_dropout and self.module_.training and torch.is_grad_enabled():
            # before the input layer, so that a dropped modality's input is zeroed like a missing one
            availability = drop_modalities(availability, self.modality_dropout)
        return self.standardizer_(X, availability), availability

    @staticmethod
    def batch_sample_weight(X):
        """The batch's per-sample weights, or None when the fit is unweighted."""
        return X.get(SAMPLE_WEIGHT_KEY) if isinstance(X, dict) else None

    def forward_module(self, X):
        """Run the module on standardised modalities (and the mask, for networks that take it)."""
        X, availability = self.prepare_batch(X)
        if self.pass_availability:
            return self.module_(X, availability=availability)
        return self.module_(X)

    def infer(self, x, **fit_params):
        """Run the module on a dict batch already on the device."""
        return self.forward_module(x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Return the loss module's value for the batch (weighted when ``X`` carries sample weights)."""
        sample_weight = self.batch_sample_weight(X)
        if sample_weight is None:
            return self.criterion_(y_pred, y_true)
        return self.criterion_(y_pred, y_true, sample_weight=sample_weight)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Open the epoch's task for scikit-learn callbacks (when an estimator set ``epoch_listener_``)."""
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        listener = self.__dict__.get("epoch_listener_")
        if listener is not None:
            listener.begin()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Close the epoch's task; a scikit-learn callback asking to stop ends training (as skorch's early stopping does)."""
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        listener = self.__dict__.get("epoch_listener_")
        if listener is not None and listener.end():
            raise KeyboardInterrupt  # skorch's fit loop stops cleanly on it

    def predict_proba(self, X):
        """Softmax of the network's ``"logits"``, over encoded classes (what skorch's scoring callbacks use).

        The estimator's own ``predict_proba`` adds what a method computes after training (e.g. the
        front door's dictionary average); this one serves skorch's ``EpochScoring`` and friends
        during training, whose labels are the encoded classes too.
        """
        probas = []
        for yp in self.forward_iter(X, training=False):
            logits = yp["logits"] if isinstance(yp, dict) else yp
            probas.append(torch.softmax(logits.detach(), dim=1).float().cpu().numpy())
        return np.concatenate(probas, 0)

    def predict(self, X):
        """Encoded class of the largest probability (see :meth:`predict_proba`)."""
        return self.predict_proba(X).argmax(axis=1)


class _EpochMeans:
    """Accumulate per-batch scalars and hand back their epoch means."""

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, key, value):
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.counts[key] = self.counts.get(key, 0) + 1

    def means(self):
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


class RecordingNet(MultimodalNet):
    """A ``MultimodalNet`` that logs epoch means of per-batch values in ``history``."""

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self._batch_values = _EpochMeans()
        self.epoch_records_ = {}
        n = len(dataset_train) if dataset_train is not None else 0
        self._n_batches = max(1, math.ceil(n / self.batch_size)) if n else 1
        self._batch_index = 0

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        values = getattr(self, "_batch_values", None)
        self.epoch_records_ = values.means() if values is not None else {}

    def _record(self, key, value):
        if getattr(self, "_batch_values", None) is None:
            self._batch_values = _EpochMeans()
        self._batch_values.add(key, value)

    def _current_epoch(self):
        """0-based index of the epoch being trained."""
        return max(len(self.history) - 1, 0)
