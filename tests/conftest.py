"""Shared test configuration."""

import os

import torch

# pytest-xdist runs one worker per core: keep torch to one thread per worker so
# that workers do not fight over the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
