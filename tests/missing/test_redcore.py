"""Tests of RedCoreClassifier (the estimator layer; the torch pieces are in test_modules_redcore.py)."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from skcausalmm import ModalityDict, RedCoreClassifier
from skcausalmm.datasets import mask_modalities

SMALL = dict(hidden_size=8, latent_dim=4, imputer_layers=(8,), n_blocks=1, max_epochs=4, batch_size=32, random_state=0)


def make_data(n=120, seed=0):
    """A latent class seen by three modalities: a strong, a medium and a pure-noise one."""
    model = np.random.default_rng(12345)  # the same generative model for every sample
    centers, mixing = model.normal(size=(3, 2)) * 3, model.normal(size=(2, 4))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    z = centers[y] + rng.normal(size=(n, 2))
    X = {
        "strong": np.c_[z, z[:, :1]] + 0.1 * rng.normal(size=(n, 3)),
        "medium": z @ mixing + 2.0 * rng.normal(size=(n, 4)),
        "noise": rng.normal(size=(n, 2)),
    }
    return {k: v.astype(np.float32) for k, v in X.items()}, y


def nan_block(n, d):
    return np.full((n, d), np.nan, dtype=np.float32)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_data()
    Xm = mask_modalities(X, {"strong": 0.3, "medium": 0.5, "noise": 0.2}, random_state=0)
    return RedCoreClassifier(**SMALL).fit(Xm, y), X, Xm, y


def test_fit_records_weights_and_history(fitted):
    clf, X, Xm, y = fitted
    assert clf.modality_names_ == ["strong", "medium", "noise"]
    assert clf.supervision_weights_.shape == (3,)
    assert np.linalg.norm(clf.supervision_weights_) == pytest.approx(1.0, rel=1e-6)
    assert np.all(clf.supervision_weights_ >= 0.1 / np.sqrt(3 * 10.0))
    assert clf.relative_advantage_.sum() == pytest.approx(0.0, abs=1e-5)
    for m in clf.modality_names_:
        betas = clf.history_[:, f"beta_{m}"]
        assert len(betas) == SMALL["max_epochs"]
        assert all(np.isfinite(clf.history_[:, f"ra_{m}"]))
        assert clf.history_[-1, f"mse_{m}"] >= 0
    assert clf.n_missing_ == {"strong": 36, "medium": 60, "noise": 24}
    # adaptive weights moved away from the uniform start
    assert not np.allclose(clf.supervision_weights_, 3**-0.5)


def test_adaptive_false_keeps_beta_constant():
    X, y = make_data()
    Xm = mask_modalities(X, 0.4, random_state=1)
    clf = RedCoreClassifier(adaptive=False, **SMALL).fit(Xm, y)
    np.testing.assert_allclose(clf.supervision_weights_, np.full(3, 3**-0.5), rtol=1e-6)
    for m in clf.modality_names_:
        np.testing.assert_allclose(clf.history_[:, f"beta_{m}"], 3**-0.5, rtol=1e-6)


def test_values_inside_missing_blocks_never_change_predictions(fitted):
    clf, X, Xm, y = fitted
    proba = clf.predict_proba(Xm)
    rng = np.random.default_rng(3)
    X2 = {}
    for name, arr in Xm.items():
        arr = np.array(X[name], copy=True)
        missing = np.isnan(Xm[name][:, 0])
        arr[missing] = rng.normal(scale=100.0, size=arr[missing].shape)  # garbage, then NaN again
        arr[missing] = np.nan
        X2[name] = arr
    np.testing.assert_array_equal(clf.predict_proba(X2), proba)
    # and the mask matters: the complete data give other probabilities
    assert not np.allclose(clf.predict_proba(X), proba)


def test_predictions_deterministic_and_reproducible(fitted):
    clf, X, Xm, y = fitted
    np.testing.assert_array_equal(clf.predict_proba(Xm), clf.predict_proba(Xm))
    again = clone(clf).fit(Xm, y)
    np.testing.assert_allclose(again.predict_proba(Xm), clf.predict_proba(Xm), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(again.supervision_weights_, clf.supervision_weights_, rtol=1e-6)


def test_every_pattern_including_unseen_ones():
    X, y = make_data()
    n = len(y)
    # training sees only two patterns: all three present, and strong+noise (medium missing)
    Xt = {k: v.copy() for k, v in X.items()}
    Xt["medium"][: n // 2] = np.nan
    clf = RedCoreClassifier(**SMALL).fit(Xt, y)
    for pattern in (["strong"], ["medium"], ["noise"], ["medium", "noise"]):
        Xp = {k: (v[:10] if k in pattern else nan_block(10, v.shape[1])) for k, v in X.items()}
        proba = clf.predict_proba(Xp)
        assert proba.shape == (10, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="at least one present modality"):
        clf.predict({k: nan_block(2, v.shape[1]) for k, v in X.items()})


def test_transform_is_fused_latent(fitted):
    clf, X, Xm, y = fitted
    Z = clf.transform(Xm)
    assert Z.shape == (len(y), 3 * SMALL["latent_dim"]) and Z.dtype == np.float64
    # the strong block of a row with strong present does not depend on the other modalities
    Xs = {k: (v if k == "strong" else nan_block(*v.shape)) for k, v in X.items()}
    Zs, Zc = clf.transform(Xs), clf.transform(X)
    np.testing.assert_allclose(Zs[:, :4], Zc[:, :4], rtol=1e-5, atol=1e-6)
    # the imputed medium block follows from strong: it differs between samples
    assert np.std(Zs[:, 4:8], axis=0).min() > 0


def test_input_forms_agree():
    X, y = make_data(n=90)
    Xm = mask_modalities(X, {"strong": 0.2, "medium": 0.4}, random_state=2)
    ref = RedCoreClassifier(**SMALL).fit(Xm, y).predict_proba(Xm)
    from_slicedict = RedCoreClassifier(**SMALL).fit(ModalityDict(Xm), y).predict_proba(ModalityDict(Xm))
    np.testing.assert_allclose(from_slicedict, ref, rtol=1e-5, atol=1e-6)
    table = pd.DataFrame(np.column_stack([Xm["strong"], Xm["medium"], Xm["noise"]]))
    table.columns = [f"c{i}" for i in range(table.shape[1])]
    sel = {"strong": ["c0", "c1", "c2"], "medium": slice(3, 7), "noise": [7, 8]}
    from_frame = RedCoreClassifier(modalities=sel, **SMALL).fit(table, y).predict_proba(table)
    np.testing.assert_allclose(from_frame, ref, rtol=1e-5, atol=1e-6)


def test_train_missing_rates_simulates_the_protocol():
    X, y = make_data()
    clf = RedCoreClassifier(train_missing_rates={"strong": 0.5, "noise": 0.25}, **SMALL).fit(X, y)
    assert clf.n_missing_ == {"strong": 60, "medium": 0, "noise": 30}
    same = RedCoreClassifier(train_missing_rates={"strong": 0.5, "noise": 0.25}, **SMALL).fit(X, y)
    np.testing.assert_array_equal(same.predict_proba(X), clf.predict_proba(X))
    everywhere = RedCoreClassifier(train_missing_rates=0.3, **SMALL).fit(X, y)
    assert everywhere.n_missing_ == {"strong": 36, "medium": 36, "noise": 36}
    Xm = mask_modalities(X, 0.2, random_state=0)
    with pytest.raises(ValueError, match="already has missing rows"):
        RedCoreClassifier(train_missing_rates=0.3, **SMALL).fit(Xm, y)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        RedCoreClassifier(train_missing_rates={"strong": 1.5}, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="unknown modalities"):
        RedCoreClassifier(train_missing_rates={"other": 0.5}, **SMALL).fit(X, y)


def test_bad_parameters_raise_clear_errors():
    X, y = make_data(n=60)
    with pytest.raises(ValueError, match="imputer_layers"):
        RedCoreClassifier(**{**SMALL, "imputer_layers": ()}).fit(X, y)
    with pytest.raises(ValueError, match="imputer_layers"):
        RedCoreClassifier(**{**SMALL, "imputer_layers": (8, 0)}).fit(X, y)
    with pytest.raises(ValueError, match="beta_min"):
        RedCoreClassifier(**{**SMALL, "beta_min": 0.0}).fit(X, y)
    with pytest.raises(ValueError, match="update_interval"):
        RedCoreClassifier(**{**SMALL, "update_interval": 0}).fit(X, y)
    Xn = {k: v.copy() for k, v in X.items()}
    Xn["medium"][:] = np.nan
    with pytest.raises(ValueError, match="every training row"):
        RedCoreClassifier(**SMALL).fit(Xn, y)


def test_pickle_round_trip(fitted):
    clf, X, Xm, y = fitted
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(Xm), clf.predict_proba(Xm))
    np.testing.assert_array_equal(restored.supervision_weights_, clf.supervision_weights_)


def test_learns_and_uses_the_imputer():
    X, y = make_data(n=300, seed=4)
    Xm = mask_modalities(X, {"strong": 0.4, "medium": 0.2, "noise": 0.0}, random_state=0)
    clf = RedCoreClassifier(**{**SMALL, "max_epochs": 30, "hidden_size": 16}).fit(Xm, y)
    Xt, yt = make_data(n=200, seed=5)
    assert clf.score(Xt, yt) > 0.8
    # only "medium" present: the fused input of "strong" is imputed from it, and predictions beat chance
    only_medium = {k: (v if k == "medium" else nan_block(*v.shape)) for k, v in Xt.items()}
    assert clf.score(only_medium, yt) > 0.75
    only_noise = {k: (v if k == "noise" else nan_block(*v.shape)) for k, v in Xt.items()}
    assert clf.score(only_noise, yt) < 0.5  # pure noise: near chance (1/3)
