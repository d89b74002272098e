"""Small reusable torch layers: gradient reversal, a plain perceptron, the fixed input layer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "GradientReversal",
    "InputStandardizer",
    "absent_embeddings",
    "fill_absent",
    "gradient_reversal",
    "make_mlp",
    "scale_gradient",
]


class _GradientReversalFunction(torch.autograd.Function):
    """Identity in the forward pass; multiplies the gradient by ``-coefficient`` backwards."""

    @staticmethod
    def forward(ctx, inputs, coefficient):
        ctx.coefficient = float(coefficient)
        return inputs.view_as(inputs)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.coefficient * grad_output, None


def gradient_reversal(inputs, coefficient=1.0):
    """Identity whose backward pass multiplies the gradient by ``-coefficient``.

    Parameters
    ----------
    inputs : torch.Tensor
        Any tensor.
    coefficient : float, default=1.0
        Scale of the reversed gradient (0 blocks the gradient).

    Returns
    -------
    outputs : torch.Tensor
        ``inputs`` unchanged (a view).
    """
    return _GradientReversalFunction.apply(inputs, coefficient)


def scale_gradient(inputs, scale):
    """Identity whose backward pass multiplies the gradient by ``scale`` (0 detaches, 1 is the identity).

    Parameters
    ----------
    inputs : torch.Tensor
        Any tensor.
    scale : float
        Scale of the gradient that flows back through ``inputs``.

    Returns
    -------
    outputs : torch.Tensor
        A tensor equal to ``inputs``.
    """
    if scale == 0:
        return inputs.detach()
    if scale == 1:
        return inputs
    return inputs.detach() + scale * (inputs - inputs.detach())


class GradientReversal(nn.Module):
    """Gradient reversal layer (Ganin and Lempitsky, 2015).

    The forward pass is the identity; the backward pass multiplies the incoming gradient by
    ``-coefficient``, so that whatever sits before the layer maximises the loss that the
    modules after it minimise.

    Parameters
    ----------
    coefficient : float, default=1.0
        Scale of the reversed gradient; may be changed between steps (e.g. for a ramp).
    """

    def __init__(self, coefficient=1.0):
        super().__init__()
        self.coefficient = coefficient

    def forward(self, inputs):
        """Return ``inputs`` unchanged; the gradient is reversed and scaled.

        Parameters
        ----------
        inputs : torch.Tensor
            Any tensor.

        Returns
        -------
        outputs : torch.Tensor
            ``inputs`` (a view).
        """
        return gradient_reversal(inputs, self.coefficient)

    def extra_repr(self):
        return f"coefficient={self.coefficient}"


def make_mlp(in_features, out_features, hidden_size=64, n_hidden=1):
    """A plain ReLU multilayer perceptron.

    Parameters
    ----------
    in_features : int
        Input size.
    out_features : int
        Output size.
    hidden_size : int, default=64
        Width of each hidden layer.
    n_hidden : int, default=1
        Number of hidden layers (0 gives a single linear layer).

    Returns
    -------
    mlp : torch.nn.Sequential
        The network.
    """
    layers, width = [], in_features
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden_size), nn.ReLU()]
        width = hidden_size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class InputStandardizer(nn.Module):
    """Fixed (non-trained) input layer: ``(x - mean) / scale`` per modality, missing rows zero.

    Parameters
    ----------
    stats : dict of str to (ndarray, ndarray) or None
        ``(mean, scale)`` per modality, each broadcastable against one sample;
        modalities not named (or ``stats=None``) pass unchanged.
    names : list of str, default=None
        Modalities in the order of the columns of ``availability``.

    Notes
    -----
    The statistics are buffers: they are saved with the weights and move with
    the module to the training device. With an ``availability`` mask the rows
    of an absent modality are set to exactly zero after scaling.
    """

    def __init__(self, stats=None, names=None):
        super().__init__()
        self.names = list(names) if names is not None else list(stats or {})
        self.scaled = list(stats or {})
        for j, name in enumerate(self.scaled):
            mean, scale = stats[name]
            self.register_buffer(f"mean_{j}", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
            self.register_buffer(f"scale_{j}", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def standardize(self, name, x, availability=None):
        """One modality through the layer: scaled if it has statistics, its absent rows zeroed.

        Parameters
        ----------
        name : str
            The modality.
        x : torch.Tensor of shape (n, ...)
            Its batch.
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask (columns in the order of ``names``).

        Returns
        -------
        x : torch.Tensor
        """
        if name in self.scaled:
            j = self.scaled.index(name)
            x = (x - getattr(self, f"mean_{j}")) / getattr(self, f"scale_{j}")
        if availability is not None and name in self.names:
            present = availability[:, self.names.index(name)]
            x = x * present.reshape((-1,) + (1,) * (x.dim() - 1))
        return x

    def forward(self, X, availability=None):
        """Return the standardised ``{modality: tensor}`` (a new dict)."""
        out = dict(X)
        for name in X:
            if name in self.scaled or (availability is not None and name in self.names):
                out[name] = self.standardize(name, X[name], availability)
        return out


def absent_embeddings(dims, names):
    """One learned "absent" embedding per modality, initialised at zero.

    Parameters
    ----------
    dims : dict of str to int
        Feature size of each modality.
    names : list of str
        The modalities that get one.

    Returns
    -------
    absent : torch.nn.ParameterDict
    """
    return nn.ParameterDict({name: nn.Parameter(torch.zeros(int(dims[name]))) for name in names})


def fill_absent(features, absent, present, owner="This network"):
    """Each missing modality's features replaced by its absent embedding: ``p f + (1 - p) a``.

    With ``p = 1`` the result is ``f`` exactly, so complete rows are computed as without a mask;
    the absent embedding then gets a zero gradient.

    Parameters
    ----------
    features : dict of str to torch.Tensor of shape (n, d_m)
        Per-modality features.
    absent : torch.nn.ParameterDict or None
        :func:`absent_embeddings` for (at least) the modalities of ``features``.
    present : dict of str to torch.Tensor of shape (n,) or None
        Availability of each modality (:func:`~skcausalmm.nn.losses.present_columns`); None:
        every row is present and ``features`` are returned as they are.
    owner : str, default="This network"
        Named in the error.

    Returns
    -------
    features : dict of str to torch.Tensor

    Raises
    ------
    ValueError
        If a mask is given to a network built without absent embeddings.
    """
    if present is None:
        return features
    if absent is None:
        raise ValueError(f"{owner} was built with handle_missing=False and cannot take an availability mask.")
    out = {}
    for name, feats in features.items():
        p = present[name].to(feats.dtype).unsqueeze(1)
        out[name] = p * feats + (1.0 - p) * absent[name]
    return out

