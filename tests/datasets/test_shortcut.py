"""Tests of the shortcut benchmark generator on the bundled real data."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skcausalmm.datasets import load_multiple_features
from skcausalmm.datasets._shortcut import make_shortcut_multimodal, shortcut_patch_positions


def test_modality_rendering_shapes_and_split():
    d = make_shortcut_multimodal(views=["pix", "fou"], random_state=0)
    assert d.modalities == ["pix", "fou", "shortcut"] and d.spurious == "shortcut"
    assert d.train.data["pix"].shape == (1400, 1, 16, 15)
    assert d.train.data["shortcut"].shape == (1400, 10)
    assert d.test_id.data["fou"].shape == d.test_ood.data["fou"].shape == (600, 76)
    for part in (d.train, d.test_id, d.test_ood):
        assert all(v.dtype == np.float32 for v in part.data.values())
        assert part.target.dtype == np.int64 and part.shortcut.dtype == np.int64
    # stratified split: every digit appears 140 / 60 times
    assert np.all(np.bincount(d.train.target) == 140) and np.all(np.bincount(d.test_id.target) == 60)
    # the held-out copies share real views and labels; only the shortcut differs
    np.testing.assert_array_equal(d.test_id.data["pix"], d.test_ood.data["pix"])
    np.testing.assert_array_equal(d.test_id.target, d.test_ood.target)
    assert not np.array_equal(d.test_id.shortcut, d.test_ood.shortcut)


def test_real_views_are_the_bundled_data():
    d = make_shortcut_multimodal(views=["fou", "mor"], random_state=1)
    X, y = load_multiple_features(views=["fou", "mor"], return_X_y=True)
    rows = {tuple(r) for r in np.round(X["fou"], 5)}
    assert all(tuple(r) in rows for r in np.round(d.train.data["fou"][:50], 5))


@settings(max_examples=8, deadline=None)
@given(st.floats(0.5, 1.0), st.integers(0, 1000))
def test_agreement_follows_p_train_and_ood_is_uninformative(p, seed):
    d = make_shortcut_multimodal(views=["mor"], p_train=p, random_state=seed)
    n = len(d.train.target)
    assert abs(d.train.agreement - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9
    assert abs(d.test_ood.agreement - 0.1) < 0.06
    # out of distribution, the shortcut is independent of the label: roughly uniform in each class
    assert np.all(np.bincount(d.test_ood.shortcut, minlength=10) > 20)
    # disagreeing shortcuts are never the label
    wrong = d.train.shortcut != d.train.target
    assert wrong.sum() == round((1 - d.train.agreement) * n)


def test_shortcut_modality_encodes_the_shortcut_label():
    d = make_shortcut_multimodal(views=["mor"], shortcut_noise=0.1, n_noise_features=3, random_state=2)
    block = d.train.data["shortcut"]
    assert block.shape[1] == 13
    np.testing.assert_array_equal(block[:, :10].argmax(axis=1), d.train.shortcut)


def test_patch_rendering():
    d = make_shortcut_multimodal(views=["pix", "fou"], shortcut="patch", shortcut_noise=0.0, random_state=3)
    assert d.modalities == ["pix", "fou"] and d.spurious is None
    img, s = d.train.data["pix"], d.train.shortcut
    pos = d.patch_positions
    assert img.max() == pytest.approx(12.0)
    for i in range(20):
        r, c = pos[s[i]]
        assert np.all(img[i, 0, r : r + 2, c : c + 2] == 12.0)
        # the other classes' patch positions keep real pixel values (<= 6)
        others = [j for j in range(10) if j != s[i]]
        assert all(img[i, 0, pos[j][0], pos[j][1]] <= 6.0 for j in others)


def test_patch_positions_distinct_and_non_overlapping():
    pos = shortcut_patch_positions()
    assert pos.shape == (10, 2) and len({tuple(p) for p in pos}) == 10
    for i in range(10):
        for j in range(i + 1, 10):
            assert abs(pos[i][0] - pos[j][0]) >= 2 or abs(pos[i][1] - pos[j][1]) >= 2
    assert pos[:, 0].max() <= 14 and pos[:, 1].max() <= 13
    with pytest.raises(ValueError, match="positions"):
        shortcut_patch_positions(4, 4, 10)


def test_seeded_and_different_seeds_differ():
    a = make_shortcut_multimodal(views=["mor"], random_state=5)
    b = make_shortcut_multimodal(views=["mor"], random_state=5)
    c = make_shortcut_multimodal(views=["mor"], random_state=6)
    np.testing.assert_array_equal(a.train.data["shortcut"], b.train.data["shortcut"])
    np.testing.assert_array_equal(a.test_ood.shortcut, b.test_ood.shortcut)
    assert not np.array_equal(a.train.target, c.train.target)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"views": ["nope"]}, "views"),
        ({"views": ["fou", "fou"]}, "views"),
        ({"shortcut": "stripe"}, "shortcut"),
        ({"views": ["fou"], "shortcut": "patch"}, "pix"),
        ({"p_train": 1.5}, "p_train"),
        ({"p_test": -0.1}, "p_test"),
        ({"test_size": 1.0}, "test_size"),
        ({"shortcut_noise": -1.0}, "shortcut_noise"),
        ({"n_noise_features": -2}, "n_noise_features"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shortcut_multimodal(**kwargs)
