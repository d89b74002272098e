"""Data-parallel training through Hugging Face Accelerate (``set_config(distributed="accelerate")``).

Launched with ``torchrun --nproc_per_node N script.py`` or ``accelerate launch script.py``,
every process runs the same script: it calls ``fit`` with the same full data, so that every
process computes the same input standardisation, validation split and post-fit state
(a method's ``_after_fit``) from the same seed. Only the mini-batch training is shared:

* the base builds the estimator's skorch net as usual (the one the fitted estimator keeps),
  then a data-parallel twin of it (:func:`data_parallel_net`): the same net class with
  skorch's :class:`~skorch.hf.AccelerateMixin` and :class:`DataParallelMixin`, holding the
  same settings and a copy of the network's state;
* the twin's training iterator gives each process its share of every mini-batch
  (:class:`~skcausalmm._core.data.TensorBatchIterator` with ``rank`` and ``world_size``);
  each process's loss is scaled by its share of the batch's rows, so that the gradients
  Accelerate averages are those of the whole batch's mean loss;
* the training loss and the training accuracy in ``history`` are summed over the
  processes, and every process evaluates the whole validation split, so that ``history``
  and early stopping agree on every process;
* after training the network's, the loss's and the optimiser's state go back into the
  plain net (:func:`copy_training_state`): the fitted estimator holds no Accelerate
  object, pickles, saves with :func:`skcausalmm.save` and loads in a single process.

Nothing here knows about any method. A net that changes the training step (overrides
``train_step``, ``train_step_single`` or ``_step_optimizer``) manipulates its gradients per
process, which nothing synchronises: it is refused unless its class sets
``supports_data_parallel = True``.
"""

import numbers
import os
import warnings

import numpy as np
import torch

from .callbacks import unwrapped
from .config import get_config
from .net import MultimodalNet, RecordingNet

__all__ = [
    "DataParallelMixin",
    "copy_training_state",
    "data_parallel_accelerator",
    "data_parallel_device",
    "data_fingerprint",
    "data_parallel_net",
    "launched_processes",
    "shared_seed",
]

#: The methods of a skorch net that make its training step.
TRAIN_STEP_METHODS = ("train_step", "train_step_single", "_step_optimizer")


def launched_processes():
    """Processes of this run, from the launchers' environment (``WORLD_SIZE``; 1 without a launcher)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def _own_train_step(net_class):
    """``(class name, method)`` of the first class of ``net_class`` that defines its own training step, or None."""
    for klass in net_class.__mro__:
        if klass in (MultimodalNet, RecordingNet) or klass.__module__.startswith("skorch."):
            return None
        for method in TRAIN_STEP_METHODS:
            if method in vars(klass):
                return klass.__name__, method
    return None


def data_parallel_accelerator(estimator, optimizer):
    """The ``accelerate.Accelerator`` a fit of ``estimator`` trains with, or None (the setting is off).

    Raises a clear error when data-parallel training is asked for but cannot work: Accelerate
    is not installed, the estimator's net has its own training step, or the optimiser needs a
    closure.
    """
    name = type(estimator).__name__
    if get_config()["distributed"] != "accelerate":
        if launched_processes() > 1:
            warnings.warn(
                f"{name}.fit runs in one of {launched_processes()} launched processes (WORLD_SIZE) but "
                "skcausalmm's distributed setting is off: every process trains its own copy of the model. "
                "skcausalmm.set_config(distributed='accelerate') trains one model across them.",
                UserWarning,
                stacklevel=4,
            )
        return None
    step = _own_train_step(estimator._net_class)
    if step is not None and not getattr(estimator._net_class, "supports_data_parallel", False):
        raise ValueError(
            f"{name} cannot train data-parallel (set_config(distributed='accelerate')): its net {step[0]} has "
            f"its own training step ({step[1]}), which changes each process's gradients after the backward "
            "pass (or takes them outside it), and nothing synchronises those changes across processes, so the "
            f"processes' networks would drift apart. Fit {name} in one process (set_config(distributed=False))."
        )
    if issubclass(optimizer, torch.optim.LBFGS):
        raise ValueError(
            f"{name}: optimizer={optimizer.__name__} re-evaluates the loss through a closure, which data-parallel "
            "training through Accelerate does not support; use 'adam', 'adamw', 'sgd' or another first-order "
            "optimiser, or set_config(distributed=False)."
        )
    try:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs
    except ImportError:
        raise RuntimeError(
            f"{name}: set_config(distributed='accelerate') trains through Hugging Face Accelerate, which is not "
            f"installed{f' (this is one of {launched_processes()} launched processes)' if launched_processes() > 1 else ''}. "
            "Install it with `pip install skcausalmm[accelerate]` (or `pip install accelerate`), or set "
            "skcausalmm.set_config(distributed=False)."
        ) from None
    if estimator.device not in ("auto", "cpu"):
        raise ValueError(
            f"{name}(device={estimator.device!r}): in data-parallel training each process trains on the device "
            "Accelerate gives it (its own GPU); use device='auto' (that device) or 'cpu'."
        )
    # a method's network may leave some parameters out of a step (the front door's warm-up epochs)
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    return Accelerator(cpu=estimator.device == "cpu", device_placement=False, kwargs_handlers=[ddp])


def data_parallel_device(accelerator):
    """The device this process trains on: Accelerate's (its own GPU under a launcher, else the CPU)."""
    return str(accelerator.device)


