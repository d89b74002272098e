"""The thread policy: how many intra-op threads torch uses while an estimator fits or predicts.

Small networks gain little from torch's intra-op threads, and a machine that runs anything else
beside the fit makes them much slower than one thread: the threads of one operation wait for
each other at every step (docs/performance.md has the measurements). With the package's default
setting (``skcausalmm.set_config(torch_threads="auto")``) a CPU fit, prediction or transform of
a network whose forward pass costs fewer than :data:`SMALL_NETWORK_FLOPS` floating-point
operations per sample runs on one thread; larger networks keep torch's setting. A count the user
chose is kept: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` in the environment, or a count that
differs from torch's when skcausalmm was imported (``torch.set_num_threads`` or a threadpoolctl
limit). The decision depends only on the network and these settings, never on timing, so the
same fit on another machine makes the same choice.

torch's thread count is process-wide. :func:`torch_threads` therefore counts the blocks that
hold it (fits in several threads of one process): the first sets the count, the last restores
the one found before.
"""

import contextlib
import os
import threading
import weakref

import torch

from .config import get_config

__all__ = ["SMALL_NETWORK_FLOPS", "forward_flops", "policy_threads", "torch_threads"]

#: Forward-pass floating-point operations per sample under which a network runs on one thread
#: with ``torch_threads="auto"``.
SMALL_NETWORK_FLOPS = 4_000_000

#: Environment variables through which a user fixes torch's thread count.
THREAD_ENVIRONMENT = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_THREADS_AT_IMPORT = torch.get_num_threads()
_lock = threading.Lock()
_holders = 0
_restore_to = None
_FLOPS = weakref.WeakKeyDictionary()


def forward_flops(module, forward, rows):
    """Floating-point operations per sample of ``forward()`` (a forward pass on ``rows`` samples).

    Counted once per module with torch's ``FlopCounterMode`` (matrix products and convolutions)
    and cached while the module lives.
    """
    if module in _FLOPS:
        return _FLOPS[module]
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    was_training = module.training
    module.eval()
    try:
        with counter, torch.no_grad():
            forward()
    finally:
        module.train(was_training)
    flops = counter.get_total_flops() / max(int(rows), 1)
    _FLOPS[module] = flops
    return flops


def _user_chose_threads():
    return any(os.environ.get(name) for name in THREAD_ENVIRONMENT) or torch.get_num_threads() != _THREADS_AT_IMPORT


def policy_threads(device, flops_per_sample):
    """The thread count the policy sets for a network on ``device``, or None to leave torch's.

    Parameters
    ----------
    device : str
        The torch device the work runs on; only the CPU's threads are set.
    flops_per_sample : float or callable
        The network's forward floating-point operations per sample (a callable is called only
        when the answer depends on it).
    """
    setting = get_config()["torch_threads"]
    if setting == "torch" or torch.device(device).type != "cpu":
        return None
    if setting != "auto":
        return int(setting)
    if torch.get_num_threads() == 1 or _user_chose_threads():
        return None
    flops = flops_per_sample() if callable(flops_per_sample) else flops_per_sample
    return 1 if flops < SMALL_NETWORK_FLOPS else None


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with torch's intra-op thread count at ``n_threads`` (None: as it is).

    Re-entrant and safe across the threads of one process: the first block to enter sets the
    count, blocks that enter while it is held run with it, and the last to leave restores the
    count found by the first (unless something else changed it meanwhile).
    """
    global _holders, _restore_to
    with _lock:
        if _holders == 0:
            if n_threads is None or torch.get_num_threads() == n_threads:
                _restore_to = None
            else:
                _restore_to = (torch.get_num_threads(), int(n_threads))
                torch.set_num_threads(int(n_threads))
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _restore_to is not None:
                before, chosen = _restore_to
                if torch.get_num_threads() == chosen:
                    torch.set_num_threads(before)
                _restore_to = None
