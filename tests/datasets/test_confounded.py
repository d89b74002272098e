"""Tests of the confounded front-door benchmark generator."""

import numpy as np
import pytest

from skcausalmm.datasets._confounded import (
    confounded_ceilings,
    confounded_interventional_proba,
    make_confounded_multimodal,
)


@pytest.mark.parametrize("predominant, shape", [("image", (1, 16, 16)), ("table", (16,))])
def test_shapes_and_dtypes(predominant, shape):
    d = make_confounded_multimodal(50, predominant=predominant, n_noise_features=3, random_state=0)
    assert set(d.data) == {predominant, "auxiliary"}
    assert d.data[predominant].shape == (50, *shape)
    assert d.data["auxiliary"].shape == (50, 4 + 3)
    for array in d.data.values():
        assert array.dtype == np.float32
    for name in ("target", "content", "confounder", "trace", "auxiliary_label"):
        assert d[name].shape == (50,) and d[name].dtype == np.int64
        assert d[name].min() >= 0 and d[name].max() < 4
    assert d.predominant == predominant and d.auxiliary == ["auxiliary"]


def test_determinism():
    a = make_confounded_multimodal(64, random_state=3)
    b = make_confounded_multimodal(64, random_state=3)
    c = make_confounded_multimodal(64, random_state=4)
    for key in a.data:
        np.testing.assert_array_equal(a.data[key], b.data[key])
    np.testing.assert_array_equal(a.target, b.target)
    assert not np.array_equal(a.data["image"], c.data["image"])


def test_templates_do_not_depend_on_random_state():
    a = make_confounded_multimodal(200, predominant="table", noise_scale=0.0, random_state=0)
    b = make_confounded_multimodal(200, predominant="table", noise_scale=0.0, random_state=1)
    for k in range(4):
        row_a = a.data["table"][a.content == k][0, :8]
        row_b = b.data["table"][b.content == k][0, :8]
        np.testing.assert_array_equal(row_a, row_b)


def test_auxiliary_rendering_is_one_hot_of_auxiliary_label():
    d = make_confounded_multimodal(100, predominant="table", random_state=0)
    np.testing.assert_array_equal(d.data["auxiliary"][:, :4].argmax(1), d.auxiliary_label)
    np.testing.assert_array_equal(d.data["auxiliary"][:, :4].sum(1), 1.0)


def test_image_shows_trace_patch_and_content():
    d = make_confounded_multimodal(300, predominant="image", noise_scale=0.0, random_state=0)
    images = d.data["image"][:, 0]
    border = images.copy()
    border[:, 2:14, 2:14] = 0.0
    # the only bright border pixels are the trace patch: its position identifies T
    positions = np.stack([np.argwhere(b > 0.5).min(0) for b in border])
    for t in range(4):
        assert len({tuple(p) for p in positions[d.trace == t]}) == 1
    assert len({tuple(p) for p in positions}) == 4
    # the centre carries the content and nothing of the trace
    centres = images[:, 2:14, 2:14]
    means = np.stack([centres[d.content == k].mean(0) for k in range(4)])
    assert np.min([np.abs(means[i] - means[j]).sum() for i in range(4) for j in range(i)]) > 1.0


def test_empirical_frequencies_match_the_scm():
    c, e, q, k = 0.6, 0.7, 0.8, 4
    d = make_confounded_multimodal(
        20000, confounding=c, confounder_effect=e, auxiliary_quality=q, predominant="table",
        random_state=0,
    )
    tol = 0.02
    assert abs(np.mean(d.trace == d.confounder) - (c + (1 - c) / k)) < tol
    assert abs(np.mean(d.auxiliary_label == d.confounder) - (q + (1 - q) / k)) < tol
    # Y = U w.p. e, else C (which equals U w.p. 1/K)
    assert abs(np.mean(d.target == d.confounder) - (e + (1 - e) / k)) < tol
    assert abs(np.mean(d.target == d.content) - ((1 - e) + e / k)) < tol
    # C and U independent and uniform
    joint = np.histogram2d(d.content, d.confounder, bins=k)[0] / len(d.target)
    np.testing.assert_allclose(joint, 1 / k**2, atol=0.01)


def test_ceilings_reference_numbers():
    c = confounded_ceilings(0.9, 0.0, 0.7, 0.8, 4)
    assert c["content_trace_auxiliary"]["in_distribution"] == pytest.approx(0.725, abs=5e-4)
    assert c["content_trace_auxiliary"]["out_of_distribution"] == pytest.approx(0.411, abs=5e-4)
    for key in ("in_distribution", "out_of_distribution"):
        assert c["content_auxiliary"][key] == pytest.approx(0.670, abs=1e-9)
        assert c["content"][key] == pytest.approx(0.475, abs=1e-9)


def test_ceilings_in_bunch_and_consistency():
    d = make_confounded_multimodal(10, confounding=0.5, random_state=0)
    assert d.ceilings == confounded_ceilings(0.5, 0.0, 0.7, 0.8, 4)
    same = confounded_ceilings(0.7, 0.7, 0.6, 0.5, 3)
    for value in same.values():
        assert value["in_distribution"] == pytest.approx(value["out_of_distribution"])


def test_ceilings_match_simulation():
    # the Bayes rule on (C, A) is the argmax of P(y | do(x_p), a): simulate it out of distribution
    d = make_confounded_multimodal(20000, confounding=0.0, predominant="table", random_state=1,
                                   return_truth=True)
    accuracy = np.mean(d.interventional.argmax(1) == d.target)
    assert accuracy == pytest.approx(d.ceilings["content_auxiliary"]["out_of_distribution"], abs=0.015)


def test_interventional_proba():
    p = confounded_interventional_proba([0, 1, 2], [0, 0, 3], confounder_effect=0.7,
                                        auxiliary_quality=0.8, n_classes=4)
    np.testing.assert_allclose(p.sum(1), 1.0)
    # c = a = 0: 0.7 * 0.85 + 0.3
    assert p[0, 0] == pytest.approx(0.7 * 0.85 + 0.3)
    assert p[1, 0] == pytest.approx(0.7 * 0.85) and p[1, 1] == pytest.approx(0.7 * 0.05 + 0.3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_samples": 2.5},
        {"confounding": 1.5},
        {"confounding": -0.1},
        {"confounder_effect": "a"},
        {"auxiliary_quality": np.nan},
        {"n_classes": 1},
        {"n_classes": 29},
        {"predominant": "audio"},
        {"n_noise_features": -1},
        {"noise_scale": -1.0},
    ],
)
def test_bad_parameters_raise(kwargs):
    params = {"n_samples": 10, **kwargs}
    with pytest.raises(ValueError):
        make_confounded_multimodal(**params)


def test_bad_ceiling_parameters_raise():
    with pytest.raises(ValueError):
        confounded_ceilings(1.2, 0.0, 0.7, 0.8, 4)
    with pytest.raises(ValueError):
        confounded_ceilings(0.9, 0.0, 0.7, 0.8, 1)
    with pytest.raises(ValueError):
        confounded_interventional_proba([4], [0], n_classes=4)
