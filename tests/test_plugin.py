"""A new method written outside the package, plugged in without editing any file of it.

The toy method below (a network, a loss and a thin estimator) pools the features of the
modalities that are present and classifies the mean. Registered with
``skcausalmm.base.register_estimator``, it passes scikit-learn's checks, round-trips through
``skcausalmm.save``/``load``, handles missing modalities because it declares so, and is
discovered by the common checks and the fuzz suite (``tests/conftest.py`` imports this module
before collection, as it would any plug-in).
"""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

import skcausalmm
from skcausalmm.base import MultimodalClassifierMixin, all_estimators, register_estimator
from skcausalmm.datasets import mask_modalities
from skcausalmm.metrics import availability_scores
from skcausalmm.nn.losses import cross_entropy

from .helpers import make_data


# ----------------------------------------------------------------- the toy method (under 80 lines)
class MeanPoolNetwork(nn.Module):
    """One encoder per modality, the mean of the present modalities' features, a linear head."""

    def __init__(self, encoder_factory, n_classes, width):
        super().__init__()
        self.encoders = nn.ModuleDict({m: encoder_factory(m, width) for m in encoder_factory.names})
        self.head = nn.Linear(width, n_classes)

    def forward(self, X, availability=None):
        features = torch.stack([encoder(X[m]) for m, encoder in self.encoders.items()], dim=1)
        weight = torch.ones(features.shape[:2], device=features.device) if availability is None else availability
        pooled = (features * weight[..., None]).sum(1) / weight.sum(1, keepdim=True).clamp_min(1.0)
        return {"logits": self.head(pooled)}


class MeanPoolLoss(nn.Module):
    """Weighted cross-entropy of the pooled logits."""

    def __init__(self, class_weight=None):
        super().__init__()
        self.class_weight = class_weight

    def forward(self, outputs, y, sample_weight=None):
        return cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)


@register_estimator
class MeanPoolClassifier(MultimodalClassifierMixin):
    """Toy plug-in classifier: the mean of the present modalities' encodings, one linear head."""

    _module_class = MeanPoolNetwork
    _criterion_class = MeanPoolLoss
    _supports_missing = True

    def __init__(self, *, modalities=None, image_shapes=None, encoders=None, standardize=True, hidden_size=64,
                 max_epochs=30, lr=3e-3, batch_size=128, optimizer="adam", weight_decay=0.0, class_weight=None,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5, callbacks=None, device="auto",
                 random_state=None, verbose=0, warm_start=False):
        vars(self).update({k: v for k, v in locals().items() if k != "self"})

    def _module_params(self, shapes, n_classes):
        return {"encoder_factory": self._encoder_factory(shapes), "n_classes": n_classes, "width": self.hidden_size}


# ------------------------------------------------------------------------------------ the tests
SMALL = dict(max_epochs=30, hidden_size=16, lr=1e-2, random_state=0, device="cpu")


@parametrize_with_checks([MeanPoolClassifier(**SMALL)], expected_failed_checks=lambda e: e._expected_failed_checks())
def test_plugin_passes_sklearn_checks(estimator, check):
    check(estimator)


def test_plugin_is_known_to_the_package_without_being_part_of_it():
    assert MeanPoolClassifier in all_estimators()
    assert "MeanPoolClassifier" not in skcausalmm.__all__
    from .test_common import all_estimators as common_discovery
    from .test_fuzz_inputs import ESTIMATORS as fuzzed

    assert MeanPoolClassifier in common_discovery() and MeanPoolClassifier in fuzzed


def test_plugin_round_trips_through_a_model_file(tmp_path):
    X, y = make_data()
    clf = MeanPoolClassifier(**SMALL).fit(X, y)
    loaded = skcausalmm.load(skcausalmm.save(clf, tmp_path / "toy.zip"), device="cpu")
    assert type(loaded) is MeanPoolClassifier
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_plugin_handles_missing_modalities_because_it_declares_so():
    X, y = make_data(n=240)
    Xm = mask_modalities(X, {"image": 0.3, "tabular": 0.3}, random_state=0)
    clf = MeanPoolClassifier(**SMALL).fit(Xm, y)
    scores = availability_scores(clf, X, y)
    assert set(scores.index) == {"image", "tabular", "image+tabular", "average"}
    assert (scores["accuracy"] > 0.6).all()


def test_a_network_that_breaks_the_contract_gets_a_clear_error():
    class NoMask(MeanPoolNetwork):
        def forward(self, X):
            return super().forward(X)

    class Broken(MeanPoolClassifier):
        _module_class = NoMask

    X, y = make_data()
    with pytest.raises(TypeError, match="supports missing modalities.*NoMask.forward does not take `availability`"):
        Broken(**SMALL).fit(X, y)
