"""Helpers shared by the test modules: small data and the estimator discovery."""

import numpy as np

from skcausalmm.base import all_estimators

__all__ = ["FAST", "all_estimators", "make_data"]

#: Small, fast settings under which a network still learns the toy problems of :func:`make_data`.
FAST = dict(max_epochs=15, hidden_size=16, lr=1e-2, random_state=0)


def make_data(n=120, seed=0, image_shape=(1, 8, 8)):
    """Two informative modalities: an image whose mean encodes the class, a table."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    image = rng.normal(size=(n,) + image_shape).astype(np.float32) + y[:, None, None, None]
    table = rng.normal(size=(n, 5)) + np.eye(3)[y] @ rng.normal(size=(3, 5)) * 3
    return {"image": image, "tabular": table}, y


def frontdoor_network(encoder_factory, predominant, auxiliary, n_classes, **overrides):
    """A ``FrontDoorNetwork`` with the estimator's defaults (resolved as for a table), but for ``overrides``."""
    from skcausalmm import FrontDoorMultimodalClassifier
    from skcausalmm.frontdoor.estimator import _NETWORK_PARAMS
    from skcausalmm.frontdoor.network import FrontDoorNetwork

    defaults = FrontDoorMultimodalClassifier()
    params = {name: getattr(defaults, name) for name in _NETWORK_PARAMS}
    params.update(adversary_weight=5.0, adversary_objective="reversal", conditional_adversary=True,
                  mediator_normalization=None, unimodal_weight=0.0, direct_terms=False, linear_projections=False,
                  shared_trunk=False,
                  sample_shapes=None)
    params.update(overrides)
    return FrontDoorNetwork(encoder_factory, predominant, list(auxiliary), n_classes, **params)