def shared_seed(accelerator, estimator, seed, rng, fingerprint):
    """``(seed, rng)`` of the fit, the same in every process; every process must have the same data.

    ``seed`` is this process's draw from ``rng`` (``check_random_state(random_state)``). An
    integer ``random_state`` gives the same draws everywhere; anything else (None, a
    ``RandomState``) may not, so the first process's seed is taken and seeds the rest of the
    fit's draws. ``fingerprint`` (:func:`data_fingerprint`) summarises this process's training
    data; all must agree, since every process standardises, splits and post-processes its copy.
    """
    if accelerator.num_processes == 1:
        return seed, rng
    from accelerate.utils import gather_object

    gathered = gather_object([(int(seed), fingerprint)])
    if any(other[1] != gathered[0][1] for other in gathered):
        raise ValueError(
            f"{type(estimator).__name__}.fit in data-parallel training: the {accelerator.num_processes} processes "
            "were given different training data (rows, shapes or values differ); every process must call fit "
            "with the same full data, in the same order (each then trains on its share of every mini-batch)."
        )
    if isinstance(estimator.random_state, numbers.Integral):
        return seed, rng
    return gathered[0][0], np.random.RandomState(gathered[0][0])


def data_fingerprint(data, y, sample_weight):
    """A small summary of the training data that two processes given the same data agree on."""
    parts = [tuple((k, tuple(np.shape(v))) for k, v in data.items())]
    for value in (*data.values(), y, sample_weight):
        if value is not None and not hasattr(value, "filename"):  # a memory map is not read for this
            parts.append(float(np.nansum(value, dtype=np.float64)))
    return tuple(parts)


_CLASSES = {}


def data_parallel_class(net_class):
    """``net_class`` with :class:`DataParallelMixin` and skorch's ``AccelerateMixin`` (one class per net class)."""
    klass = _CLASSES.get(net_class)
    if klass is None:
        from skorch.hf import AccelerateMixin

        klass = type(f"DataParallel{net_class.__name__}", (DataParallelMixin, AccelerateMixin, net_class), {})
        klass.__module__ = __name__
        _CLASSES[net_class] = klass
    return klass


def data_parallel_net(net, accelerator):
    """A data-parallel twin of the initialised ``net``: its settings, callbacks and state, prepared by Accelerate."""
    params = {k: v for k, v in net.get_params(deep=False).items() if not k.startswith("_")}
    params.update(
        accelerator=accelerator,
        device=None if accelerator.device_placement else net.device,
        unwrap_after_train=False,  # copy_training_state unwraps; early stopping restores wrapped weights first
        # the epoch table from the first process only; Accelerate's print would print it even with verbose=0
        callbacks__print_log__sink=accelerator.print if net.verbose else print,
        iterator_train__rank=accelerator.process_index,
        iterator_train__world_size=accelerator.num_processes,
    )
    twin = data_parallel_class(type(net))(**params)
    twin.initialize()  # draws initial weights: the caller isolates torch's RNG
    _load_state(net, twin)
    for name in _optimizer_names(net):
        getattr(twin, name + "_").load_state_dict(getattr(net, name + "_").state_dict())
    twin.history_ = net.history_
    twin.plain_net_ = net
    return twin


