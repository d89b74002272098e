"""Tests of the ContrastiveICA transformer (kept tiny: a few epochs on small synthetic data)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skcausalmm import ContrastiveICA
from skcausalmm._core.validation import ModalityDict
from skcausalmm.contrastive import ica as ica_module
from skcausalmm.datasets._partial_causal import make_partial_causal
from skcausalmm.metrics.identifiability import identifiability_scores, mean_corr_coef


@pytest.fixture(scope="module")
def data():
    return make_partial_causal(600, n_latent=3, n_specific=1, random_state=0)


def _fast(**kw):
    params = dict(n_components=3, max_epochs=2, batch_size=128, hidden_size=16, n_hidden_layers=1, random_state=0,
                  device="cpu")
    params.update(kw)
    return ContrastiveICA(**params)


def test_one_modality_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ValueError, match="at least two modalities"):
        ContrastiveICA(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="at least two modalities"):
        ContrastiveICA(max_epochs=1).fit({"only": X})


def test_fit_transform_shapes_names_and_modality(data):
    est = _fast().fit(data.data)
    z = est.transform(data.data)
    assert z.shape == (600, 3) and z.dtype == np.float64
    assert list(est.get_feature_names_out()) == ["x_ic0", "x_ic1", "x_ic2"]
    assert est.n_components_ == 3 and set(est.ica_) == {"x", "t"}
    est.set_params(modality="t")
    zt = est.transform(data.data)
    assert list(est.get_feature_names_out()) == ["t_ic0", "t_ic1", "t_ic2"] and not np.allclose(z, zt)
    est.set_params(modality="all")
    both = est.transform(data.data)
    assert both.shape == (600, 6)
    np.testing.assert_allclose(both, np.hstack([z, zt]))
    assert len(est.get_feature_names_out()) == 6
    est.set_params(modality="image")
    with pytest.raises(ValueError, match="modality='image'"):
        est.transform(data.data)
    # a dict may leave out the modality that is not encoded
    est.set_params(modality="t")
    np.testing.assert_allclose(est.transform({"t": data.t}), zt)
    with pytest.raises(ValueError):
        est.transform({"x": data.x})


def test_representation_on_the_sphere_is_unit_norm_and_ica_whitens(data):
    est = _fast(ica=False).fit(data.data)
    rep = est.transform(data.data)
    np.testing.assert_allclose(np.linalg.norm(rep, axis=1), 1.0, rtol=1e-5)
    assert list(est.get_feature_names_out())[0] == "x_z0"
    src = est.set_params(ica=True).transform(data.data)
    np.testing.assert_allclose(np.cov(src.T), np.eye(3), atol=0.05)  # unit-variance sources


def test_pca_before_ica(data):
    est = _fast(n_components=3, pca_components=2).fit(data.data)
    assert est.transform(data.data).shape == (600, 2)
    assert est.pca_["x"].n_components_ == 2
    with pytest.raises(ValueError, match="pca_components"):
        _fast(n_components=3, pca_components=4).fit(data.data)


def test_default_n_components_and_temperature(data):
    est = ContrastiveICA(max_epochs=1, hidden_size=8, n_hidden_layers=1, random_state=0).fit(
        {"a": data.x[:, :2], "b": data.t})
    assert est.n_components_ == 2
    assert est.temperature_ == 0.2
    assert _fast(geometry="box").fit(data.data).temperature_ == 1.0


def test_determinism_and_pickle(data):
    a = _fast().fit(data.data).transform(data.data)
    est = _fast().fit(data.data)
    np.testing.assert_allclose(a, est.transform(data.data))
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.transform(data.data), a)
    assert clone(est).get_params() == est.get_params()


def test_identity_encoder_on_identified_data_keeps_mcc():
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(800, 3))
    x = z @ np.linalg.qr(rng.normal(size=(3, 3)))[0]  # an orthogonal mix: identified up to a rotation
    t = np.tanh(np.hstack([z, rng.normal(size=(800, 1))]) @ rng.normal(size=(4, 5)))
    est = _fast(geometry="box", encoders={"x": "identity"}).fit({"x": x, "t": t})
    assert mean_corr_coef(z, x) < 0.95
    assert mean_corr_coef(z, est.transform({"x": x, "t": t})) > 0.98
    with pytest.raises(ValueError, match="n_components must be 3"):
        _fast(n_components=2, encoders={"x": "identity"}).fit({"x": x, "t": t})
    with pytest.raises(ValueError, match="nothing to train"):
        _fast(encoders={"x": "identity", "t": "identity"}).fit({"x": x, "t": x})


def test_learns_coupled_latents_under_linear_mixing():
    """Linear mixing is solvable by the skip path alone: a short fit already drops m_x."""
    d = make_partial_causal(2000, n_latent=3, n_specific=2, mixing_layers=1, random_state=1)
    est = _fast(max_epochs=30, batch_size=128, lr=1e-2).fit(d.data)
    scores = identifiability_scores(d.z_x, est.set_params(ica=False).transform(d.data), d.m_x)
    assert scores["r2"] > 0.9
    assert scores["r2_specific"] < 0.1
    untrained = identifiability_scores(d.z_x, _fast(max_epochs=0, ica=False).fit(d.data).transform(d.data), d.m_x)
    assert untrained["r2_specific"] > scores["r2_specific"] + 0.1


def test_three_modalities_and_early_stopping(data):
    X = {"x": data.x, "t": data.t, "u": data.t[:, ::-1].copy()}
    est = _fast(early_stopping=True, max_epochs=3).fit(X)
    assert "valid_loss" in est.history_[-1]
    assert est.transform(X).shape == (600, 3)


def test_in_a_pipeline_before_logistic_regression(data):
    Xs = ModalityDict({"x": data.x, "t": data.t})
    y = (data.z_x[:, 0] > 0).astype(int)
    pipe = Pipeline([("cica", _fast()), ("clf", LogisticRegression())]).fit(Xs, y)
    assert pipe.predict(Xs[:5]).shape == (5,)
    assert 0.0 <= pipe.score(Xs, y) <= 1.0


def test_partial_fit_trains_one_epoch_per_call_on_fresh_samples(data):
    est = _fast()
    for i in range(3):
        est.partial_fit(data.sampler(300, random_state=i).data)
    assert len(est.history_) == 3  # one epoch per call, one network
    losses = est.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert est.transform(data.data).shape == (600, 3)
    # the same calls from a fresh estimator give the same model; fit continues nothing
    other = _fast()
    for i in range(3):
        other.partial_fit(data.sampler(300, random_state=i).data)
    np.testing.assert_allclose(other.transform(data.data), est.transform(data.data), rtol=1e-5, atol=1e-6)
    # the first call trains the epoch fit's first epoch trains (fit then starts afresh, partial_fit continues)
    stepped = _fast().partial_fit(data.data)
    np.testing.assert_allclose(stepped.history_[:, "train_loss"], _fast().fit(data.data).history_[:1, "train_loss"],
                               rtol=1e-5)
    with pytest.raises(ValueError):
        est.partial_fit({"x": data.x[:, :2], "t": data.t})  # other widths than the first call


# ------------------------------------------------------------------ restarts (n_init)
def _small(**params):
    return _fast(n_components=2, batch_size=64, **params)


def test_variance_ratio_describes_each_representation(data):
    est = _small().fit(data.data)
    assert set(est.variance_ratio_) == {"x", "t"}
    for ratio in est.variance_ratio_.values():
        assert ratio.shape == (2,) and np.isclose(ratio.sum(), 1.0) and ratio[0] >= ratio[1] >= 0


def test_auto_fits_once_when_nothing_collapsed(data, monkeypatch):
    monkeypatch.setattr(ica_module, "_COLLAPSE_SHARE", 0.0)  # nothing counts as collapsed
    auto = _small().fit(data.data)
    single = _small(n_init=1).fit(data.data)
    assert auto.n_init_ == single.n_init_ == 1
    np.testing.assert_allclose(auto.transform(data.data), single.transform(data.data))


def test_auto_refits_a_collapsed_representation_once(data, monkeypatch):
    monkeypatch.setattr(ica_module, "_COLLAPSE_SHARE", 1.0)  # every fit counts as collapsed
    seen = []
    original = ContrastiveICA._final_loss

    def spy(self):
        seen.append(original(self))
        return seen[-1]

    monkeypatch.setattr(ContrastiveICA, "_final_loss", spy)
    est = _small().fit(data.data)
    assert est.n_init_ == 2 and len(seen) == 2 and len(set(seen)) == 2  # two different initialisations
    assert est.history_[-1, "train_loss"] == min(seen)


def test_n_init_keeps_the_fit_with_the_lowest_final_loss(data, monkeypatch):
    losses = iter([3.0, 1.0, 2.0])
    kept = {}

    def final_loss(self):
        loss = next(losses)
        kept[loss] = self.net_
        return loss

    monkeypatch.setattr(ContrastiveICA, "_final_loss", final_loss)
    est = _small(n_init=3).fit(data.data)
    assert est.n_init_ == 3 and est.net_ is kept[1.0]
    assert est.net_ is not kept[3.0] and est.net_ is not kept[2.0]


def test_restarts_draw_other_initialisations_reproducibly(data):
    first = _small(n_init=2).fit(data.data)
    again = _small(n_init=2).fit(data.data)
    np.testing.assert_allclose(first.transform(data.data), again.transform(data.data))
    one = _small(n_init=1).fit(data.data)
    assert first.n_init_ == 2 and one.n_init_ == 1


def test_continued_fits_and_partial_fit_never_refit(data, monkeypatch):
    monkeypatch.setattr(ica_module, "_COLLAPSE_SHARE", 1.0)
    est = _small(warm_start=True).fit(data.data)
    assert est.n_init_ == 2
    est.fit(data.data)  # continues the network: one run
    assert est.n_init_ == 1
    streamed = _small().partial_fit(data.data)
    assert streamed.n_init_ == 1
