"""Tests of the confounded benchmark with real digits (make_confounded_digits)."""

import numpy as np
import pytest

from skcausalmm.datasets import load_multiple_features, make_confounded_digits, shortcut_patch_positions
from skcausalmm.datasets._confounded import confounded_ceilings


def _decode_trace(images, n_classes, trace):
    """A fixed rule on the frame pixels (no learning)."""
    frame = images[:, 0]
    if trace == "corner":
        positions = shortcut_patch_positions(20, 19, n_classes, 2)
        means = np.stack([frame[:, r : r + 2, c : c + 2].mean(axis=(1, 2)) for r, c in positions], axis=1)
        return means.argmax(axis=1)
    level = frame[:, :2, :].mean(axis=(1, 2))
    return np.clip(np.rint(level * n_classes - 1), 0, n_classes - 1).astype(int)


def test_shapes_dtypes_and_fields():
    d = make_confounded_digits(40, n_noise_features=3, random_state=0, return_truth=True)
    assert set(d.data) == {"image", "auxiliary"}
    assert d.data["image"].shape == d.clean_image.shape == (40, 1, 20, 19)
    assert d.data["auxiliary"].shape == (40, 4 + 3)
    for array in (*d.data.values(), d.clean_image):
        assert array.dtype == np.float32
    for name in ("target", "content", "confounder", "trace", "auxiliary_label", "image_index"):
        assert d[name].shape == (40,) and d[name].dtype == np.int64
    for name in ("target", "content", "confounder", "trace", "auxiliary_label"):
        assert d[name].min() >= 0 and d[name].max() < 4
    assert d.interventional.shape == (40, 4)
    np.testing.assert_allclose(d.interventional.sum(axis=1), 1.0)
    assert d.ceilings == confounded_ceilings(0.9, 0.0, 0.7, 0.8, 4)
    assert d.predominant == "image" and d.auxiliary == ["auxiliary"]
    assert "interventional" not in make_confounded_digits(5, random_state=0)


def test_scm_frequencies():
    n, k = 20000, 4
    d = make_confounded_digits(n, confounding=0.9, confounder_effect=0.7, auxiliary_quality=0.8, random_state=0)
    assert abs(np.mean(d.trace == d.confounder) - (0.9 + 0.1 / k)) < 0.01
    assert abs(np.mean(d.target == d.confounder) - (0.7 + 0.3 / k)) < 0.01
    assert abs(np.mean(d.auxiliary_label == d.confounder) - (0.8 + 0.2 / k)) < 0.01
    # C and U independent and uniform
    assert abs(np.mean(d.content == d.confounder) - 1 / k) < 0.01
    np.testing.assert_allclose(np.bincount(d.content) / n, 1 / k, atol=0.015)
    ood = make_confounded_digits(n, confounding=0.0, random_state=1)
    assert abs(np.mean(ood.trace == ood.confounder) - 1 / k) < 0.01


def test_content_is_a_real_digit_of_its_class():
    pix, labels = load_multiple_features(views=["pix"], return_X_y=True)
    d = make_confounded_digits(200, digits=[3, 7, 1], n_classes=3, noise_scale=0.0, random_state=0)
    np.testing.assert_array_equal(labels[d.image_index], np.array([3, 7, 1])[d.content])
    np.testing.assert_allclose(d.clean_image[:, 0, 2:-2, 2:-2], pix["pix"][d.image_index, 0] / 6.0, atol=1e-6)
    assert np.all(d.clean_image[:, 0, :2] == 0) and np.all(d.clean_image[:, 0, :, -2:] == 0)


def test_train_and_test_images_are_disjoint():
    train = make_confounded_digits(20000, images="train", random_state=0)
    test = make_confounded_digits(20000, images="test", random_state=1)
    assert not set(train.image_index) & set(test.image_index)
    # 140 / 60 images of each of the 4 digits, all reachable
    assert len(set(train.image_index)) == 4 * 140
    assert len(set(test.image_index)) == 4 * 60
    # the split does not depend on random_state
    other = make_confounded_digits(20000, images="test", random_state=7)
    assert set(other.image_index) == set(test.image_index)


def test_reproducible_with_random_state():
    a = make_confounded_digits(64, random_state=3)
    b = make_confounded_digits(64, random_state=3)
    c = make_confounded_digits(64, random_state=4)
    for key in a.data:
        np.testing.assert_array_equal(a.data[key], b.data[key])
    np.testing.assert_array_equal(a.clean_image, b.clean_image)
    np.testing.assert_array_equal(a.target, b.target)
    assert not np.array_equal(a.data["image"], c.data["image"])


@pytest.mark.parametrize("trace", ["corner", "intensity"])
@pytest.mark.parametrize("n_classes", [4, 10])
def test_trace_decoded_by_a_fixed_rule(trace, n_classes):
    d = make_confounded_digits(500, n_classes=n_classes, trace=trace, random_state=0)
    assert np.mean(_decode_trace(d.data["image"], n_classes, trace) == d.trace) > 0.99
    # the trace is the only difference between the image and the clean image, outside the digit
    diff = d.data["image"] - d.clean_image
    assert np.all(diff[:, 0, 2:-2, 2:-2] == 0)
    assert np.all(diff.reshape(500, -1).max(axis=1) > 0)


def test_auxiliary_is_one_hot_of_auxiliary_label():
    d = make_confounded_digits(100, random_state=0)
    np.testing.assert_array_equal(d.data["auxiliary"][:, :4].argmax(1), d.auxiliary_label)
    np.testing.assert_array_equal(d.data["auxiliary"][:, :4].sum(1), 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"confounding": 1.5},
        {"confounder_effect": -0.1},
        {"auxiliary_quality": "high"},
        {"ood_confounding": 2.0},
        {"n_classes": 1},
        {"n_classes": 11},
        {"n_noise_features": -1},
        {"noise_scale": -0.1},
        {"trace": "stripe"},
        {"images": "validation"},
        {"digits": [0, 0, 1, 2]},
        {"digits": [0, 1, 2]},
        {"digits": [0, 1, 2, 10]},
        {"digits": [0.0, 1.0, 2.0, 3.0]},
    ],
)
def test_parameter_validation(kwargs):
    with pytest.raises(ValueError):
        make_confounded_digits(**{"n_samples": 10, **kwargs})
