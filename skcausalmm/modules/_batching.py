"""The one helper that cuts a dict of arrays or tensors into mini-batches (pure torch).

Used for training batches (:class:`skcausalmm._training.TensorBatchIterator`), prediction-time
passes (fixed-size padded batches) and passes over the training data after fit.
"""

import torch

__all__ = ["iter_batches"]


def iter_batches(data, batch_size, *, order=None, pad=False, device=None):
    """Yield ``(batch, n_valid)``: consecutive mini-batches of a dict of arrays or tensors.

    Parameters
    ----------
    data : dict of str to ndarray or torch.Tensor
        Arrays sharing their first dimension.
    batch_size : int
        Rows per batch.
    order : torch.Tensor of int, default=None
        Row order (a permutation for shuffled training); consecutive rows
        when None.
    pad : bool, default=False
        Pad the last batch with zero rows to ``batch_size``. float32 matrix
        products may take another kernel, and so round differently, for
        another number of rows; with every batch the same size a row's result
        does not depend on how many rows are predicted with it. What remains
        is rounding that depends on the row's position within its batch (at
        most about 1e-7 in the class probabilities), which no batching avoids.
    device : str or torch.device, default=None
        Move each batch there (numpy arrays are converted to tensors).

    Yields
    ------
    batch : dict of str to torch.Tensor
    n_valid : int
        Rows of the batch that are data (the rest is padding).
    """
    n = next(iter(data.values())).shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        index = order[start:stop] if order is not None else slice(start, stop)
        batch = {}
        for key, value in data.items():
            chunk = value[index]
            if not isinstance(chunk, torch.Tensor):
                chunk = torch.from_numpy(chunk)
            if pad and stop - start < batch_size:
                chunk = torch.cat([chunk, chunk.new_zeros((batch_size - (stop - start),) + tuple(chunk.shape[1:]))])
            batch[key] = chunk if device is None else chunk.to(device)
        yield batch, stop - start