def _optimizer_names(net):
    return [name for name in getattr(net, "_optimizers", None) or ["optimizer"] if hasattr(net, name + "_")]


def _load_state(source, target):
    for name in (*source._modules, *source._criteria):
        part = getattr(source, name + "_", None)
        if isinstance(part, torch.nn.Module):
            unwrapped(getattr(target, name + "_")).load_state_dict(unwrapped(part).state_dict())


def copy_training_state(twin, net):
    """Copy the trained state of the data-parallel ``twin`` into the plain ``net`` (network, loss, optimisers)."""
    _load_state(twin, net)
    for name in _optimizer_names(net):
        getattr(net, name + "_").load_state_dict(getattr(twin, name + "_").state_dict())
    net.history_ = twin.history_


class DataParallelMixin:
    """The data-parallel side of a net that also has skorch's ``AccelerateMixin`` (see the module docstring)."""

    def _initialize_accelerator(self):
        """Accelerate prepares the optimisers and the parts with trainable parameters only.

        ``DistributedDataParallel`` refuses a module without a parameter that requires a
        gradient (a parameter-free loss); such a part stays as it is, on the net's device.
        """
        if self._wrapped_with_accelerator:
            return self

        def trainable(name):
            part = getattr(self, name + "_", None)
            return not isinstance(part, torch.nn.Module) or any(p.requires_grad for p in part.parameters())

        modules, criteria = self._modules, self._criteria
        self._modules = [name for name in modules if trainable(name)]
        self._criteria = [name for name in criteria if trainable(name)]
        try:
            return super()._initialize_accelerator()
        finally:
            self._modules, self._criteria = modules, criteria

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; the training one is kept to read this process's share of each batch."""
        iterator = super().get_iterator(dataset, training=training)
        if training:
            self.batch_shares_ = iterator
        return iterator

    def _share(self):
        """This process's rows over the batch's, times the number of processes (1 outside training)."""
        shares = getattr(getattr(self, "batch_shares_", None), "shares", None)
        if not shares:
            return 1.0
        return shares[0] * self.accelerator.num_processes / shares[1]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The net's loss; in training scaled by this process's share, so that averaged gradients are the batch's."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        return loss * self._share() if training else loss

    def train_step(self, batch, **fit_params):
        """The training step; its loss is then the whole batch's (summed over processes), for ``history``."""
        step = super().train_step(batch, **fit_params)
        loss = step["loss"].detach().reshape(1).float()
        step["loss"] = self.accelerator.reduce(loss, reduction="sum")[0] / self.accelerator.num_processes
        return step

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        """Record the whole batch's size (the losses are the whole batch's)."""
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        shares = getattr(getattr(self, "batch_shares_", None), "shares", None)
        if training and shares:
            self.history.record_batch("train_batch_size", shares[1])

    def sum_over_processes(self, values):
        """The element-wise sum of ``values`` (a list of numbers) over the processes."""
        total = self.accelerator.reduce(torch.tensor(values, dtype=torch.float64, device=self.accelerator.device))
        return total.tolist()

    def evaluation_step(self, batch, training=False):
        """The net's own: every process evaluates whole data sets, so nothing is gathered from the others."""
        from skorch.hf import AccelerateMixin

        return super(AccelerateMixin, self).evaluation_step(batch, training=training)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Before scikit-learn's callbacks see the estimator at the end of an epoch, give its net this state."""
        if self.__dict__.get("epoch_listener_") is not None and "plain_net_" in self.__dict__:
            copy_training_state(self, self.plain_net_)
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
