"""The thread policy: how many intra-op threads torch uses while an estimator fits or predicts.

Small networks gain nothing from torch's intra-op threads, and on a machine that runs anything
else beside the fit, threads are much slower than one: the threads of one operation wait for
each other at every step, and one of them waits for a CPU (docs/reports/performance.md has the
measurements). With the package's default setting (``skcausalmm.set_config(torch_threads="auto")``)
a CPU fit, prediction or transform

* of a network whose forward pass costs fewer than :data:`SMALL_NETWORK_FLOPS` floating-point
  operations per sample, or of any network when the whole call costs fewer than
  :data:`SHORT_CALL_FLOPS`, runs on one thread: the choice depends on the network and the data
  only, so the same seed gives the same model on any machine;
* of larger work runs on as many threads as CPUs were idle when it started (measured over
  :data:`LOAD_PROBE_SECONDS` from Linux's ``/proc/stat``; elsewhere torch's count), at most
  torch's count. The count then depends on the machine's load, and results may differ in the
  last bits of float rounding from a run at another count.

A count the user chose is kept: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` in the environment, or a
count that differs from torch's when skcausalmm was imported (``torch.set_num_threads`` or a
threadpoolctl limit).

torch's thread count is process-wide. :func:`torch_threads` therefore counts the blocks that
hold it (fits in several threads of one process): the first sets the count, the last restores
the one found before.
"""

import contextlib
import os
import threading
import time
import weakref

import torch

from .config import get_config

__all__ = ["SMALL_NETWORK_FLOPS", "forward_flops", "idle_cpus", "policy_threads", "torch_threads"]

#: Forward-pass floating-point operations per sample under which a network runs on one thread
#: with ``torch_threads="auto"``.
SMALL_NETWORK_FLOPS = 1_000_000

#: Floating-point operations of a whole call (forward passes, backward counted twice) under which
#: a larger network runs on one thread too: the call is short, and measuring the machine's load
#: would cost more than it can save.
SHORT_CALL_FLOPS = 5e9

#: Seconds over which the CPUs' idle time is measured (Linux's ``/proc/stat``).
LOAD_PROBE_SECONDS = 0.05

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


def _count_outside_the_policy():
    """torch's count as the user left it: the one found by the first block still holding its own count."""
    with _lock:
        if _holders and _restore_to is not None:
            return _restore_to[0]
        return torch.get_num_threads()


def _user_chose_threads(count):
    return any(os.environ.get(name) for name in THREAD_ENVIRONMENT) or count != _THREADS_AT_IMPORT


def _cpu_times():
    """Clock ticks: all CPUs together, their idle ones, and this process's (all its threads)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    with open("/proc/self/stat") as f:
        own = f.read().rsplit(")", 1)[1].split()  # the fields after the command name
    return sum(values), values[3] + values[4], int(own[11]) + int(own[12])  # utime + stime


def idle_cpus(seconds=LOAD_PROBE_SECONDS):
    """How many CPUs other processes left free over the next ``seconds`` (None where the system does not say).

    This process's own use (e.g. torch's threads still spinning after an earlier operation)
    counts as free.
    """
    try:
        total0, idle0, own0 = _cpu_times()
        time.sleep(seconds)
        total1, idle1, own1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    cpus = os.cpu_count() or 1
    idle = cpus * ((idle1 - idle0) + (own1 - own0)) / (total1 - total0)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return min(float(allowed), idle)


def policy_threads(device, flops_per_sample, passes):
    """The thread count the policy sets for a call on ``device``, or None to leave torch's.

    Parameters
    ----------
    device : str
        The torch device the work runs on; only the CPU's threads are set.
    flops_per_sample : float or callable
        The network's forward floating-point operations per sample (a callable is called only
        when the answer depends on it).
    passes : float
        Forward-pass equivalents of the call (rows, times three per training epoch).
    """
    setting = get_config()["torch_threads"]
    if setting == "torch" or torch.device(device).type != "cpu":
        return None
    if setting != "auto":
        return int(setting)
    # a fit in another thread may hold its own count now: decide from the user's, so that both
    # decide alike whichever enters first
    current = _count_outside_the_policy()
    if current == 1 or _user_chose_threads(current):
        return None
    flops = flops_per_sample() if callable(flops_per_sample) else flops_per_sample
    if flops < SMALL_NETWORK_FLOPS or flops * passes < SHORT_CALL_FLOPS:
        return 1
    idle = idle_cpus()
    if idle is None:
        return None
    return max(1, min(current, int(idle + 0.5)))


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
