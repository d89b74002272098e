"""The trained tiny front-door network several test modules share."""

import pytest

from .toy import data, network, train


@pytest.fixture(scope="module")
def trained():
    """A tiny network trained for a few steps (so that the head is not random), dictionary built."""
    X, y = data(600)
    return train(network(), X, y)
