"""Tests of CausalInfoMinClassifier (TE-D and ATE-D) on the shared base."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skcausalmm import CausalInfoMinClassifier
from skcausalmm.datasets._shortcut import make_shortcut_multimodal
from skcausalmm.debiasing.network import AverageTreatmentEffectNetwork, TotalEffectNetwork

torch.set_num_threads(1)
FAST = dict(max_epochs=2, hidden_size=8, batch_size=64, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 3, n)
    X = {
        "image": (rng.normal(size=(n, 1, 6, 6)) + y[:, None, None, None]).astype(np.float32),
        "table": (rng.normal(size=(n, 4)) + y[:, None]).astype(np.float32),
    }
    return X, y


def test_total_effect_fit_predict_and_terms(data):
    X, y = data
    clf = CausalInfoMinClassifier(**FAST).fit(X, y)
    assert isinstance(clf.net_.module_, TotalEffectNetwork)
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert {"ce", "bias_ce", "rate", "alpha", "info_nce"} <= set(clf.history_[-1])
    for row in clf.history_:
        assert row["alpha"] * row["rate"] <= 0.25 * row["bias_ce"] + 1e-4
    Z = clf.confounder_transform(X)
    assert Z.shape == (120, 16)  # z~_c lives in the fused width (2 modalities x 8)
    with pytest.raises(AttributeError, match="ate"):
        clf.confounder_assignments(X)


def test_tie_inference_is_a_prediction_time_switch(data):
    X, y = data
    clf = CausalInfoMinClassifier(**FAST).fit(X, y)
    debiased = clf.predict_proba(X)
    clf.set_params(inference="tie")
    tie = clf.predict_proba(X)
    assert not np.allclose(debiased, tie, atol=1e-4)
    assert np.allclose(tie.sum(axis=1), 1.0)


@pytest.mark.parametrize("variant", ["additive", "backdoor", "recalibrate"])
@pytest.mark.parametrize("prior", ["uniform", "empirical"])
def test_average_treatment_effect_dictionary(data, variant, prior):
    X, y = data
    clf = CausalInfoMinClassifier(
        method="ate", ate_variant=variant, prior=prior, confounder_modality="table", code_size=32, n_confounders=4,
        **FAST,
    ).fit(X, y)
    assert isinstance(clf.net_.module_, AverageTreatmentEffectNetwork)
    assert clf.confounder_modalities_ == ["table"]
    # the code size is capped at the width of the confounder features (8)
    assert clf.confounder_dictionary_.shape == (4, 8)
    assert np.isclose(clf.confounder_prior_.sum(), 1.0)
    if prior == "uniform":
        assert np.allclose(clf.confounder_prior_, 0.25)
    else:
        counts = np.bincount(clf.confounder_kmeans_.labels_, minlength=4)
        assert np.allclose(clf.confounder_prior_, counts / counts.sum())
    codes = clf.confounder_transform(X)
    assert codes.shape == (120, 8)
    # the codes are those k-means was fitted on (the first stage is frozen inside the network)
    np.testing.assert_array_equal(clf.confounder_assignments(X), clf.confounder_kmeans_.labels_)
    assert clf.biased_estimator_.n_epochs_ == 2
    assert np.allclose(clf.predict_proba(X).sum(axis=1), 1.0)


def test_dictionary_of_one_entry(data):
    X, y = data
    clf = CausalInfoMinClassifier(method="ate", n_confounders=1, **FAST).fit(X, y)
    assert clf.confounder_dictionary_.shape[0] == 1
    module = clf.net_.module_
    # prediction = the head with the single prototype as every sample's code
    batch = {k: torch.from_numpy(v) for k, v in X.items()}
    with torch.no_grad():
        batch = clf.net_.prepare_batch(batch)[0]
        z = module(batch)["features"]
        expected = torch.softmax(module.logits_given(z, module.dictionary[0]), dim=1).numpy()
    assert np.allclose(clf.predict_proba(X), expected, atol=1e-5)


def test_first_stage_features_get_no_gradient(data):
    X, y = data
    clf = CausalInfoMinClassifier(method="ate", **FAST).fit(X, y)
    frozen = clf.net_.module_.confounder_features
    first = clf.biased_estimator_.net_.module_.encoders
    for (name, p), (_, q) in zip(frozen.encoders.named_parameters(), first.named_parameters()):
        assert not p.requires_grad
        # training the debiased network left the frozen copy equal to the first stage's encoders
        assert torch.equal(p.detach().cpu(), q.detach().cpu()), name


@pytest.mark.parametrize("method", ["te", "ate"])
def test_reproducible_pickle_and_clone(data, method):
    X, y = data
    a = CausalInfoMinClassifier(method=method, **FAST).fit(X, y)
    b = CausalInfoMinClassifier(method=method, **FAST).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_allclose(restored.predict_proba(X), a.predict_proba(X), atol=1e-6)
    assert clone(a).get_params()["method"] == method


def test_string_labels_and_class_weight_dict(data):
    X, y = data
    labels = np.array(["a", "b", "c"])[y]
    clf = CausalInfoMinClassifier(method="ate", class_weight={"a": 2.0, "b": 1.0, "c": 1.0}, **FAST).fit(X, labels)
    assert clf.biased_estimator_.class_weight == {0: 2.0, 1: 1.0, 2: 1.0}
    assert set(clf.predict(X)) <= {"a", "b", "c"}


def test_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="confounder_modality"):
        CausalInfoMinClassifier(method="ate", confounder_modality="audio", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="method"):
        CausalInfoMinClassifier(method="both", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="inference"):
        CausalInfoMinClassifier(inference="nope", **FAST).fit(X, y)
    # missing modalities are accepted (all-NaN rows), but not a modality missing everywhere nor a partly NaN row
    never = {k: v.copy() for k, v in X.items()}
    never["table"][:] = np.nan
    with pytest.raises(ValueError, match="'table'.*every training row"):
        CausalInfoMinClassifier(**FAST).fit(never, y)
    partial = {k: v.copy() for k, v in X.items()}
    partial["table"][0, 0] = np.nan
    with pytest.raises(ValueError, match="table"):
        CausalInfoMinClassifier(**FAST).fit(partial, y)


def test_ate_with_the_spurious_modality_beats_chance_on_the_shortcut_data():
    d = make_shortcut_multimodal(views=["mor"], p_train=0.9, random_state=0)
    clf = CausalInfoMinClassifier(method="ate", confounder_modality="shortcut", max_epochs=3, random_state=0,
                                  device="cpu").fit(d.train.data, d.train.target)
    # the dictionary groups the training samples by their shortcut label
    labels = clf.confounder_kmeans_.labels_
    purity = sum(np.bincount(d.train.shortcut[labels == c]).max() for c in np.unique(labels)) / len(labels)
    assert purity > 0.8
    assert clf.score(d.test_ood.data, d.test_ood.target) > 0.3


def test_a_parameter_of_the_other_method_warns_that_it_has_no_effect():
    from skcausalmm.datasets import load_multiple_features

    X, y = load_multiple_features(views=["fou", "mor"], return_X_y=True)
    X, y = X[::10], y[::10]
    with pytest.warns(UserWarning, match=r"method='te' does not use code_size=8 \(ATE-D parameters\)"):
        CausalInfoMinClassifier(code_size=8, max_epochs=1, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match=r"method='ate' does not use inference='tie' \(TE-D parameters\)"):
        CausalInfoMinClassifier(method="ate", inference="tie", max_epochs=1, random_state=0).fit(X, y)


def test_shortcut_detection_scores_a_label_code_above_real_measurements():
    from skcausalmm.debiasing.infomin import SHORTCUT_SUFFICIENCY, _find_shortcut_modalities

    rng = np.random.RandomState(0)
    n, k = 600, 5
    y = rng.randint(0, k, n)
    # a noisy one-hot of a label that agrees with y 90% of the time: a categorical code
    s = np.where(rng.uniform(size=n) < 0.9, y, rng.randint(0, k, n))
    tag = np.eye(k)[s] + 0.05 * rng.standard_normal((n, k))
    # a measurement: a continuous view whose classes overlap
    view = rng.standard_normal((n, 8)) + 0.8 * np.eye(k, 8)[y] * 3
    chosen, scores = _find_shortcut_modalities({"view": view, "tag": tag}, y, k, seed=0)
    assert chosen == ["tag"]
    assert scores["tag"] >= SHORTCUT_SUFFICIENCY > scores["view"]
    # without the tag, nothing is a shortcut; two tags: one always stays as the treatment
    assert _find_shortcut_modalities({"view": view}, y, k, seed=0)[0] == []
    assert len(_find_shortcut_modalities({"tag": tag, "tag2": tag.copy()}, y, k, seed=0)[0]) == 1


def test_ate_finds_the_shortcut_modality_and_keeps_it_out_of_the_treatment():
    d = make_shortcut_multimodal(views=["fou"], p_train=0.95, random_state=0)
    clf = CausalInfoMinClassifier(method="ate", max_epochs=3, random_state=0, device="cpu")
    clf.fit(d.train.data, d.train.target)
    assert clf.confounder_modalities_ == ["shortcut"]
    assert set(clf.confounder_scores_) == {"fou", "shortcut"}
    assert list(clf.net_.module_.encoders) == ["fou"]
    # the adjusted prediction does not move with the shortcut
    shuffled = dict(d.test_id.data, shortcut=d.test_ood.data["shortcut"])
    np.testing.assert_allclose(clf.predict_proba(shuffled), clf.predict_proba(d.test_id.data), atol=1e-6)


def test_ate_without_a_shortcut_modality_is_a_plain_fused_model(data):
    X, y = data
    clf = CausalInfoMinClassifier(method="ate", **FAST).fit(X, y)
    assert clf.confounder_modalities_ == []
    assert clf.confounder_dictionary_.shape[0] == 1
    assert list(clf.net_.module_.encoders) == ["image", "table"]
    assert clf.confounder_transform(X).shape[0] == 120


def test_ate_refuses_every_modality_as_the_confounder(data):
    X, y = data
    with pytest.raises(ValueError, match="at least one modality left as the treatment"):
        CausalInfoMinClassifier(method="ate", confounder_modality=["image", "table"], **FAST).fit(X, y)
