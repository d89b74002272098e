"""Property tests of the torch pieces of causal information minimisation (TE-D and ATE-D)."""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from skcausalmm.debiasing.network import (
    AverageTreatmentEffectNetwork,
    BackdoorLoss,
    FrozenFeatures,
    TiedLinearAutoencoder,
    TotalEffectLoss,
    TotalEffectNetwork,
    WeightNormLinear,
    coding_rate,
    dynamic_rate_weight,
    recalibration_weights,
    triplet_info_nce,
)

torch.set_num_threads(1)
SETTINGS = settings(max_examples=40, deadline=None)


class _Factory:
    """Minimal stand-in for the base's encoder factory: one linear encoder per modality."""

    def __init__(self, inputs, width=6, seed=0):
        self.inputs, self.width, self.seed = dict(inputs), width, seed

    def build_all(self):
        torch.manual_seed(self.seed)
        encoders = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(d, self.width), nn.ReLU()) for m, d in self.inputs.items()}
        )
        return encoders, {m: self.width for m in self.inputs}


def _batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = {"a": torch.randn(n, 5, generator=g), "b": torch.randn(n, 3, generator=g)}
    return X, torch.randint(0, 3, (n,), generator=g)


def _matrix(seed, m, p):
    return torch.randn(m, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------ coding rate
def test_coding_rate_of_zero_is_zero():
    assert float(coding_rate(torch.zeros(7, 4))) == pytest.approx(0.0, abs=1e-7)
    assert float(coding_rate(torch.zeros(3, 9))) == pytest.approx(0.0, abs=1e-7)


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 12), st.floats(0.01, 10.0))
def test_coding_rate_nonnegative_and_matches_definition(seed, m, p, scale):
    Z = scale * _matrix(seed, m, p)
    rate = coding_rate(Z, eps=0.01)
    direct = 0.5 * torch.logdet(torch.eye(p, dtype=Z.dtype) + p / (m * 0.01) * Z.T @ Z)
    assert float(rate) >= 0.0
    assert float(rate) == pytest.approx(float(direct), rel=1e-6, abs=1e-6)


@SETTINGS
@given(st.integers(0, 10_000), st.integers(2, 10), st.integers(1, 8))
def test_coding_rate_invariant_to_rotation_and_sample_permutation(seed, m, p):
    Z = _matrix(seed, m, p)
    Q, _ = torch.linalg.qr(_matrix(seed + 1, p, p))
    perm = torch.randperm(m, generator=torch.Generator().manual_seed(seed))
    base = float(coding_rate(Z))
    assert float(coding_rate(Z @ Q)) == pytest.approx(base, rel=1e-7, abs=1e-9)
    assert float(coding_rate(Z[perm])) == pytest.approx(base, rel=1e-7, abs=1e-9)


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 10), st.integers(1, 8), st.floats(1.1, 5.0))
def test_coding_rate_grows_with_scale(seed, m, p, factor):
    Z = _matrix(seed, m, p)
    assert float(coding_rate(factor * Z)) > float(coding_rate(Z))


def test_coding_rate_rejects_non_matrix():
    with pytest.raises(ValueError, match="2-D"):
        coding_rate(torch.zeros(3))


# --------------------------------------------------------------------- dynamic weight
@SETTINGS
@given(st.floats(1e-4, 20.0), st.floats(1e-4, 500.0), st.floats(0.01, 2.0))
def test_dynamic_weight_caps_the_rate_term(ce, rate, coefficient):
    ce_t = torch.tensor(ce, requires_grad=True)
    rate_t = torch.tensor(rate, requires_grad=True)
    alpha = dynamic_rate_weight(ce_t, rate_t, coefficient)
    assert not alpha.requires_grad
    assert 0.0 <= float(alpha) <= 1.0
    assert float(alpha) * rate <= coefficient * ce * (1 + 1e-6)
    # it is the largest weight in [0, 1] with that cap
    assert float(alpha) == pytest.approx(min(1.0, coefficient * ce / rate), rel=1e-6)


def test_dynamic_weight_of_zero_rate_is_one():
    assert float(dynamic_rate_weight(torch.tensor(1.0), torch.tensor(0.0))) == 1.0


# --------------------------------------------------------------------------- InfoNCE
@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 9), st.integers(2, 6), st.floats(0.1, 5.0))
def test_info_nce_bounds(seed, n, d, tau):
    a, p, q = (_matrix(seed + i, n, d).float() for i in range(3))
    loss = float(triplet_info_nce(a, p, q, tau))
    low, high = math.log1p(math.exp(-2 / tau)), math.log1p(math.exp(2 / tau))
    assert low - 1e-5 <= loss <= high + 1e-5


