"""Encoders by shape, the picklable encoder factory and the fixed input standardisation layer."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from skcausalmm._core.standardize import standardization_stats
from skcausalmm.nn.encoders import (
    CNNEncoder,
    EncoderFactory,
    MLPEncoder,
    RNNEncoder,
    SkipMLPEncoder,
    make_encoder,
    output_size,
)
from skcausalmm.nn.layers import InputStandardizer


@pytest.mark.parametrize(
    "shape, kind, cls",
    [((5,), None, MLPEncoder), ((8, 8), None, CNNEncoder), ((3, 8, 8), None, CNNEncoder), ((7, 4), "rnn", RNNEncoder)],
)
def test_make_encoder_by_shape(shape, kind, cls):
    encoder = make_encoder(shape, 6, hidden_size=8, kind=kind)
    assert isinstance(encoder, cls)
    assert encoder(torch.zeros((3,) + shape)).shape == (3, 6)
    assert output_size(encoder, shape) == 6


def test_factory_names_modality_in_errors_and_projects_user_modules():
    factory = EncoderFactory({"img": (1, 8, 8), "tab": (5,)}, hidden_size=8, specs={"tab": nn.Linear(5, 3)})
    assert factory.names == ["img", "tab"]
    assert output_size(factory("tab", 4), (5,)) == 4  # projected
    assert output_size(factory("tab", 4, project=False), (5,)) == 3  # kept
    encoders, dims = factory.build_all()
    assert dims == {"img": 8, "tab": 3}
    assert encoders["tab"] is not factory.specs["tab"]  # deep-copied
    bad = EncoderFactory({"img": (1, 8, 8)}, specs={"img": "mlp"})
    with pytest.raises(ValueError, match="Encoder of modality 'img': An 'mlp' encoder needs 2-D"):
        bad("img", 4)
    with pytest.raises(ValueError, match=r"unknown modalities \['nope'\]"):
        EncoderFactory({"img": (1, 8, 8)}, specs={"nope": "mlp"})
    restored = pickle.loads(pickle.dumps(factory))
    assert restored.names == factory.names and isinstance(restored("img", 4), CNNEncoder)


def test_standardization_stats_per_column_channel_and_present_rows():
    rng = np.random.default_rng(0)
    table = rng.normal(5.0, 3.0, size=(200, 4)) * np.array([1, 10, 100, 1e4])
    present = rng.random(200) > 0.3
    mean, scale = standardization_stats(table, present)
    np.testing.assert_allclose(mean, table[present].mean(0), rtol=1e-5)
    np.testing.assert_allclose(scale, table[present].std(0), rtol=1e-5)
    image = rng.normal(size=(50, 3, 4, 4)) + np.array([0.0, 10.0, -5.0])[None, :, None, None]
    mean, scale = standardization_stats(image)
    assert mean.shape == (3, 1, 1)
    np.testing.assert_allclose(mean.ravel(), image.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    mono = standardization_stats(rng.normal(size=(20, 8, 8)))[0]
    assert mono.shape == (1, 1)
    seq_mean, _ = standardization_stats(rng.normal(size=(20, 6, 3)), kind="rnn")
    assert seq_mean.shape == (1, 3)
    # a constant column gets scale 1, not a division by zero
    _, scale = standardization_stats(np.ones((10, 2)))
    np.testing.assert_array_equal(scale, [1.0, 1.0])
    # huge values accumulate in float64: no overflow
    mean, scale = standardization_stats(np.full((10, 1), 3e38, dtype=np.float32) * np.arange(1, 11)[:, None] / 10)
    assert np.isfinite(mean).all() and np.isfinite(scale).all()


def test_input_standardizer_scales_and_zeroes_missing_rows():
    stats = {"a": (np.array([1.0, 2.0]), np.array([2.0, 4.0]))}
    layer = InputStandardizer(stats, names=["a", "b"])
    X = {"a": torch.tensor([[3.0, 6.0], [1.0, 2.0]]), "b": torch.tensor([[7.0], [8.0]])}
    out = layer(X)
    torch.testing.assert_close(out["a"], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    torch.testing.assert_close(out["b"], X["b"])  # no statistics: unchanged
    out = layer(X, availability=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(out["a"][1], torch.zeros(2))
    torch.testing.assert_close(out["b"][0], torch.zeros(1))
    assert set(dict(layer.named_buffers())) == {"mean_0", "scale_0"}  # saved with the weights
    assert list(layer.parameters()) == []  # nothing to train


def test_an_encoder_class_instead_of_an_instance_is_a_clear_error():
    factory = EncoderFactory({"tab": (5,)}, specs={"tab": nn.Linear})
    with pytest.raises(TypeError, match="Encoder of modality 'tab': got the class Linear; pass a module instance"):
        factory("tab", 4)


def test_skip_encoder_starts_linear_and_trains_the_mlp():
    torch.manual_seed(0)
    enc = SkipMLPEncoder(5, 3, hidden_size=16, n_hidden=2)
    x = torch.randn(10, 5)
    torch.testing.assert_close(enc(x), enc.linear(x))
    assert float(enc.mlp[-1].weight.detach().abs().sum()) == 0.0
    # one gradient step makes the non-linear branch non-zero (it is trainable, not frozen)
    opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    loss = (enc(x) ** 2).sum() + enc(x).sum()
    loss.backward()
    opt.step()
    assert float(enc.mlp[-1].weight.detach().abs().sum()) > 0.0
    with pytest.raises(ValueError, match="n_hidden"):
        SkipMLPEncoder(5, 3, n_hidden=0)


@pytest.mark.parametrize(
    "encoder, shape, match",
    [
        (nn.Sequential(nn.Linear(7, 8), nn.ReLU()), (5,), r"expects 7 input features .* shape \(5,\), that is 5"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), (1, 8, 8), r"expects 3 input channels .* that is 1"),
    ],
    ids=["linear width", "conv channels"],
)
def test_a_user_encoder_of_the_wrong_input_size_is_named_without_a_torch_trace(encoder, shape, match):
    from skcausalmm.nn.encoders import EncoderFactory

    with pytest.raises(ValueError, match=match) as info:
        EncoderFactory({"tab": shape}, 16, {"tab": encoder}).build_all()
    assert "mat1 and mat2" not in str(info.value) and "Encoder of modality 'tab'" in str(info.value)
