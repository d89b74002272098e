"""The one helper that cuts a dict of arrays or tensors into mini-batches (pure torch).

Used for training batches (:class:`skcausalmm._core.net.TensorBatchIterator`), prediction-time
passes (fixed-size padded batches) and passes over the training data after fit.

Memory-mapped modalities (:class:`MappedRows`) stay on disk: each batch reads its rows
(in ascending order, the fast way for a file) and moves them to the device on its own,
through pinned memory on CUDA. The pages read are handed back to the kernel every few
megabytes, so the process's resident memory does not grow to the size of the file.
"""

import mmap

import numpy as np
import torch

__all__ = ["MappedRows", "gather_rows", "is_mapped", "iter_batches", "release_pages"]

#: Bytes of mapped pages a reader may touch before it hands them back to the kernel.
RELEASE_BYTES = 8 * 2**20

_PAGE = mmap.PAGESIZE

#: What one read fault may map: Linux maps the cached pages around a faulting one
#: ("fault-around", 64 KB by default), so a row read at random counts that much.
_FAULT_AROUND = 64 * 2**10


def _mapping(array):
    """The ``(mmap, np.memmap)`` behind ``array`` (following ``.base``), or ``(None, None)``."""
    obj, memmap = array, None
    for _ in range(64):
        if obj is None:
            break
        if isinstance(obj, mmap.mmap):
            return obj, memmap
        if isinstance(obj, np.memmap):
            memmap = obj
            inner = getattr(obj, "_mmap", None)
            if isinstance(inner, mmap.mmap):
                return inner, memmap
        obj = getattr(obj, "base", None)
    return None, memmap


def is_mapped(array):
    """Whether ``array`` is a numpy array backed by a memory-mapped file (a ``numpy.memmap`` or a view of one)."""
    if not isinstance(array, np.ndarray):
        return False
    found, memmap = _mapping(array)
    return found is not None or memmap is not None


def release_pages(array):
    """Hand the pages of ``array``'s memory map back to the kernel (``MADV_DONTNEED``); the file is unchanged.

    Shared mappings only (``mode`` ``"r"``, ``"r+"``, ``"w+"``): their pages live in the page
    cache, so dropping them from the process loses nothing (a later read faults them back
    in). A copy-on-write map (``mode="c"``) would lose its private changes and is left
    alone, as is anything the platform does not support. Returns whether pages were released.
    """
    found, memmap = _mapping(array)
    if found is None or memmap is None or getattr(memmap, "mode", "c") == "c":
        return False
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or not hasattr(found, "madvise"):
        return False
    try:
        found.madvise(advice)
    except (OSError, ValueError):  # a closed map, an unsupported platform
        return False
    return True


def gather_rows(array, index):
    """Rows ``index`` of a (memory-mapped) numpy array, read in ascending order, returned in ``index``'s order."""
    index = np.asarray(index, dtype=np.int64)
    if index.size > 1 and np.any(index[1:] < index[:-1]):
        ascending = np.argsort(index, kind="stable")
        out = np.empty((index.size,) + tuple(array.shape[1:]), dtype=array.dtype)
        out[ascending] = array[index[ascending]]
        return out
    return np.ascontiguousarray(array[index])