@SETTINGS
@given(st.integers(0, 10_000), st.floats(0.1, 5.0))
def test_info_nce_is_log2_when_positive_equals_negative(seed, tau):
    a, p = _matrix(seed, 6, 4).float(), _matrix(seed + 1, 6, 4).float()
    assert float(triplet_info_nce(a, p, p.clone(), tau)) == pytest.approx(math.log(2.0), abs=1e-6)


def test_info_nce_extremes_reached():
    a = torch.tensor([[1.0, 0.0]])
    assert float(triplet_info_nce(a, a, -a, 1.0)) == pytest.approx(math.log1p(math.exp(-2.0)), abs=1e-6)
    assert float(triplet_info_nce(a, -a, a, 1.0)) == pytest.approx(math.log1p(math.exp(2.0)), abs=1e-6)


# ------------------------------------------------------------------------------ TE-D
def test_total_effect_network_shapes_and_tie_inference():
    X, y = _batch()
    net = TotalEffectNetwork(_Factory({"a": 5, "b": 3}), n_classes=3)
    out = net(X)
    assert out["logits"].shape == out["bias_logits"].shape == (12, 3)
    assert out["features"].shape == out["bias"].shape == out["debiased"].shape == (12, 12)
    assert out["code"].shape == (12, 3)  # default bias_size = d // 4
    tie = net.predict_proba(X, inference="tie")
    expected = torch.softmax(out["logits"] - out["bias_logits"], dim=1)
    assert torch.allclose(tie, expected, atol=1e-6)
    assert not torch.allclose(tie, net.predict_proba(X), atol=1e-4)
    with pytest.raises(ValueError, match="inference"):
        net.predict_proba(X, inference="nope")


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [0.0 if g is None else float(g.abs().sum()) for g in grads]


def test_confounder_losses_do_not_reach_the_encoders():
    X, y = _batch()
    net = TotalEffectNetwork(_Factory({"a": 5, "b": 3}), n_classes=3)
    loss_fn = TotalEffectLoss()
    out = net(X)
    confounder_loss, _ = loss_fn.confounder_loss(out, y)
    encoder_params = list(net.encoders.parameters())
    branch_params = list(net.confounder.parameters()) + list(net.remap.parameters()) + list(net.bias_head.parameters())
    assert all(g == 0.0 for g in _grads(confounder_loss, encoder_params))
    assert sum(_grads(confounder_loss, branch_params)) > 0
    # the main cross-entropy does train the encoders (the check above is not vacuous)
    ce = F.cross_entropy(out["logits"], y)
    assert sum(_grads(ce, encoder_params)) > 0
    # and the bias head gets nothing from the main cross-entropy
    assert all(g == 0.0 for g in _grads(ce, list(net.bias_head.parameters())))


def test_total_effect_loss_terms_and_bound():
    X, y = _batch()
    net = TotalEffectNetwork(_Factory({"a": 5, "b": 3}), n_classes=3)
    loss_fn = TotalEffectLoss(contrastive_weight=1.0)
    total = loss_fn(net(X), y)
    t = {k: float(v) for k, v in loss_fn.last_terms_.items()}
    assert set(t) == {"ce", "bias_ce", "rate", "alpha", "info_nce"}
    assert t["alpha"] * t["rate"] <= 0.25 * t["bias_ce"] + 1e-5
    expected = t["ce"] + t["bias_ce"] + t["alpha"] * t["rate"] + t["info_nce"]
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    static = TotalEffectLoss(rate_coefficient=0.5, dynamic=False, contrastive_weight=0.0)
    static(net(X), y)
    assert float(static.last_terms_["alpha"]) == 0.5 and "info_nce" not in static.last_terms_


def test_total_effect_network_pickles():
    X, _ = _batch()
    net = TotalEffectNetwork(_Factory({"a": 5, "b": 3}), n_classes=3).eval()
    clone = pickle.loads(pickle.dumps(net))
    assert torch.equal(clone(X)["logits"], net(X)["logits"])


def test_weight_norm_linear_is_invariant_to_direction_scale():
    layer = WeightNormLinear(4, 3)
    x = torch.randn(5, 4)
    before = layer(x)
    with torch.no_grad():
        layer.direction.mul_(7.0)
    assert torch.allclose(layer(x), before, atol=1e-6)


