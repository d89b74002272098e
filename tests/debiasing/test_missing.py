"""CausalInfoMinClassifier (TE-D and ATE-D) with missing modalities: both stages."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from skcausalmm import CausalInfoMinClassifier
from skcausalmm.datasets import mask_modalities
from skcausalmm.debiasing.infomin import _find_shortcut_modalities
from skcausalmm.debiasing.network import (
    AverageTreatmentEffectNetwork,
    BackdoorLoss,
    FrozenFeatures,
    TiedLinearAutoencoder,
    TotalEffectLoss,
    TotalEffectNetwork,
)
from skcausalmm.metrics import availability_scores

torch.set_num_threads(1)
FAST = dict(max_epochs=2, hidden_size=8, batch_size=64, random_state=0, device="cpu")
NAMES = ["image", "table", "tag"]

#: every method and variant, the ATE-D ones with "tag" as the declared confounder
CONFIGS = {
    "te": dict(method="te"),
    "te-tie": dict(method="te", inference="tie"),
    "ate-additive": dict(method="ate", confounder_modality="tag", ate_variant="additive", n_confounders=3),
    "ate-backdoor": dict(method="ate", confounder_modality="tag", ate_variant="backdoor", n_confounders=3),
    "ate-recalibrate": dict(method="ate", confounder_modality="tag", ate_variant="recalibrate", n_confounders=3),
    "ate-found": dict(method="ate"),
}


def _make(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = {
        "image": (rng.normal(size=(n, 1, 6, 6)) + y[:, None, None, None]).astype(np.float32),
        "table": (rng.normal(size=(n, 4)) + y[:, None]).astype(np.float32),
        "tag": (np.eye(3)[y] + 0.05 * rng.normal(size=(n, 3))).astype(np.float32),
    }
    return X, y


@pytest.fixture(scope="module")
def data():
    X, y = _make(150, 0)
    X_test, y_test = _make(60, 1)
    return dict(mask_modalities(X, 0.3, random_state=0)), y, X_test, y_test


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    return {name: CausalInfoMinClassifier(**params, **FAST).fit(X, y) for name, params in CONFIGS.items()}


def _patterns():
    return [set(p) for k in range(1, len(NAMES) + 1) for p in itertools.combinations(NAMES, k)]


def _with_pattern(X, present):
    return {m: (v if m in present else np.full_like(v, np.nan)) for m, v in X.items()}


def _missing(X, name):
    return np.isnan(X[name].reshape(len(X[name]), -1)).all(axis=1)


# ------------------------------------------------------------------------ the estimator
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fit_and_predict_with_thirty_percent_of_each_modality_missing(data, fitted, name):
    X, y, X_test, y_test = data
    assert all(_missing(X, m).sum() == 45 for m in NAMES)  # mask_modalities: 30 % of 150 rows each
    clf = fitted[name]
    assert clf.n_missing_ == {m: 45 for m in NAMES}
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    scores = availability_scores(clf, X_test, y_test)
    assert list(scores.index) == ["image", "table", "tag", "image+table", "image+tag", "table+tag",
                                  "image+table+tag", "average"]
    assert np.isfinite(scores["accuracy"].to_numpy()).all()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_availability_pattern_gives_finite_probabilities(data, fitted, name):
    _, _, X_test, _ = data
    clf = fitted[name]
    for present in _patterns():  # single-modality rows included, never seen in training
        proba = clf.predict_proba(_with_pattern(X_test, present))
        assert proba.shape == (60, 3)
        assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0), present
    # a mixed batch: one pattern per row
    mixed = {m: v.copy() for m, v in X_test.items()}
    patterns = _patterns()
    for i in range(60):
        for m in set(NAMES) - patterns[i % len(patterns)]:
            mixed[m][i] = np.nan
    proba = clf.predict_proba(mixed)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0) and len(proba) == 60


@pytest.mark.parametrize("variant", ["additive", "backdoor"])
def test_a_missing_confounder_does_not_change_the_adjusted_prediction(data, fitted, variant):
    _, _, X_test, _ = data
    clf = fitted[f"ate-{variant}"]
    assert clf.confounder_modalities_ == ["tag"] and list(clf.net_.module_.encoders) == ["image", "table"]
    complete = clf.predict_proba(X_test)
    without = clf.predict_proba(_with_pattern(X_test, {"image", "table"}))
    np.testing.assert_allclose(without, complete, rtol=0, atol=1e-6)
    # with the confounder alone there is no treatment left: the same prediction for every row
    alone = clf.predict_proba(_with_pattern(X_test, {"tag"}))
    np.testing.assert_allclose(alone, np.broadcast_to(alone[:1], alone.shape), rtol=0, atol=1e-6)


def test_recalibration_leaves_rows_without_the_confounder_unweighted(data, fitted):
    _, _, X_test, _ = data
    clf = fitted["ate-recalibrate"]
    module = clf.net_.module_
    X = _with_pattern(X_test, {"image", "table"})
    X["tag"][:30] = X_test["tag"][:30]  # the first half keeps its confounder
    batch = {m: torch.from_numpy(np.nan_to_num(v)) for m, v in X.items()}
    availability = torch.from_numpy(np.stack([~_missing(X, m) for m in NAMES], axis=1).astype(np.float32))
    with torch.no_grad():
        out = module(clf.net_.prepare_batch(batch)[0], availability=availability)
    weights = out["weights"].numpy()
    assert np.all(weights[30:] == 1.0)
    assert np.all((weights[:30] >= 0) & (weights[:30] <= 2)) and not np.allclose(weights[:30], 1.0)
    np.testing.assert_array_equal(out["confounder_rows"].numpy(), np.r_[np.ones(30), np.zeros(30)])


def test_the_confounder_dictionary_is_built_from_the_rows_with_the_confounder(data, fitted):
    X, _, X_test, _ = data
    clf = fitted["ate-additive"]
    has_tag = ~_missing(X, "tag")
    assert len(clf.confounder_kmeans_.labels_) == has_tag.sum() == 105
    codes = clf.confounder_transform(X)
    assert np.isnan(codes[~has_tag]).all() and np.isfinite(codes[has_tag]).all()
    labels = clf.confounder_assignments(X)
    assert np.all(labels[~has_tag] == -1)
    # the codes of the rows with the confounder are those k-means was fitted on
    np.testing.assert_array_equal(labels[has_tag], clf.confounder_kmeans_.labels_)
    # complete test rows: every row has a code
    assert np.isfinite(clf.confounder_transform(X_test)).all()
    assert (clf.confounder_assignments(X_test) >= 0).all()


def test_te_confounder_features_exist_for_every_row(data, fitted):
    X, _, _, _ = data
    Z = fitted["te"].confounder_transform(X)
    assert Z.shape == (150, 24) and np.isfinite(Z).all()


def test_the_shortcut_is_found_with_missing_modalities(data, fitted):
    X, y, _, _ = data
    clf = fitted["ate-found"]
    # the tag (a noisy one-hot of the label) is a categorical code of the label, scored on its present rows
    assert clf.confounder_modalities_ == ["tag"]
    assert set(clf.confounder_scores_) == set(NAMES)
    assert list(clf.net_.module_.encoders) == ["image", "table"]


def test_declared_confounders_never_present_together_are_refused():
    X, y = _make(90, 2)
    X = {m: v.copy() for m, v in X.items()}
    X["table"][:45] = np.nan
    X["tag"][45:] = np.nan
    with pytest.raises(ValueError, match="No training row has every confounder modality"):
        CausalInfoMinClassifier(method="ate", confounder_modality=["table", "tag"], **FAST).fit(X, y)


@pytest.mark.parametrize("method", ["te", "ate"])
def test_weighted_fit_with_missing_modalities(data, method):
    X, y, X_test, _ = data
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    clf = CausalInfoMinClassifier(method=method, confounder_modality="tag" if method == "ate" else None,
                                  prior="empirical" if method == "ate" else "uniform", **FAST)
    clf.fit(X, y, sample_weight=weight)
    assert np.isfinite(clf.predict_proba(_with_pattern(X_test, {"image"}))).all()
    if method == "ate":
        has_tag = ~_missing(X, "tag")
        k = len(clf.confounder_prior_)
        counts = np.bincount(clf.confounder_kmeans_.labels_, weights=weight[has_tag], minlength=k)
        np.testing.assert_allclose(clf.confounder_prior_, counts / counts.sum())


# ------------------------------------------------------------------ the shortcut detection
def _tag_and_view(n=600, k=5, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, k, n)
    s = np.where(rng.uniform(size=n) < 0.9, y, rng.randint(0, k, n))
    tag = np.eye(k)[s] + 0.05 * rng.standard_normal((n, k))
    view = rng.standard_normal((n, 8)) + 0.8 * np.eye(k, 8)[y] * 3
    return {"view": view, "tag": tag}, y, k


def test_detection_scores_each_modality_on_its_present_rows():
    features, y, k = _tag_and_view()
    rng = np.random.RandomState(1)
    present = {m: rng.uniform(size=len(y)) > 0.3 for m in features}
    chosen, scores = _find_shortcut_modalities(features, y, k, seed=0, present=present)
    assert chosen == ["tag"]
    for m in features:
        # the score of m is that of its present rows alone: the other rows' features are not read
        garbage = dict(features, **{m: np.where(present[m][:, None], features[m], 1e3 * rng.standard_normal(features[m].shape))})
        assert _find_shortcut_modalities(garbage, y, k, seed=0, present=present)[1] == scores
        alone = _find_shortcut_modalities({m: features[m][present[m]]}, y[present[m]], k, seed=0)[1][m]
        assert scores[m] == alone
    # all rows present: the statistics of the fit without a mask, exactly
    everywhere = {m: np.ones(len(y), dtype=bool) for m in features}
    assert _find_shortcut_modalities(features, y, k, seed=0, present=everywhere) == _find_shortcut_modalities(
        features, y, k, seed=0
    )


def test_detection_with_too_few_present_rows_scores_nan_and_chooses_nothing_there():
    features, y, k = _tag_and_view()
    present = {"view": np.ones(len(y), dtype=bool), "tag": np.arange(len(y)) < 3}
    chosen, scores = _find_shortcut_modalities(features, y, k, seed=0, present=present)
    assert np.isnan(scores["tag"]) and chosen == []


def test_detection_keeps_chosen_modalities_that_share_rows():
    features, y, k = _tag_and_view()
    features = {"view": features["view"], "tag": features["tag"], "tag2": features["tag"].copy()}
    half = np.arange(len(y)) < len(y) // 2
    disjoint = {"view": np.ones(len(y), dtype=bool), "tag": half, "tag2": ~half}
    chosen, _ = _find_shortcut_modalities(features, y, k, seed=0, present=disjoint)
    assert len(chosen) == 1  # the two tags are never present together: one only
    overlapping = dict(disjoint, tag2=np.ones(len(y), dtype=bool))
    assert _find_shortcut_modalities(features, y, k, seed=0, present=overlapping)[0] == ["tag", "tag2"]


# ------------------------------------------------------------------------ the networks
class _Factory:
    def __init__(self, inputs, width=6, seed=0):
        self.inputs, self.width, self.seed = dict(inputs), width, seed

    def build_all(self):
        torch.manual_seed(self.seed)
        encoders = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, self.width), nn.ReLU()) for m, d in self.inputs.items()})
        return encoders, {m: self.width for m in self.inputs}


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = {"a": torch.randn(n, 5, generator=g), "b": torch.randn(n, 3, generator=g), "c": torch.randn(n, 4, generator=g)}
    return X, torch.randint(0, 3, (n,), generator=g)


def _networks():
    X, _ = _batch(40, seed=9)
    factory = _Factory({"a": 5, "b": 3, "c": 4})
    first, _ = _Factory({"a": 5, "b": 3, "c": 4}, seed=3).build_all()
    frozen = FrozenFeatures(first, ["c"])
    autoencoder = TiedLinearAutoencoder(6, 3).fit(frozen(X))
    dictionary = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4])
    nets = {"te": (TotalEffectNetwork(factory, 3, handle_missing=True), TotalEffectLoss())}
    for variant in ("additive", "backdoor", "recalibrate"):
        net = AverageTreatmentEffectNetwork(
            factory, 3, frozen, autoencoder, dictionary, prior, variant=variant, hidden_size=5, handle_missing=True,
            treatment=None if variant == "recalibrate" else ["a", "b"], recalibrated=["c"],
        )
        nets[variant] = (net, BackdoorLoss())
    return nets


@pytest.mark.parametrize("name", ["te", "additive", "backdoor", "recalibrate"])
def test_an_all_present_mask_changes_nothing(name):
    """The mask path on complete rows: the same outputs, loss terms and gradients as without a mask."""
    net, loss = _networks()[name]
    X, y = _batch()
    ones = torch.ones(len(y), 3)
    grads = []
    for availability in (None, ones):
        net.zero_grad()
        out = net(X) if availability is None else net(X, availability=availability)
        value = loss(out, y)
        value.backward()
        grads.append({k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None})
        if availability is None:
            plain, plain_value, plain_terms = out, value.detach(), dict(loss.last_terms_)
    assert torch.equal(value.detach(), plain_value)
    assert {k: float(v) for k, v in loss.last_terms_.items()} == {k: float(v) for k, v in plain_terms.items()}
    for key in ("logits", "features"):
        assert torch.equal(out[key], plain[key])
    for key in grads[0]:
        assert torch.equal(grads[0][key], grads[1][key]), key
    # the absent embeddings get a zero gradient when nothing is missing
    assert all(not bool(g.any()) for k, g in grads[1].items() if "absent" in k)
    with torch.no_grad():
        assert torch.equal(net.predict_proba(X, availability=ones), net.predict_proba(X))


@pytest.mark.parametrize("name", ["te", "additive", "backdoor", "recalibrate"])
def test_a_missing_modality_is_not_read(name):
    net, _ = _networks()[name]
    net.eval()
    X, _ = _batch()
    availability = torch.ones(16, 3)
    availability[::2, 0] = 0  # "a" missing in every other row
    availability[1::4, 2] = 0  # "c" (ATE-D's confounder) missing in some others
    other = dict(X, a=X["a"] + 100.0, c=torch.where(availability[:, 2:] > 0, X["c"], X["c"] - 50.0))
    other["a"] = torch.where(availability[:, :1] > 0, X["a"], other["a"])
    with torch.no_grad():
        first = net.predict_proba(X, availability=availability)
        second = net.predict_proba(other, availability=availability)
        out = net(X, availability=availability)
        trained = net(other, availability=availability)
    assert torch.allclose(first, second, atol=1e-6)
    # the training-time outputs neither (for ATE-D, the code term of a row without its confounder)
    assert torch.allclose(out["logits"], trained["logits"], atol=1e-6)
    assert torch.isfinite(first).all() and torch.allclose(first.sum(1), torch.ones(16))
    # a missing treatment modality's features are its absent embedding (zeros before training)
    assert torch.equal(out["modality_features"]["a"][::2], torch.zeros(8, 6))
    assert torch.equal(out["present"]["a"], availability[:, 0])


def test_a_network_without_absent_embeddings_refuses_a_mask():
    X, _ = _batch()
    net = TotalEffectNetwork(_Factory({"a": 5, "b": 3, "c": 4}), 3)
    with pytest.raises(ValueError, match="handle_missing=False"):
        net(X, availability=torch.ones(16, 3))
