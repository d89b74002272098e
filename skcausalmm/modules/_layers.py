"""Small reusable torch layers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GradientReversal", "gradient_reversal", "make_mlp"]


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