# ------------------------------------------------------------------------ autoencoder
def test_tied_autoencoder_fit_is_the_exact_minimiser():
    torch.manual_seed(0)
    X = torch.randn(80, 3) @ torch.randn(3, 10) + 0.05 * torch.randn(80, 10)
    ae = TiedLinearAutoencoder(10, 3).fit(X)
    W = ae.weight.detach()
    assert torch.allclose(W @ W.T, torch.eye(3), atol=1e-5)
    with torch.no_grad():
        code, recon = ae(X)
    assert torch.allclose(recon, code @ W, atol=1e-6)  # tied: decoder = encoder transposed
    err = float(((X - recon) ** 2).sum())
    s = torch.linalg.svdvals(X)
    assert err == pytest.approx(float((s[3:] ** 2).sum()), rel=1e-3)
    # gradient descent from a random start does not beat it
    trained = TiedLinearAutoencoder(10, 3)
    opt = torch.optim.Adam(trained.parameters(), lr=0.02)
    for _ in range(300):
        opt.zero_grad()
        loss = ((X - trained(X)[1]) ** 2).sum()
        loss.backward()
        opt.step()
    assert err <= float(loss.detach()) + 1e-3


def test_tied_autoencoder_rejects_bad_code_size():
    with pytest.raises(ValueError, match="code_size"):
        TiedLinearAutoencoder(4, 5)


# ------------------------------------------------------------------------------ ATE-D
def _ate_network(dictionary, prior, variant="backdoor", constant_code=False, seed=0, treatment=None):
    frozen = _Factory({"a": 5, "b": 3}, width=4, seed=seed + 1).build_all()[0]
    if constant_code:  # every sample gets the same confounder features, hence the same code
        for enc in frozen.values():
            nn.init.zeros_(enc[0].weight)
            nn.init.constant_(enc[0].bias, 0.5)
    features = FrozenFeatures(frozen, ["a", "b"])
    ae = TiedLinearAutoencoder(8, dictionary.shape[1])
    return AverageTreatmentEffectNetwork(
        _Factory({"a": 5, "b": 3}, seed=seed), 3, features, ae, dictionary, prior, variant=variant, chunk_size=2,
        treatment=treatment,
    ).eval()


def test_dictionary_of_one_entry_gives_the_plain_prediction():
    X, _ = _batch()
    net = _ate_network(torch.zeros(1, 2), torch.ones(1), constant_code=True)
    code = net.code(X)
    assert torch.allclose(code, code[:1].expand_as(code))
    with torch.no_grad():
        net.dictionary.copy_(code[:1])
        assert torch.allclose(net.adjusted_logits(X), net(X)["logits"], atol=1e-5)


def test_backdoor_prediction_is_the_prior_weighted_logit_average():
    X, _ = _batch()
    g = torch.Generator().manual_seed(3)
    dictionary, prior = torch.randn(5, 2, generator=g), torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5])
    net = _ate_network(dictionary, prior)
    with torch.no_grad():
        z = net(X)["features"]
        expected = sum(prior[j] / prior.sum() * net.logits_given(z, dictionary[j]) for j in range(5))
        assert torch.allclose(net.adjusted_logits(X), expected, atol=1e-5)
        assert torch.allclose(net.predict_proba(X), torch.softmax(expected, dim=1), atol=1e-6)


@pytest.mark.parametrize("variant", ["backdoor", "recalibrate"])
def test_permuting_the_dictionary_changes_nothing(variant):
    X, _ = _batch()
    g = torch.Generator().manual_seed(4)
    dictionary, prior = torch.randn(6, 2, generator=g), torch.rand(6, generator=g) + 0.1
    perm = torch.randperm(6, generator=g)
    a = _ate_network(dictionary, prior, variant)
    b = _ate_network(dictionary[perm], prior[perm], variant)
    with torch.no_grad():
        assert torch.allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-6)
        # a different prior does change the backdoor prediction (the test can fail)
        if variant == "backdoor":
            c = _ate_network(dictionary, torch.tensor([5.0, 0.1, 0.1, 0.1, 0.1, 0.1]), variant)
            assert not torch.allclose(a.predict_proba(X), c.predict_proba(X), atol=1e-4)


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 8), st.integers(1, 6), st.integers(1, 5))
def test_recalibration_weights_lie_in_0_2(seed, n, k, entries):
    g = torch.Generator().manual_seed(seed)
    code, dictionary = torch.randn(n, k, generator=g), torch.randn(entries, k, generator=g)
    prior = torch.rand(entries, generator=g) + 1e-3
    w = recalibration_weights(code, dictionary, prior / prior.sum())
    assert w.shape == (n,)
    assert bool(((w >= -1e-6) & (w <= 2 + 1e-6)).all())
    # a code equal to the only prototype gets weight 0, its opposite weight 2
    assert float(recalibration_weights(dictionary[:1], dictionary[:1], torch.ones(1))) == pytest.approx(0.0, abs=1e-6)
    assert float(recalibration_weights(-dictionary[:1], dictionary[:1], torch.ones(1))) == pytest.approx(2.0, abs=1e-6)


