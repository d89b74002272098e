"""mediator_diagnostics: fresh probes tell a label-only mediator from one that leaks the auxiliary input."""

import numpy as np
import pytest

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm.datasets import make_confounded_multimodal
from skcausalmm.metrics import mediator_diagnostics


@pytest.fixture(scope="module")
def fitted():
    d = make_confounded_multimodal(600, predominant="table", random_state=0)
    clf = FrontDoorMultimodalClassifier(max_epochs=2, hidden_size=16, mediator_size=8, random_state=0)
    return clf.fit(d.data, d.target), d


def test_scores_of_a_fitted_front_door(fitted):
    clf, d = fitted
    scores = mediator_diagnostics(clf, d.data, d.target, variables={"trace": d.trace, "y_again": d.target})
    assert {"label_accuracy", "label_chance", "auxiliary_r2", "auxiliary_r2_given_label", "trace_accuracy"} <= set(scores)
    assert 0 <= scores["label_chance"] <= scores["label_accuracy"] <= 1
    # decoding the label as a further variable is the same probe as label_accuracy
    assert scores["y_again_accuracy"] == pytest.approx(scores["label_accuracy"])
    assert np.isfinite(list(scores.values())).all()
    assert clf.mediator_features(d.data).shape == (600, 8)


def test_label_only_mediator_does_not_leak_and_a_copy_of_the_auxiliary_does(fitted, monkeypatch):
    clf, d = fitted
    rng = np.random.default_rng(0)
    label_only = np.eye(4)[d.target] + 0.1 * rng.normal(size=(600, 4))
    monkeypatch.setattr(clf, "mediator_features", lambda X: label_only)
    clean = mediator_diagnostics(clf, d.data, d.target)
    copy = np.asarray(d.data["auxiliary"], dtype=np.float64) + 0.1 * rng.normal(size=d.data["auxiliary"].shape)
    monkeypatch.setattr(clf, "mediator_features", lambda X: copy)
    leaky = mediator_diagnostics(clf, d.data, d.target, variables={"auxiliary_label": d.auxiliary_label})
    assert abs(clean["auxiliary_r2_given_label"]) < 0.02 and clean["label_accuracy"] > 0.95
    assert leaky["auxiliary_r2_given_label"] > 0.5
    assert leaky["auxiliary_label_accuracy"] > 0.95 > 0.5 > leaky["auxiliary_label_chance"]


def test_refuses_estimators_without_a_mediator():
    d = make_confounded_multimodal(100, predominant="table", random_state=0)
    late = LateFusionClassifier(max_epochs=1, random_state=0).fit(d.data, d.target)
    with pytest.raises(ValueError, match="auxiliary modality"):
        mediator_diagnostics(late, d.data, d.target)
    single = FrontDoorMultimodalClassifier(max_epochs=1, random_state=0).fit({"t": d.data["table"]}, d.target)
    with pytest.raises(ValueError, match="auxiliary modality"):
        mediator_diagnostics(single, {"t": d.data["table"]}, d.target)
