"""The statistics of the fixed input layer: each modality's mean and scale on the training rows.

:func:`standardization_stats` computes them (float64 accumulation, chunk by chunk, memory
maps streamed); :class:`~skcausalmm.nn.layers.InputStandardizer` applies them inside the
skorch net (:class:`~skcausalmm._core.net.MultimodalNet`).
"""

import numpy as np

from .batching import is_mapped, release_pages

__all__ = ["standardization_stats"]


def _reduction_axes(sample_shape, kind):
    """Axes of a batch ``(n, *sample_shape)`` over which one mean and scale are taken."""
    ndim = len(sample_shape) + 1
    if ndim == 2 or kind == "rnn":  # a table per column; a sequence per feature
        return tuple(range(ndim - 1))
    if ndim == 4:  # (n, C, H, W): per channel
        return (0, 2, 3)
    return tuple(range(ndim))  # (n, H, W): one channel


def standardization_stats(array, present=None, kind=None, chunk_size=65536, sample_weight=None):
    """Mean and scale of a modality over its present rows (float64 accumulation, in chunks).

    Parameters
    ----------
    array : ndarray of shape (n_samples, *sample_shape)
        The modality (missing rows may hold anything; they are skipped). A
        memory-mapped array is read chunk by chunk, and the pages read are
        handed back to the kernel as it goes.
    present : ndarray of bool of shape (n_samples,), default=None
        Rows where the modality is present (all when None).
    kind : str, default=None
        The modality's encoder kind; ``"rnn"`` standardises each feature of
        a sequence ``(n, T, D)``, otherwise a 3-D array is one image channel.
    chunk_size : int, default=65536
        Most rows read at a time (fewer for wide rows: a chunk holds at most
        about 2 MB as float64).
    sample_weight : ndarray of shape (n_samples,), default=None
        Per-row weights of the mean and variance (rows count once when None);
        with integer weights the statistics of the data with rows repeated.

    Returns
    -------
    mean, scale : ndarray of float32
        Broadcastable against one sample (shape ``sample_shape`` with the
        reduced axes of size 1); ``scale`` is 1 where the spread is zero.
    """
    axes = _reduction_axes(array.shape[1:], kind if isinstance(kind, str) else None)
    width = int(np.prod(array.shape[1:], dtype=np.int64))
    chunk_size = max(1, min(int(chunk_size), _STATS_CHUNK_BYTES // (8 * max(width, 1))))
    every = present is None or bool(np.all(present))
    rows = None if every else np.flatnonzero(present)
    n_rows = array.shape[0] if every else rows.shape[0]
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mapped = is_mapped(array)
    total = total_sq = None
    count = 0.0
    for start in range(0, n_rows, chunk_size):
        index = slice(start, min(start + chunk_size, n_rows)) if every else rows[start : start + chunk_size]
        block = np.array(array[index], dtype=np.float64)  # a copy: squared in place below
        if mapped:
            release_pages(array)
        if weights is None:
            s = block.sum(axis=axes, keepdims=True)
            count += block.size // s.size
            sq = np.multiply(block, block, out=block).sum(axis=axes, keepdims=True)
        else:
            w = weights[index].reshape((-1,) + (1,) * (block.ndim - 1))
            weighted = block * w
            s = weighted.sum(axis=axes, keepdims=True)
            count += float(w.sum()) * (block.size // s.size) / block.shape[0]
            sq = np.multiply(weighted, block, out=weighted).sum(axis=axes, keepdims=True)
        total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
    mean = total / max(count, 1e-300)
    var = np.maximum(total_sq / max(count, 1e-300) - np.square(mean), 0.0)
    scale = np.sqrt(var)
    scale[~np.isfinite(scale) | (scale <= 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0
    return mean[0].astype(np.float32), scale[0].astype(np.float32)


#: Bytes (as float64) of one chunk of :func:`standardization_stats`.
_STATS_CHUNK_BYTES = 2 * 2**20
