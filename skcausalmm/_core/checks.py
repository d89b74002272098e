"""Checks of the training parameters that scikit-learn's constraints cannot express."""

import functools
import inspect
import numbers

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = [
    "OPTIMIZERS",
    "check_callbacks",
    "check_optimizer",
    "check_sample_weight",
    "fused_optimizer_params",
    "takes_weight_decay",
]

#: The optimisers that can be named.
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def check_optimizer(optimizer, weight_decay=0.0):
    """Return the optimiser class for ``optimizer`` (a name or a ``torch.optim.Optimizer`` subclass).

    An optimiser without a ``weight_decay`` argument (``torch.optim.LBFGS``) is accepted while
    ``weight_decay`` is 0.
    """
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer]
    if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        raise TypeError(
            f"optimizer must be one of {sorted(OPTIMIZERS)} or a torch.optim.Optimizer subclass, got {optimizer!r}."
        )
    if issubclass(optimizer, torch.optim.SparseAdam):
        raise TypeError(
            "optimizer=SparseAdam needs sparse gradients, which these networks do not produce; use 'adam', "
            "'adamw', 'sgd' or another optimiser for dense gradients."
        )
    if not any("step" in vars(c) for c in optimizer.__mro__ if c not in (torch.optim.Optimizer, object)):
        raise TypeError(
            f"optimizer={optimizer.__name__} does not implement step(); pass a concrete torch.optim.Optimizer "
            "subclass such as torch.optim.Adam, or one of 'adam', 'adamw', 'sgd'."
        )
    try:
        accepted = inspect.signature(optimizer.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtin signatures
        accepted = {}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    needed = ("lr", "weight_decay") if weight_decay else ("lr",)
    missing = [name for name in needed if accepted and name not in accepted and not takes_kwargs]
    if missing:
        raise TypeError(
            f"optimizer={optimizer.__name__} does not take {' or '.join(missing)}, which the training step passes "
            f"(lr, and weight_decay={weight_decay!r}); use 'adam', 'adamw', 'sgd' or an optimiser that accepts "
            "them" + (" (or weight_decay=0)." if missing == ["weight_decay"] else ".")
        )
    return optimizer


#: The optimisers whose step has a fused kernel (one kernel for all parameters instead of a Python
#: loop of a dozen operations per parameter tensor).
_FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


@functools.cache
def _fused_supported(optimizer, device_type):
    """Whether this torch build has ``optimizer``'s fused kernel on ``device_type``."""
    try:
        optimizer([torch.zeros(1, device=device_type, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def fused_optimizer_params(optimizer, device):
    """skorch arguments that make torch's Adam or AdamW step fused, where the build has the kernel.

    The fused step computes the same update with one kernel for every parameter tensor; for
    small networks the per-tensor loop of the default step is a large share of each batch.
    Other optimisers (and subclasses, which may override the step) are left as they are.

    Parameters
    ----------
    optimizer : type
        The optimiser class (from :func:`check_optimizer`).
    device : str or torch.device
        The training device.

    Returns
    -------
    params : dict
        ``{"optimizer__fused": True}`` or ``{}``.
    """
    if optimizer not in _FUSABLE:
        return {}
    return {"optimizer__fused": True} if _fused_supported(optimizer, torch.device(device).type) else {}


def takes_weight_decay(optimizer):
    """Whether the optimiser class accepts a ``weight_decay`` argument."""
    try:
        accepted = inspect.signature(optimizer.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtin signatures
        return True
    return "weight_decay" in accepted or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())


def check_callbacks(callbacks):
    for i, cb in enumerate(callbacks or []):
        named = isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str)
        if not isinstance(cb[1] if named else cb, Callback):
            raise TypeError(
                f"callbacks[{i}] must be a skorch callback instance or a (name, callback) tuple, got {cb!r}."
            )


def check_sample_weight(sample_weight, n_samples):
    """Validate ``sample_weight`` at the door: None, or ``n_samples`` finite non-negative reals, not all zero."""
    if sample_weight is None:
        return None
    if hasattr(sample_weight, "toarray") or hasattr(sample_weight, "tocsr"):
        raise TypeError("sample_weight must be a dense 1-D array-like; a sparse matrix is not supported.")
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
    try:
        weights = np.asarray(sample_weight)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight could not be converted to a 1-D array of floats: {exc}") from None
    if weights.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must hold real numbers, got dtype {weights.dtype}.")
    weights = weights.astype(np.float64)
    if weights.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D, got shape {weights.shape}.")
    if weights.shape[0] != n_samples:
        raise ValueError(f"sample_weight has {weights.shape[0]} entries but X has {n_samples} samples.")
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight contains NaN or infinity.")
    if (weights < 0).any():
        raise ValueError("sample_weight must be non-negative; negative weights make the loss unbounded.")
    if not (weights > 0).any():
        raise ValueError("sample_weight is zero for every sample, so the training loss is undefined.")
    return weights
