"""Tests of the identifiability scores (held-out linear R², R² onto specific latents, MCC)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.decomposition import FastICA

from skcausalmm.metrics.identifiability import heldout_linear_r2, identifiability_scores, mean_corr_coef


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6))
def test_mcc_of_permutation_and_scale_is_one(seed, k):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, size=(300, k))
    perm = rng.permutation(k)
    scale = rng.uniform(0.2, 5.0, size=k) * rng.choice([-1.0, 1.0], size=k)
    z_hat = z[:, perm] * scale + rng.normal(size=k)
    assert mean_corr_coef(z, z_hat) == pytest.approx(1.0, abs=1e-10)
    mcc, (rows, cols, _) = mean_corr_coef(z, z_hat, return_matching=True)
    # the matching recovers the permutation: z[:, i] is matched with the column that holds it
    np.testing.assert_array_equal(perm[cols], rows)


def test_mcc_of_a_rotation_is_below_one_and_independent_noise_is_low():
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(5000, 4))
    assert mean_corr_coef(z, z @ ortho_group.rvs(4, random_state=0)) < 0.9
    assert mean_corr_coef(z, rng.normal(size=(5000, 4))) < 0.05


def test_ica_recovers_orthogonally_mixed_uniform_sources():
    rng = np.random.default_rng(0)
    s = rng.uniform(-1, 1, size=(5000, 5))
    x = s @ ortho_group.rvs(5, random_state=1).T
    assert mean_corr_coef(s, x) < 0.9
    s_hat = FastICA(random_state=0, whiten="unit-variance").fit_transform(x)
    assert mean_corr_coef(s, s_hat) > 0.99


def test_linear_r2_and_specific_r2():
    rng = np.random.default_rng(0)
    z, m = rng.uniform(size=(1000, 3)), rng.uniform(size=(1000, 2))
    mix = rng.normal(size=(3, 3))
    s = identifiability_scores(z, z @ mix + 3.0, z_specific=m)
    assert s["r2"] == pytest.approx(1.0, abs=1e-10)
    assert abs(s["r2_specific"]) < 0.02
    # a representation that also carries m has a large specific R²
    s2 = identifiability_scores(z, np.hstack([z, m]), z_specific=m)
    assert s2["r2_specific"] > 0.99
    # a non-linear (monotone) map of z is not linearly identified
    assert identifiability_scores(z, np.exp(6 * z))["r2"] < 0.95
    assert "r2_specific" not in identifiability_scores(z, z)
    assert "r2_specific" not in identifiability_scores(z, z, z_specific=np.empty((1000, 0)))


def test_r2_is_held_out():
    """A representation of pure noise with many columns fits the training half but not the test half."""
    rng = np.random.default_rng(0)
    z, noise = rng.normal(size=(60, 1)), rng.normal(size=(60, 25))
    assert heldout_linear_r2(noise, z) < 0.0


def test_bad_input():
    z = np.zeros((10, 2))
    with pytest.raises(ValueError, match="same number of samples"):
        mean_corr_coef(z, np.zeros((9, 2)))
    with pytest.raises(ValueError, match="same number of samples"):
        identifiability_scores(z, np.zeros((9, 2)))
    with pytest.raises(ValueError, match="test_size"):
        heldout_linear_r2(z, z, test_size=1.5)
    with pytest.raises(ValueError):
        identifiability_scores(np.full((10, 2), np.nan), z)