class MappedRows:
    """A memory-mapped modality read batch by batch: indexing returns a float32 CPU tensor of those rows.

    Parameters
    ----------
    array : numpy.memmap or a view of one
        The modality (float32; any strides).
    zero_nan : bool, default=False
        Set NaN to zero in what is read (the rows of a missing modality are all NaN,
        and the network expects them zero-filled).
    release_bytes : int, default=RELEASE_BYTES
        Hand the mapped pages back to the kernel after reading about this many bytes
        of them (see :func:`release_pages`).
    """

    def __init__(self, array, zero_nan=False, release_bytes=RELEASE_BYTES):
        self.array = array
        self.zero_nan = bool(zero_nan)
        self.release_bytes = int(release_bytes)
        self.shape = tuple(array.shape)
        self._row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * array.dtype.itemsize
        self._touched = 0

    dtype = torch.float32
    device = torch.device("cpu")

    def __len__(self):
        return self.shape[0]

    @property
    def ndim(self):
        return len(self.shape)

    def dim(self):
        return len(self.shape)

    def __getitem__(self, index):
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        if isinstance(index, slice):
            block = np.array(self.array[index], dtype=np.float32, order="C")
            touched = block.nbytes + _PAGE
        elif isinstance(index, (int, np.integer)):
            block = np.array(self.array[int(index)], dtype=np.float32, order="C")
            touched = _PAGE
        else:
            index = np.asarray(index)
            if index.dtype == bool:
                index = np.flatnonzero(index)
            block = self._gather(index)
            touched = 0
        self._count(touched)
        tensor = torch.from_numpy(block)
        if self.zero_nan:
            tensor = torch.nan_to_num_(tensor, nan=0.0)
        return tensor

    def _count(self, touched):
        self._touched += touched
        if self._touched >= self.release_bytes:
            release_pages(self.array)
            self._touched = 0

    def _gather(self, index):
        """Rows ``index`` (in that order), read in ascending order in pieces that fit the release budget."""
        index = np.asarray(index, dtype=np.int64)
        per_row = max(self._row_bytes, _FAULT_AROUND)
        step = max(1, self.release_bytes // per_row)
        if index.size <= step:
            self._count(index.size * per_row)
            return gather_rows(self.array, index).astype(np.float32, copy=False)
        ascending = np.argsort(index, kind="stable")
        rows = index[ascending]
        out = np.empty((index.size,) + self.shape[1:], dtype=np.float32)
        for start in range(0, rows.size, step):
            out[ascending[start : start + step]] = self.array[rows[start : start + step]]
            self._count(min(step, rows.size - start) * per_row)
        return out

    def __repr__(self):
        return f"MappedRows(shape={self.shape}, zero_nan={self.zero_nan})"


def _to_device(chunk, device):
    """Move a CPU batch to ``device`` (pinned and asynchronous on CUDA)."""
    device = torch.device(device)
    if chunk.device == device:
        return chunk
    if device.type == "cuda" and chunk.device.type == "cpu":  # pragma: no cover - needs a GPU
        return chunk.pin_memory().to(device, non_blocking=True)
    return chunk.to(device)


def iter_batches(data, batch_size, *, order=None, pad=False, device=None):
    """Yield ``(batch, n_valid)``: consecutive mini-batches of a dict of arrays or tensors.

    Parameters
    ----------
    data : dict of str to ndarray, torch.Tensor or MappedRows
        Arrays sharing their first dimension. Memory-mapped modalities
        (:class:`MappedRows`) are read batch by batch.
    batch_size : int
        Rows per batch.
    order : torch.Tensor of int, default=None
        The rows to take, in order (a permutation for shuffled training, or
        some of the rows); every row, consecutively, when None.
    pad : bool, default=False
        Pad the last batch with zero rows to ``batch_size``. float32 matrix
        products may take another kernel, and so round differently, for
        another number of rows; with every batch the same size a row's result
        does not depend on how many rows are predicted with it. What remains
        is rounding that depends on the row's position within its batch (at
        most about 1e-7 in the class probabilities), which no batching avoids.
    device : str or torch.device, default=None
        Move each batch there (numpy arrays are converted to tensors; on CUDA,
        batches read from a memory map go through pinned memory).

    Yields
    ------
    batch : dict of str to torch.Tensor
    n_valid : int
        Rows of the batch that are data (the rest is padding).
    """
    n = next(iter(data.values())).shape[0] if order is None else int(order.shape[0])
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        index = order[start:stop] if order is not None else slice(start, stop)
        moved = {}  # the index on each tensor's device (a CPU order also indexes memory maps)
        batch = {}
        for key, value in data.items():
            mapped = isinstance(value, MappedRows)
            if not mapped and isinstance(value, torch.Tensor) and isinstance(index, torch.Tensor):
                if index.device != value.device:
                    if value.device not in moved:
                        moved[value.device] = index.to(value.device)
                    chunk = value[moved[value.device]]
                else:
                    chunk = value[index]
            else:
                chunk = value[index]
            if not isinstance(chunk, torch.Tensor):
                chunk = torch.from_numpy(chunk)
            if pad and stop - start < batch_size:
                chunk = torch.cat([chunk, chunk.new_zeros((batch_size - (stop - start),) + tuple(chunk.shape[1:]))])
            if device is not None:
                chunk = _to_device(chunk, device) if mapped else chunk.to(device)
            batch[key] = chunk
        yield batch, stop - start
