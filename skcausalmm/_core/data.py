"""The training data as tensors, the iterator that cuts them into mini-batches, and the inputs after fit.

:class:`TensorDictDataset` holds whole tensors (one per modality, plus the availability
mask and sample weights under reserved keys); :class:`TensorBatchIterator` slices them with
one permutation per epoch instead of collating sample by sample; :func:`host_tensors` turns
validated arrays into tensors without copies; :class:`StandardizedInputs` hands the
standardised training modalities to a method's post-fit hook, each computed on first use.
"""

import numpy as np
import torch

from .batching import MappedRows, is_mapped, iter_batches

__all__ = [
    "AVAILABILITY_KEY",
    "StandardizedInputs",
    "PREDICT_BATCH_SIZE",
    "SAMPLE_WEIGHT_KEY",
    "TensorBatchIterator",
    "TensorDictDataset",
    "host_tensors",
]

#: Key under which the availability mask travels with a batch's modality tensors.
AVAILABILITY_KEY = "__availability__"

#: Key under which per-sample weights travel with a batch (taken off before the network sees it).
SAMPLE_WEIGHT_KEY = "__sample_weight__"

#: Rows per batch for prediction-time passes.
PREDICT_BATCH_SIZE = 256

class TensorDictDataset(torch.utils.data.Dataset):
    """Whole-tensor dataset: ``X`` a dict of tensors, ``y`` a tensor (or None).

    Parameters
    ----------
    X : dict of str to torch.Tensor or MappedRows
        One tensor per modality (and the availability mask under
        :data:`AVAILABILITY_KEY`), already on the training device; a
        memory-mapped modality is a :class:`~skcausalmm._core.batching.MappedRows`,
        read batch by batch.
    y : torch.Tensor or None
        Encoded labels, on the same device.
    rows : torch.Tensor of int, default=None
        The rows of ``X`` and ``y`` that make the dataset (e.g. the training side
        of a validation split), so that a split does not copy the data; all rows
        when None. The batch iterators index the whole tensors with them; the
        attributes ``X`` and ``y`` then give the selected rows (a copy, made when
        read).
    device : str or torch.device, default=None
        Where the batches of memory-mapped modalities go (the training device).
    """

    def __init__(self, X, y=None, rows=None, device=None):
        self.rows = rows
        self.device = device
        self.X = X
        self.y = y

    def _take(self, value):
        if self.rows is None or value is None:
            return value
        rows = self.rows
        if isinstance(value, torch.Tensor) and rows.device != value.device:
            rows = rows.to(value.device)
        return value[rows]

    @property
    def X(self):
        """The modalities (the selected rows when ``rows`` is set)."""
        if self.rows is None:
            return self.all_X
        return {k: self._take(v) for k, v in self.all_X.items()}

    @X.setter
    def X(self, value):
        self.all_X = value

    @property
    def y(self):
        """The labels (the selected rows when ``rows`` is set)."""
        return self._take(self.all_y)

    @y.setter
    def y(self, value):
        self.all_y = value

    def __len__(self):
        if self.rows is not None:
            return int(self.rows.shape[0])
        return next(iter(self.all_X.values())).shape[0]

    def __getitem__(self, i):
        if self.rows is not None:
            i = self.rows[i]
            i = int(i) if i.ndim == 0 else i
        xi = {k: v[i] for k, v in self.all_X.items()}
        return xi, (self.all_y[i] if self.all_y is not None else torch.zeros(()))


