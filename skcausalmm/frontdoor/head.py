"""The head ``g(m, r, z_a)`` of the front-door network: an MLP on the concatenation, computed part by part."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrontDoorHead"]


class FrontDoorHead(nn.Module):
    """The head ``g(m, r, z_a)``: an MLP on the concatenation, computed part by part.

    The first layer is ``W_m m + W_r r + W_a z_a + b`` (an MLP on the concatenation written
    so that the three parts broadcast against each other: the dictionary average evaluates
    ``n × J`` triples without materialising their concatenation).

    Parameters
    ----------
    mediator_size : int
        Size of ``m``.
    context_size : int
        Size of ``r`` (0: no context input).
    auxiliary_size : int
        Size of ``z_a`` (0: no auxiliary input).
    n_classes : int
        Number of classes.
    hidden_size : int, default=64
        Width of the hidden layer.
    """

    def __init__(self, mediator_size, context_size, auxiliary_size, n_classes, hidden_size=64):
        super().__init__()
        self.mediator_layer = nn.Linear(mediator_size, hidden_size)
        self.context_layer = nn.Linear(context_size, hidden_size, bias=False) if context_size else None
        self.auxiliary_layer = (
            nn.Linear(auxiliary_size, hidden_size, bias=False) if auxiliary_size else None
        )
        self.output_layer = nn.Linear(hidden_size, n_classes)

    def forward(self, mediator, context=None, auxiliary=None):
        """Logits of ``P(y | m, x', a)``.

        Parameters
        ----------
        mediator : torch.Tensor of shape (..., mediator_size)
            Mediator features.
        context : torch.Tensor of shape (..., context_size) or None
            Context features, broadcastable against ``mediator``.
        auxiliary : torch.Tensor of shape (..., auxiliary_size) or None
            Auxiliary features, broadcastable against ``mediator``.

        Returns
        -------
        logits : torch.Tensor of shape (..., n_classes)
            The broadcast leading shape, then the classes.
        """
        parts = [self.mediator_layer(mediator)]
        if self.context_layer is not None and context is not None:
            parts.append(self.context_layer(context))
        if self.auxiliary_layer is not None and auxiliary is not None:
            parts.append(self.auxiliary_layer(auxiliary))
        # add the small (un-broadcast) parts first: one full-size pass less in the
        # dictionary average, where m and z_a are (n, 1, h) and r is (1, J, h)
        parts.sort(key=lambda part: part.numel())
        hidden = parts[0]
        for part in parts[1:]:
            hidden = hidden + part
        return self.output_layer(torch.relu(hidden))

    def first_layer(self, mediator=None, context=None, auxiliary=None, bias=True):
        """Sum of the given parts of the first layer, before the activation.

        ``first_layer(mediator=m) + first_layer(context=r, auxiliary=z, bias=False)`` is the
        pre-activation of :meth:`forward`; the prediction computes the sample parts and the
        dictionary parts separately, once each (see :func:`front_door_average`).

        Parameters
        ----------
        mediator, context, auxiliary : torch.Tensor of shape (..., size) or None
            The inputs whose parts are summed (None: left out). They must broadcast.
        bias : bool, default=True
            Add the first layer's bias (once).

        Returns
        -------
        pre_activation : torch.Tensor of shape (..., hidden_size)
            ``W_m m + W_r r + W_a z (+ b)`` over the given parts.
        """
        parts = []
        if mediator is not None:
            parts.append(nn.functional.linear(mediator, self.mediator_layer.weight))
        if self.context_layer is not None and context is not None:
            parts.append(self.context_layer(context))
        if self.auxiliary_layer is not None and auxiliary is not None:
            parts.append(self.auxiliary_layer(auxiliary))
        if not parts:
            raise ValueError("first_layer needs at least one of mediator, context, auxiliary.")
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        if bias and self.mediator_layer.bias is not None:
            total = total + self.mediator_layer.bias
        return total
