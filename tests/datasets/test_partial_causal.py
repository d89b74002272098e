"""Tests of the latent partial causal generator (make_partial_causal) and its samplers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcausalmm.datasets._partial_causal import InvertibleLeakyMLP, make_partial_causal, sample_von_mises_fisher


@pytest.mark.parametrize("geometry", ["sphere", "box"])
def test_shapes_and_determinism(geometry):
    a = make_partial_causal(300, n_latent=4, n_specific=2, geometry=geometry, random_state=0)
    b = make_partial_causal(300, n_latent=4, n_specific=2, geometry=geometry, random_state=0)
    c = make_partial_causal(300, n_latent=4, n_specific=2, geometry=geometry, random_state=1)
    assert a.x.shape == a.t.shape == (300, 6) and a.x.dtype == np.float32
    assert a.z_x.shape == a.z_t.shape == (300, 4) and a.m_x.shape == a.m_t.shape == (300, 2)
    assert set(a.data) == {"x", "t"}
    np.testing.assert_array_equal(a.data["x"], a.x)
    for key in ("x", "t", "z_x", "z_t", "m_x", "m_t"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a.x, c.x)


def test_sphere_latents_and_concentration():
    d = make_partial_causal(4000, n_latent=5, n_specific=1, geometry="sphere", concentration=20.0, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(d.z_x, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(d.z_t, axis=1), 1.0, atol=1e-12)
    loose = make_partial_causal(4000, n_latent=5, n_specific=1, concentration=2.0, random_state=0)
    tight_cos = np.mean(np.sum(d.z_x * d.z_t, axis=1))
    loose_cos = np.mean(np.sum(loose.z_x * loose.z_t, axis=1))
    assert tight_cos > loose_cos + 0.2 and tight_cos > 0.85


def test_vmf_mean_resultant_length_matches_theory():
    """E[<mu, x>] = I_{d/2}(kappa) / I_{d/2-1}(kappa) for the von Mises-Fisher law on S^(d-1)."""
    from scipy.special import iv

    d, kappa = 4, 5.0
    mu = np.tile(np.eye(d)[0], (40000, 1))
    s = sample_von_mises_fisher(mu, kappa, random_state=0)
    expected = iv(d / 2, kappa) / iv(d / 2 - 1, kappa)
    assert s[:, 0].mean() == pytest.approx(expected, abs=0.01)
    # the orthogonal part is isotropic
    assert np.abs(s[:, 1:].mean(axis=0)).max() < 0.02


def test_box_latents_stay_in_the_box_and_are_coupled():
    d = make_partial_causal(3000, n_latent=3, n_specific=2, geometry="box", concentration=10.0, random_state=0)
    for z in (d.z_x, d.z_t, d.m_x, d.m_t):
        assert z.min() >= -1.0 and z.max() <= 1.0
    diff = d.z_t - d.z_x
    assert np.median(np.abs(diff)) == pytest.approx(np.log(2) / 10.0, rel=0.25)  # Laplace median |.| = b ln 2
    # specific latents are independent of the coupled ones
    assert np.abs(np.corrcoef(d.m_x.T, d.z_x.T)[:2, 2:]).max() < 0.1


def test_sphere_marginals_differ():
    cube = make_partial_causal(20000, n_latent=3, n_specific=0, marginal="cube", random_state=0).z_x
    unif = make_partial_causal(20000, n_latent=3, n_specific=0, marginal="uniform", random_state=0).z_x
    # uniform on S^2: each coordinate is uniform on [-1, 1] (Archimedes), E|z_1| = 1/2;
    # the projected cube puts more mass near the corners (all |z_i| near 1/sqrt(3)), so the
    # largest coordinate is smaller on average than under the uniform law
    assert np.abs(unif[:, 0]).mean() == pytest.approx(0.5, abs=0.01)
    assert np.abs(cube).max(axis=1).mean() < np.abs(unif).max(axis=1).mean() - 0.02


def test_generalised_normal_marginal_interpolates():
    """beta = 2 is the uniform law on the sphere; larger beta moves mass towards the diagonals."""
    stats = {}
    for marginal in (2.0, 4.0, "cube"):
        z = make_partial_causal(20000, n_latent=3, n_specific=0, marginal=marginal, random_state=0).z_x
        stats[marginal] = np.abs(z).max(axis=1).mean()
    unif = make_partial_causal(20000, n_latent=3, n_specific=0, marginal="uniform", random_state=1).z_x
    assert stats[2.0] == pytest.approx(np.abs(unif).max(axis=1).mean(), abs=0.01)
    assert stats[2.0] > stats[4.0] + 0.01 > stats["cube"] + 0.02


def test_ica_finds_the_axes_of_the_default_sphere_marginal_but_not_of_the_uniform_one():
    from scipy.stats import ortho_group
    from sklearn.decomposition import FastICA

    from skcausalmm.metrics.identifiability import mean_corr_coef

    rotation = ortho_group.rvs(6, random_state=1)
    mcc = {}
    for marginal in (4.0, "uniform"):
        z = make_partial_causal(5000, n_latent=6, n_specific=0, marginal=marginal, random_state=0).z_x
        sources = FastICA(whiten="unit-variance", max_iter=1000, random_state=0).fit_transform(z @ rotation.T)
        mcc[marginal] = mean_corr_coef(z, sources)
    assert mcc[4.0] > 0.99
    assert mcc["uniform"] < 0.9


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, 7), layers=st.integers(1, 4), seed=st.integers(0, 1000))
def test_mixer_is_invertible(d, layers, seed):
    g = InvertibleLeakyMLP(d, layers, random_state=seed)
    z = np.random.default_rng(seed).normal(size=(50, d))
    np.testing.assert_allclose(g.inverse(g(z)), z, atol=1e-8)
    for w in g.weights_:
        np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0)
        assert np.linalg.cond(w) <= g.max_condition + 1e-9


def test_nonlinear_mixing_is_not_linear():
    d = make_partial_causal(2000, n_latent=3, n_specific=1, mixing_layers=3, random_state=0)
    lin = make_partial_causal(2000, n_latent=3, n_specific=1, mixing_layers=1, random_state=0)
    z = np.hstack([d.z_x, d.m_x])

    def linear_fit_residual(x):
        coef, *_ = np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), z, rcond=None)
        return np.mean((np.hstack([x, np.ones((len(x), 1))]) @ coef - z) ** 2)

    assert linear_fit_residual(lin.x.astype(float)) < 1e-8
    assert linear_fit_residual(d.x.astype(float)) > 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_latent": 1}, "n_latent"),
        ({"n_specific": -1}, "n_specific"),
        ({"geometry": "torus"}, "geometry"),
        ({"concentration": 0.0}, "concentration"),
        ({"mixing_layers": 0}, "mixing_layers"),
        ({"marginal": "gauss"}, "marginal"),
        ({"marginal": -1.0}, "marginal"),
        ({"n_samples": 2.5}, "n_samples"),
    ],
)
def test_bad_parameters(kwargs, match):
    params = {"n_samples": 10}
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_partial_causal(**params)


@pytest.mark.parametrize("geometry", ["sphere", "box"])
def test_sampler_draws_fresh_pairs_from_the_same_model(geometry):
    d = make_partial_causal(400, n_latent=3, n_specific=1, geometry=geometry, random_state=0)
    fresh = d.sampler(300, random_state=1)
    again = d.sampler(300, random_state=1)
    assert fresh.x.shape == (300, 4) and fresh.z_x.shape == (300, 3) and fresh.m_x.shape == (300, 1)
    np.testing.assert_array_equal(fresh.x, again.x)  # seeded
    assert not np.allclose(fresh.x[:10], d.x[:10])  # new latents
    # the same mixers: the observations are the mixers applied to the new latents
    assert fresh.mixing_x is d.mixing_x and fresh.sampler is d.sampler
    np.testing.assert_allclose(fresh.x, d.mixing_x(np.hstack([fresh.z_x, fresh.m_x])), rtol=1e-5, atol=1e-5)
    # the same law: the coupling of z_x and z_t is as strong as in the original draw
    corr = lambda b: np.mean([np.corrcoef(b.z_x[:, i], b.z_t[:, i])[0, 1] for i in range(3)])  # noqa: E731
    assert abs(corr(fresh) - corr(d)) < 0.1
    with pytest.raises(ValueError, match="n_samples"):
        d.sampler(0)
