"""The contract between the shared base and a method's torch network and loss.

The base (:mod:`skcausalmm._base`, :mod:`skcausalmm._core.net`) relies on
nothing else; these protocols are the one place where it is written down.
"""

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["MultimodalLoss", "MultimodalNetwork"]


@runtime_checkable
class MultimodalNetwork(Protocol):
    """A method's network.

    Attributes
    ----------
    names : list of str
        The modalities, in the order of the columns of ``availability``
        (the estimator's ``modality_names_``).
    progress : float, optional
        If present, set to ``epoch / max_epochs`` at the start of every epoch
        (for ramps and modulation windows).

    Methods
    -------
    forward(X, availability=None)
        ``X`` is ``{modality: tensor}``, already standardised by the base's
        input layer. ``availability`` (only passed to networks of estimators
        that support missing modalities) is a float tensor
        ``(n, n_modalities)``: 1 where the modality is present, 0 where it is
        missing (its values are then zero). Returns a dict of tensors; a
        classifier's contains ``"logits"`` ``(n, n_classes)``.
    predict_proba(X, availability=None, **params), optional
        Class probabilities when they are not ``softmax(logits)``;
        ``params`` are the estimator's prediction-time parameters.
    fit_dictionary(X, y, generator, sample_weight=None), optional
        Called once after training with the whole (standardised) training
        tensors and the fit's per-sample weights (a tensor, or None), in eval
        mode and without gradients.
    """

    names: list

    def forward(self, X: dict, availability: torch.Tensor | None = None) -> dict[str, Any]: ...


@runtime_checkable
class MultimodalLoss(Protocol):
    """A method's loss.

    Methods
    -------
    forward(outputs, y)
        ``outputs`` is the network's dict, ``y`` the encoded labels (None for
        a transformer trained without labels). Returns a scalar tensor.

    Attributes
    ----------
    last_terms_ : dict of str to float, optional
        The named terms of the last call; their epoch means are logged in the
        estimator's ``history_``.
    progress : float, optional
        As for the network.
    """

    def forward(self, outputs: dict, y: torch.Tensor | None) -> torch.Tensor: ...
