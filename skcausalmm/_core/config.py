"""Package-wide settings: :func:`set_config`, :func:`get_config` and :func:`config_context`.

Two settings: ``torch_threads`` (how many intra-op threads torch uses on the CPU while an
estimator fits, predicts or transforms; see :mod:`skcausalmm._core.threads`) and
``distributed`` (whether fits train one model data-parallel across the processes of a
``torchrun`` or ``accelerate launch`` run; see :mod:`skcausalmm._core.distributed`). The
settings are process-wide, like torch's own thread count, which they steer.
"""

import contextlib
import numbers
import threading

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS = {"torch_threads": "auto", "distributed": False}
_config = dict(_DEFAULTS)
_lock = threading.Lock()


def _check_torch_threads(value):
    if value in ("auto", "torch"):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ValueError(
        f"torch_threads={value!r}: use 'auto' (the package's policy), a positive int (that many torch "
        "threads for every fit and prediction on the CPU) or 'torch' (leave torch's setting as it is)."
    )


def _check_distributed(value):
    if value is False or (isinstance(value, str) and value == "accelerate"):
        return value
    raise ValueError(
        f"distributed={value!r}: use 'accelerate' (train data-parallel across the processes of a torchrun "
        "or accelerate launch run, through Hugging Face Accelerate) or False (every process trains alone)."
    )


_CHECKS = {"torch_threads": _check_torch_threads, "distributed": _check_distributed}


def get_config():
    """The package's current settings.

    Returns
    -------
    config : dict
        ``{"torch_threads": ..., "distributed": ...}``, as :func:`set_config` describes it.

    Examples
    --------
    >>> import skcausalmm
    >>> skcausalmm.get_config()["torch_threads"]
    'auto'
    """
    with _lock:
        return dict(_config)


def set_config(torch_threads=None, distributed=None, **unknown):
    """Change the package's settings (only those passed).

    Parameters
    ----------
    torch_threads : {"auto", "torch"} or int or None, default=None
        How many intra-op threads torch uses on the CPU while an estimator fits, predicts or
        transforms (the previous count is restored afterwards):

        * ``"auto"`` (the package's default): one thread for small networks (those whose
          forward pass costs under :data:`skcausalmm._core.threads.SMALL_NETWORK_FLOPS`
          floating-point operations per sample, which includes every default network on
          tables) and for short calls; for larger work, as many threads as the machine has
          idle CPUs when the call starts (measured where the system reports it, Linux), at
          most torch's count. A thread count the user chose is kept in every case:
          ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` set in the environment, or a
          ``torch.set_num_threads`` call (or a threadpoolctl limit) made after skcausalmm was
          imported.
        * an int: that many threads for every fit and prediction.
        * ``"torch"``: torch's setting, whatever it is.

        None (the parameter's default) leaves the setting as it is.
    distributed : {"accelerate", False} or None, default=None
        ``"accelerate"``: every fit in this process trains one model together with the other
        processes of the run (``torchrun`` or ``accelerate launch``; Hugging Face Accelerate,
        the ``accelerate`` extra): each process reads its share of every mini-batch and the
        gradients are averaged across processes. Every process must make the same fits on
        the same full data, in the same order. In a single process it trains as usual.
        ``False`` (the package's default): every process trains on its own. See the user
        guide page "Training on several GPUs or machines". None leaves the setting as it is.

    Examples
    --------
    >>> import skcausalmm
    >>> skcausalmm.set_config(torch_threads=2)
    >>> skcausalmm.get_config()["torch_threads"]
    2
    >>> skcausalmm.set_config(torch_threads="auto")
    """
    if unknown:
        raise TypeError(f"set_config() got unknown settings {sorted(unknown)}; known: {sorted(_DEFAULTS)}.")
    checked = {
        name: _CHECKS[name](value)
        for name, value in (("torch_threads", torch_threads), ("distributed", distributed))
        if value is not None
    }
    with _lock:
        _config.update(checked)


@contextlib.contextmanager
def config_context(**settings):
    """Change settings inside a ``with`` block; the previous ones come back at its end.

    Parameters
    ----------
    **settings
        As in :func:`set_config` (``torch_threads``, ``distributed``); None leaves a setting as it is.

    Examples
    --------
    >>> import skcausalmm
    >>> with skcausalmm.config_context(torch_threads=1):
    ...     skcausalmm.get_config()["torch_threads"]
    1
    >>> skcausalmm.get_config()["torch_threads"]
    'auto'
    """
    unknown = set(settings) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"config_context() got unknown settings {sorted(unknown)}; known: {sorted(_DEFAULTS)}.")
    checked = {k: _CHECKS[k](v) for k, v in settings.items() if v is not None}
    with _lock:
        previous = dict(_config)
        _config.update(checked)
    try:
        yield
    finally:
        with _lock:
            _config.clear()
            _config.update(previous)
