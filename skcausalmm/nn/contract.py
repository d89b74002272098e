"""The contract between the shared base and a method's torch network and loss, and its check.

The base (:mod:`skcausalmm._core.base`, :mod:`skcausalmm._core.net`) relies on nothing
else; these protocols are the one place where it is written down, and :func:`check_contract`
checks a freshly built network and loss against it, so that a method that breaks it gets a
clear error when its net is built instead of a torch trace in the middle of training.
"""

import inspect
from typing import Any, Protocol, runtime_checkable

import torch

from .._core.rng import isolated

__all__ = ["MultimodalLoss", "MultimodalNetwork", "check_contract"]


@runtime_checkable
class MultimodalNetwork(Protocol):
    """A method's network (a ``torch.nn.Module``).

    Methods
    -------
    forward(X, availability=None)
        ``X`` is ``{modality: tensor}``, already standardised by the base's
        input layer. ``availability`` is passed only to the networks of
        estimators that support missing modalities (``_supports_missing``): a
        float tensor ``(n, n_modalities)``, 1 where the modality is present, 0
        where it is missing (its values are then zero), columns in the order of
        the estimator's ``modality_names_``. Returns a dict of tensors; a
        classifier's contains ``"logits"`` ``(n, n_classes)`` and, for
        ``modality_proba``, ``"modality_logits"`` (a dict of ``(n, n_classes)``).
    predict_proba(X, availability=None, **params), optional
        Class probabilities when they are not ``softmax(logits)``, or
        ``softmax(logits)`` computed without what only training needs (the
        network then sets ``softmax_of_logits = True``); ``params`` are the
        estimator's prediction-time parameters.
    transform(X, availability=None), optional
        A transformer's features, one row per sample.
    logit_parts(X, availability=None), optional
        Only for a network whose probabilities are ``softmax(logits)``: the
        logits as a sum over modalities, ``{modality: (n, n_classes)}`` whose
        sum is ``forward(X)["logits"]``; the Shapley contributions then cost
        one pass instead of one per coalition of modalities.
    fit_dictionary(X, y, generator, sample_weight=None), optional
        Called once after training with the whole (standardised) training
        tensors and the fit's per-sample weights (a tensor, or None), in eval
        mode and without gradients.

    Attributes
    ----------
    progress : float, optional
        If present, set to ``epoch / max_epochs`` at the start of every epoch
        (for ramps and modulation windows).
    """

    def forward(self, X: dict, availability: torch.Tensor | None = None) -> dict[str, Any]: ...


@runtime_checkable
class MultimodalLoss(Protocol):
    """A method's loss (a ``torch.nn.Module``).

    Methods
    -------
    forward(outputs, y, sample_weight=None)
        ``outputs`` is the network's dict, ``y`` the encoded labels (None for
        a transformer trained without labels). ``sample_weight`` (a float
        tensor ``(n,)``) is passed only when the fit is weighted; a loss that
        cannot weigh its terms need not take it, and such a fit is refused.
        Returns a scalar tensor.

    Attributes
    ----------
    last_terms_ : dict of str to float, optional
        The named terms of the last call; their epoch means are logged in the
        estimator's ``history_``.
    progress : float, optional
        As for the network.
    """

    def forward(self, outputs: dict, y: torch.Tensor | None, sample_weight: torch.Tensor | None = None) -> Any: ...


def _takes(function, name):
    """Whether ``function`` accepts the keyword argument ``name``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return True
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def check_contract(module, criterion, shapes, *, pass_availability, n_classes=None, weighted=False, owner="the method"):
    """Check a freshly built network and loss against the contract; raise ``TypeError`` naming what breaks it.

    The network runs once, in eval mode and without gradients, on two all-zero samples of
    every modality (the caller's random state is left as it was).

    Parameters
    ----------
    module : torch.nn.Module
        The network, on its device.
    criterion : torch.nn.Module
        The loss.
    shapes : dict of str to tuple of int
        Per-sample shape of each modality, in the order of the availability mask.
    pass_availability : bool
        Whether the network gets the availability mask.
    n_classes : int or None, default=None
        For a classifier: the number of classes ``"logits"`` must have; None for a transformer.
    weighted : bool, default=False
        Whether the fit passes sample weights to the loss.
    owner : str, default="the method"
        Who built them (for the messages).

    Raises
    ------
    TypeError
        If the network's ``forward`` does not take ``availability`` although it is
        passed, the loss's ``forward`` does not take ``sample_weight`` in a weighted
        fit, or the network's output on the test batch is not a dict (with
        ``"logits"`` of shape ``(2, n_classes)`` for a classifier).
    """
    network = type(module).__name__
    if not isinstance(module, torch.nn.Module) or not isinstance(criterion, torch.nn.Module):
        wrong = module if not isinstance(module, torch.nn.Module) else criterion
        raise TypeError(f"{owner}: the network and the loss must be torch.nn.Module instances, got {type(wrong)!r}.")
    if pass_availability and not _takes(module.forward, "availability"):
        raise TypeError(
            f"{owner} supports missing modalities, so its network's forward(X, availability=None) gets the "
            f"availability mask; {network}.forward does not take `availability`."
        )
    if weighted and not _takes(criterion.forward, "sample_weight"):
        raise TypeError(
            f"{owner}: the fit is weighted, but the loss {type(criterion).__name__}.forward(outputs, y, "
            "sample_weight=None) does not take `sample_weight`; fit without sample_weight, or weigh the loss."
        )
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    batch = {name: torch.zeros((2, *shape), device=device) for name, shape in shapes.items()}
    kwargs = {"availability": torch.ones((2, len(shapes)), device=device)} if pass_availability else {}
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), isolated(device):
            out = module(batch, **kwargs)
    except Exception as exc:  # anything: name the network and what it was given
        shown = {name: tuple(x.shape) for name, x in batch.items()}
        raise TypeError(
            f"{owner}: its network {network} fails on a test batch of two all-zero samples {shown}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        module.train(was_training)
    if not isinstance(out, dict):
        raise TypeError(f"{owner}: {network}.forward must return a dict of tensors, got {type(out).__name__}.")
    if n_classes is not None:
        logits = out.get("logits")
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2, n_classes):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise TypeError(
                f"{owner}: a classifier's network returns \"logits\" of shape (n, n_classes) = (2, {n_classes}) on "
                f"two samples; {network} returned {got}."
            )
