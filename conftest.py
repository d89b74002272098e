"""Shared test configuration (tests/ and the docstring examples in skcausalmm/)."""

import os

import torch
from hypothesis import HealthCheck, settings

# Tests use tiny networks: one torch thread is fastest, and under pytest-xdist (one worker per
# core) it keeps the workers from fighting over the cores.
torch.set_num_threads(1)

# Property tests: a derandomised, bounded profile in CI (.ci/run sets CI=true), the default elsewhere.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
if os.environ.get("CI"):
    settings.load_profile("ci")
