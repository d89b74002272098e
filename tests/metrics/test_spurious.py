"""Tests of the spurious-sufficiency metric (our ERASER-style definition)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from skcausalmm import ModalityDict
from skcausalmm.metrics.spurious import spurious_sufficiency


class _DictModel(ClassifierMixin, BaseEstimator):
    """A fixed 'model' on {real, cue}: softmax(w_real * onehot(real) + w_cue * onehot(cue))."""

    def __init__(self, w_real=1.0, w_cue=1.0):
        self.w_real, self.w_cue = w_real, w_cue
        self.classes_ = np.arange(3)

    def predict_proba(self, X):
        logits = self.w_real * np.asarray(X["real"]) + self.w_cue * np.asarray(X["cue"])
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    eye = np.eye(3)
    return {"real": 3 * eye[y], "cue": 3 * eye[y]}, y


def test_model_that_only_reads_the_cue_is_fully_sufficient():
    X, y = _data()
    s = spurious_sufficiency(_DictModel(w_real=0.0, w_cue=1.0), X, y, "cue")
    assert s["sufficiency"] == pytest.approx(1.0) and s["probability_drop"] == pytest.approx(0.0)
    assert s["unchanged"] == 1.0 and s["accuracy_spurious_only"] == 1.0


def test_model_that_ignores_the_cue_scores_lower():
    X, y = _data()
    cue_model = spurious_sufficiency(_DictModel(0.2, 1.0), X, y, "cue")
    real_model = spurious_sufficiency(_DictModel(1.0, 0.0), X, y, "cue")
    assert real_model["sufficiency"] < cue_model["sufficiency"]
    assert real_model["unchanged"] < cue_model["unchanged"]
    # ignoring the cue, the spurious-only input (real view zeroed) is uninformative: the drop is p(c|x) - 1/3
    zeroed = spurious_sufficiency(_DictModel(1.0, 0.0), X, y, "cue", baseline="zeros")
    p_full = _DictModel(1.0, 0.0).predict_proba(X).max(axis=1).mean()
    assert zeroed["probability_drop"] == pytest.approx(p_full - 1 / 3, abs=1e-9)


def test_callable_and_modality_name_agree():
    X, y = _data()
    model = _DictModel(1.0, 0.5)

    def keep_cue(X):
        return {"real": np.repeat(X["real"].mean(axis=0, keepdims=True), len(X["real"]), axis=0), "cue": X["cue"]}

    by_name = spurious_sufficiency(model, X, y, "cue")
    by_callable = spurious_sufficiency(model, X, y, keep_cue)
    assert by_name == pytest.approx(by_callable)


@pytest.mark.parametrize("baseline", ["mean", "zeros", "shuffle"])
def test_baselines_and_containers(baseline):
    X, y = _data()
    s = spurious_sufficiency(_DictModel(1.0, 1.0), ModalityDict(X), y, ["cue"], baseline=baseline, random_state=0)
    assert set(s) == {"sufficiency", "probability_drop", "unchanged", "accuracy", "accuracy_spurious_only"}
    assert 0.0 <= s["unchanged"] <= 1.0 and s["accuracy"] == 1.0
    assert "accuracy" not in spurious_sufficiency(_DictModel(), X, None, "cue")


def test_errors():
    X, y = _data()
    model = _DictModel()
    with pytest.raises(ValueError, match="spurious"):
        spurious_sufficiency(model, X, y)
    with pytest.raises(ValueError, match="not in X"):
        spurious_sufficiency(model, X, y, "image")
    with pytest.raises(ValueError, match="every modality"):
        spurious_sufficiency(model, X, y, ["real", "cue"])
    with pytest.raises(ValueError, match="baseline"):
        spurious_sufficiency(model, X, y, "cue", baseline="median")
    with pytest.raises(TypeError, match="dict"):
        spurious_sufficiency(model, np.zeros((3, 2)), None, "cue")
    with pytest.raises(ValueError, match="every sample"):
        spurious_sufficiency(model, X, y, lambda X: {k: v[:5] for k, v in X.items()})