def test_recalibration_scales_the_named_modalities():
    X, _ = _batch()
    g = torch.Generator().manual_seed(5)
    net = _ate_network(torch.randn(4, 2, generator=g), torch.ones(4), "recalibrate")
    net.recalibrated = ["a"]
    with torch.no_grad():
        out = net(X)
        feats = out["modality_features"]
        expected = torch.cat([feats["a"] * out["weights"][:, None], feats["b"]], dim=1)
        assert torch.allclose(out["features"], expected, atol=1e-6)


def test_ate_network_frozen_parts_get_no_gradient():
    X, y = _batch()
    net = _ate_network(torch.randn(3, 2), torch.ones(3)).train()
    assert not net.confounder_features.training  # stays in eval mode
    loss_fn = BackdoorLoss()
    loss = loss_fn(net(X), y)
    loss.backward()
    frozen = list(net.confounder_features.parameters()) + list(net.autoencoder.parameters())
    assert all(p.grad is None for p in frozen)
    assert all(p.grad is not None for p in net.encoders.parameters())
    assert set(loss_fn.last_terms_) == {"ce"}


def test_ate_network_checks_and_pickles():
    with pytest.raises(ValueError, match="variant"):
        _ate_network(torch.zeros(2, 2), torch.ones(2), "nope")
    with pytest.raises(ValueError, match="prior"):
        _ate_network(torch.zeros(2, 2), torch.tensor([1.0, -1.0]))
    X, _ = _batch()
    net = _ate_network(torch.randn(3, 2), torch.ones(3))
    clone = pickle.loads(pickle.dumps(copy.deepcopy(net)))
    with torch.no_grad():
        assert torch.equal(clone.predict_proba(X), net.predict_proba(X))
    assert np.isclose(float(net.prior.sum()), 1.0)


def test_additive_adjustment_is_the_exact_prior_weighted_average_and_reads_only_the_treatment():
    X, y = _batch()
    g = torch.Generator().manual_seed(6)
    dictionary, prior = torch.randn(5, 2, generator=g), torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5])
    net = _ate_network(dictionary, prior, "additive", treatment=["a"])
    assert list(net.encoders) == ["a"]  # the confounder modality b has no encoder in the treatment
    with torch.no_grad():
        out = net(X)
        z = out["features"]
        expected = sum(prior[j] / prior.sum() * net.logits_given(z, dictionary[j]) for j in range(5))
        assert torch.allclose(net.adjusted_logits(X), expected, atol=1e-5)
        # the adjusted prediction is the treatment head's, shifted by one constant per class
        shift = net.adjusted_logits(X) - out["treatment_logits"]
        assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-5)
        # changing modality b changes the code but not the adjusted prediction
        other = {**X, "b": X["b"] + 3.0}
        assert not torch.allclose(net.code(other), net.code(X))
        assert torch.allclose(net.adjusted_logits(other), net.adjusted_logits(X), atol=1e-6)
    loss_fn = BackdoorLoss(treatment_weight=0.5)
    net.train()
    out = net(X)
    loss = loss_fn(out, y)
    assert set(loss_fn.last_terms_) == {"ce", "treatment_ce"}
    terms = loss_fn.last_terms_
    assert float(loss.detach()) == pytest.approx(float(terms["ce"] + 0.5 * terms["treatment_ce"]), rel=1e-6)


def test_treatment_is_checked():
    with pytest.raises(ValueError, match="treatment must name"):
        _ate_network(torch.zeros(2, 2), torch.ones(2), "additive", treatment=["c"])
    with pytest.raises(ValueError, match="backdoor variants only"):
        _ate_network(torch.zeros(2, 2), torch.ones(2), "recalibrate", treatment=["a"])


def test_frozen_features_of_no_modality_are_one_zero_column():
    X, _ = _batch()
    frozen = FrozenFeatures(nn.ModuleDict(), [])
    out = frozen(X)
    assert out.shape == (X["a"].shape[0], 1) and float(out.abs().sum()) == 0.0