class TensorBatchIterator:
    """Mini-batches taken by indexing whole tensors (no per-sample collation).

    skorch's default ``DataLoader`` fetches and collates one sample at a
    time, which dominates the cost of small multimodal networks. This
    iterator draws one permutation per epoch and slices every tensor with it.

    A dataset with memory-mapped modalities (:class:`~skcausalmm._core.batching.MappedRows`)
    is streamed instead: each batch reads its rows from the map and moves them to the
    dataset's ``device`` (the same rows, in the same order, as from tensors in memory).

    Parameters
    ----------
    dataset : TensorDictDataset
        The data, already on the device (but for memory-mapped modalities).
    batch_size : int, default=128
        Samples per batch.
    shuffle : bool, default=False
        Draw a new permutation each epoch.
    seed : int or None, default=None
        Seed of the permutation generator.
    rank, world_size : int, default=0 and 1
        Data-parallel training (:mod:`skcausalmm._core.distributed`): the batches are those of
        one process, ``rank``, out of ``world_size``, which all draw the same permutation; each
        yields its share of every batch of ``batch_size`` rows (consecutive parts whose sizes
        differ by at most one). A process whose share of a batch is empty gets the batch's
        first row, with a share of 0. ``shares`` then holds ``(rows of this process, rows of
        the whole batch)`` of the batch last yielded.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, seed=None, rank=0, world_size=1):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shares = None
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(int(seed))

    def __len__(self):
        n = len(self.dataset)
        return (n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        data, order, target = self._plan()
        if self.world_size > 1:
            yield from self._shared(data, order, target)
            return
        for batch, _ in iter_batches(data, self.batch_size, order=order, device=target):
            yield batch, batch.pop("__y__", None)

    def _shared(self, data, order, target):
        """This process's share of every batch (see ``rank``)."""
        n = len(self.dataset)
        if order is None:
            order = torch.arange(n, device=next(iter(data.values())).device if target is None else "cpu")
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            share = torch.tensor_split(rows, self.world_size)[self.rank]
            self.shares = (int(share.shape[0]), int(rows.shape[0]))
            if share.shape[0] == 0:
                share = rows[:1]
            for batch, _ in iter_batches(data, int(share.shape[0]), order=share, device=target):
                yield batch, batch.pop("__y__", None)

    def _plan(self):
        """``(data, order, target)``: the tensors (labels under ``"__y__"``), this epoch's row order, the batches' device."""
        rows = getattr(self.dataset, "rows", None)
        if rows is not None:  # the whole tensors, indexed by the dataset's rows
            X, y = self.dataset.all_X, self.dataset.all_y
        else:
            X, y = self.dataset.X, self.dataset.y
        data = dict(X) if y is None else {**X, "__y__": y}
        streamed = any(isinstance(v, MappedRows) for v in X.values())
        order = None
        if self.shuffle:
            order = torch.randperm(len(self.dataset), generator=self.generator)
            if rows is not None:
                order = rows.cpu()[order]
        elif rows is not None:
            order = rows.cpu()
        target = None
        if streamed:  # the order stays on the CPU (it reads the maps); the batches go to the device
            target = getattr(self.dataset, "device", None)
        elif order is not None:
            order = order.to(next(iter(X.values())).device)
        return data, order, target


def host_tensors(data, availability, names):
    """CPU tensors sharing the arrays' memory; a memory-mapped modality becomes :class:`MappedRows`.

    The availability mask goes along under :data:`AVAILABILITY_KEY` where some row misses a
    modality; complete data carry none (a network given no mask treats every row as complete).
    """
    out = {}
    for key, value in data.items():
        if is_mapped(value):
            j = names.index(key) if key in names else None
            out[key] = MappedRows(value, zero_nan=j is not None and not availability[:, j].all())
        else:
            out[key] = torch.from_numpy(value)
    if not availability.all():
        out[AVAILABILITY_KEY] = torch.from_numpy(availability.astype(np.float32))
    return out


class _StandardizedRows:
    """A memory-mapped modality, standardised batch by batch when it is indexed (for passes after fit)."""

    def __init__(self, net, name, rows, availability):
        self.net, self.name, self.rows, self.availability = net, name, rows, availability
        self.shape = rows.shape
        self.dtype = torch.float32
        self.device = torch.device(net.device)

    def __len__(self):
        return self.shape[0]

    def dim(self):
        return len(self.shape)

    @property
    def ndim(self):
        return len(self.shape)

    def __getitem__(self, index):
        x = self.rows[index].to(self.device)
        mask = None
        if self.availability is not None:
            mask = self.availability[index.to(self.availability.device) if isinstance(index, torch.Tensor) else index]
            if isinstance(index, (int, np.integer)):
                x, mask = x[None], mask[None]
        out = self.net.standardizer_.standardize(self.name, x, mask)
        return out[0] if isinstance(index, (int, np.integer)) else out


class StandardizedInputs(dict):
    """The standardised training modalities handed to ``_after_fit``, each computed on first access.

    A dict (with the availability mask under ``AVAILABILITY_KEY`` where the network takes
    it), so that hooks use it as the whole-tensor dict they expect; an estimator whose
    ``_after_fit`` reads no modality costs nothing, and a memory-mapped modality is
    standardised batch by batch as it is indexed (:class:`_StandardizedRows`).
    """

    def __init__(self, net, tensors):
        availability = tensors.get(AVAILABILITY_KEY) if net.pass_availability else None
        super().__init__((k, None) for k in tensors if k not in (AVAILABILITY_KEY, SAMPLE_WEIGHT_KEY))
        if availability is not None:
            dict.__setitem__(self, AVAILABILITY_KEY, availability)
        self._net, self._tensors, self._availability = net, tensors, availability

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if value is None:
            x = self._tensors[key]
            if isinstance(x, MappedRows):
                value = _StandardizedRows(self._net, key, x, self._availability)
            else:
                value = self._net.standardizer_.standardize(key, x, self._availability)
            dict.__setitem__(self, key, value)
        return value

    def __iter__(self):  # also makes dict(x) and {**x} go through __getitem__
        return iter(list(dict.keys(self)))

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        return [(k, self[k]) for k in dict.keys(self)]

    def values(self):
        return [self[k] for k in dict.keys(self)]

    def copy(self):
        return dict(self.items())
