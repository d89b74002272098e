"""torch's process-wide random state, used by one fit at a time.

torch draws initial weights and dropout masks from one generator per device, shared by every
thread of the process. A fit seeds that generator (in a forked state, so the caller's stream is
left as it was) and draws from it until the fit ends; two fits running in threads of one process
(joblib's threading backend, a Dask worker with several threads) would interleave their draws
and restore each other's states. :func:`seeded` therefore holds one process-wide re-entrant lock
for the whole seeded region: fits in threads take turns there, and each gives the result it gives
alone. Code that only needs to leave the global state untouched (:func:`isolated`) takes the same
lock, because restoring a forked state would rewind a fit running in another thread.
"""

import contextlib
import threading

import torch

TORCH_RNG_LOCK = threading.RLock()


def _devices(device):
    device = torch.device(device)
    return [device.index or 0] if device.type == "cuda" else []


@contextlib.contextmanager
def isolated(device="cpu"):
    """Run the block with torch's global RNG forked (restored at exit), one thread at a time."""
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=_devices(device)):
        yield


@contextlib.contextmanager
def seeded(seed, device="cpu"):
    """Run the block with torch's global RNG forked and seeded with ``seed``, one thread at a time."""
    with isolated(device):
        torch.manual_seed(int(seed))
        yield
