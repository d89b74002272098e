"""Tests of the RedCore torch pieces: formulas, network and loss (no estimator layer)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from skcausalmm.missing.network import (
    RedCoreLoss,
    RedCoreNetwork,
    ResidualImputer,
    VIBHead,
    eta_schedule,
    gaussian_kl_terms,
    masked_reconstruction_error,
    relative_advantage,
    update_ema,
    update_supervision_weights,
)

DIMS = {"a": 5, "b": 3, "c": 4}


def make_net(seed=0, n_classes=3, **kwargs):
    torch.manual_seed(seed)
    encoders = {m: nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, 8)) for m, d in DIMS.items()}
    return RedCoreNetwork(encoders, n_classes, latent_dim=4, imputer_layers=(6, 3), n_blocks=2, in_features=8, **kwargs)


def make_batch(n=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, d, generator=g) for m, d in DIMS.items()}


positive = st.floats(0.01, 10.0, allow_nan=False)


def vectors(min_size=2, max_size=5, elements=positive):
    return st.lists(elements, min_size=min_size, max_size=max_size).map(lambda v: torch.tensor(v, dtype=torch.float64))


# ------------------------------------------------------------------ formulas
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_update_keeps_unit_norm_and_floor(data):
    beta = data.draw(vectors())
    m = beta.shape[0]
    ra = torch.tensor(data.draw(st.lists(st.floats(-3, 1), min_size=m, max_size=m)), dtype=torch.float64)
    eta = data.draw(st.floats(0.0, 5.0))
    beta_min = data.draw(st.floats(0.01, 0.5))
    new = update_supervision_weights(beta, ra, eta, beta_min)
    assert math.isclose(float(new.norm()), 1.0, rel_tol=1e-9)
    raw = torch.clamp(beta - eta * ra, min=beta_min)
    assert torch.all(new >= beta_min / raw.norm() - 1e-12)
    assert torch.all(new > 0)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_largest_loss_gains_weight_over_the_below_average(data):
    losses = data.draw(vectors())
    m = losses.shape[0]
    beta_min = 0.1
    beta = torch.tensor(data.draw(st.lists(st.floats(beta_min, 1.0), min_size=m, max_size=m)), dtype=torch.float64)
    beta = beta / beta.norm()
    beta = torch.clamp(beta, min=beta_min)  # entries at or above the floor
    eta = data.draw(st.floats(0.01, 2.0))
    ra = relative_advantage(losses)
    new = update_supervision_weights(beta, ra, eta, beta_min)
    j = int(torch.argmax(losses))
    for k in range(m):
        if k != j and ra[k] >= 0:  # at or below the average loss
            assert new[j] / new[k] >= beta[j] / beta[k] - 1e-9


def test_largest_loss_ends_with_largest_weight_over_many_steps():
    losses = torch.tensor([1.0, 4.0, 2.0])
    beta = torch.full((3,), 3**-0.5)
    for t in range(0, 60, 3):
        beta = update_supervision_weights(beta, relative_advantage(losses), eta_schedule(t), 0.1)
    assert int(torch.argmax(beta)) == 1
    assert beta[0] == pytest.approx(beta.min())
    assert float(beta[1]) > 3**-0.5


@given(value=positive, m=st.integers(1, 6), eta=st.floats(0, 5))
def test_equal_losses_leave_beta_uniform(value, m, eta):
    losses = torch.full((m,), value, dtype=torch.float64)
    ra = relative_advantage(losses)
    assert torch.all(ra == 0)
    beta = update_supervision_weights(torch.full((m,), m**-0.5, dtype=torch.float64), ra, eta)
    assert torch.allclose(beta, torch.full((m,), m**-0.5, dtype=torch.float64))


def test_relative_advantage_sums_to_zero_and_signs():
    ra = relative_advantage(torch.tensor([1.0, 2.0, 6.0]))
    assert float(ra.sum()) == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(ra, torch.tensor([2.0, 1.0, -3.0]) / 3)
    assert torch.all(relative_advantage(torch.zeros(3)) == 0)


def test_ema_keeps_value_without_samples():
    ema = torch.tensor([0.5, 2.0])
    new = update_ema(ema, torch.tensor([1.5, 100.0]), torch.tensor([True, False]), weight=0.7)
    assert torch.allclose(new, torch.tensor([0.3 * 0.5 + 0.7 * 1.5, 2.0]))


def test_eta_schedule_grows_at_iteration_zero_and_every_period():
    assert eta_schedule(0, 0.1, 1.5, 500) == pytest.approx(0.15)
    assert eta_schedule(499, 0.1, 1.5, 500) == pytest.approx(0.15)
    assert eta_schedule(500, 0.1, 1.5, 500) == pytest.approx(0.225)
    assert eta_schedule(1000, 0.1, 1.5, 500) == pytest.approx(0.3375)
    assert eta_schedule(7, 2.0, 1.0, 3) == pytest.approx(2.0)


def test_kl_and_mse_zero_for_modality_missing_in_whole_batch():
    torch.manual_seed(0)
    mu = {"a": torch.randn(6, 4, requires_grad=True), "b": torch.randn(6, 4, requires_grad=True)}
    logvar = {"a": torch.randn(6, 4), "b": torch.randn(6, 4)}
    a = torch.ones(6, 2)
    a[:, 1] = 0
    kl = gaussian_kl_terms(mu, logvar, a)
    assert float(kl["b"].detach()) == 0.0
    assert float(kl["a"].detach()) > 0
    imputed = torch.randn(6, 4, requires_grad=True)
    err = masked_reconstruction_error(imputed, mu["b"], a[:, 1])
    assert float(err.detach()) == 0.0
    err.backward()
    assert torch.all(imputed.grad == 0)


def test_kl_matches_closed_form():
    mu = {"a": torch.tensor([[1.0, 0.0], [0.5, -0.5]])}
    logvar = {"a": torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])}
    a = torch.tensor([[1.0], [0.0]])
    # 2 KL(N(mu, s^2) || N(0, 1)) = sum(mu^2 + s^2 - 1 - log s^2) for the only present sample, / n = 2
    expected = ((1.0 + 1.0 - 1.0 - 0.0) + (0.0 + 2.0 - 1.0 - math.log(2.0))) / 2
    assert float(gaussian_kl_terms(mu, logvar, a)["a"]) == pytest.approx(expected, rel=1e-6)


def test_reconstruction_error_averages_over_present_rows():
    imputed = torch.tensor([[1.0, 1.0], [0.0, 0.0], [3.0, 0.0]])
    target = torch.zeros(3, 2)
    present = torch.tensor([1.0, 0.0, 1.0])
    assert float(masked_reconstruction_error(imputed, target, present)) == pytest.approx((2.0 + 9.0) / 2)


# -------------------------------------------------------------------- modules
def test_vib_samples_in_training_and_uses_mu_in_eval():
    torch.manual_seed(0)
    head = VIBHead(5, 3, init_logvar=0.0)
    h = torch.randn(4, 5)
    z1, mu, _ = head(h)
    z2, _, _ = head(h)
    assert not torch.allclose(z1, z2)
    head.eval()
    z3, mu3, _ = head(h)
    assert torch.equal(z3, mu3) and torch.allclose(mu3, mu)


def test_vib_initial_log_variance():
    head = VIBHead(5, 3, init_logvar=-4.0)
    _, _, logvar = head(torch.zeros(2, 5))
    assert torch.allclose(logvar, torch.full((2, 3), -4.0))
    with pytest.raises(ValueError, match="in_features"):
        RedCoreNetwork({"x": nn.Linear(4, 6)}, 2)


def test_residual_imputer_depth():
    small = ResidualImputer(6, 2, layers=(4,), n_blocks=1)
    deep = ResidualImputer(6, 2, layers=(4,), n_blocks=3)
    assert len(deep.blocks) == 3 and len(small.blocks) == 1
    assert sum(p.numel() for p in deep.parameters()) > sum(p.numel() for p in small.parameters())
    x = torch.randn(5, 6)
    assert deep(x).shape == (5, 2)
    plain = ResidualImputer(6, 2, layers=(4,), n_blocks=0)
    assert torch.allclose(plain(x), plain.transition(x))
    with pytest.raises(ValueError, match="at least one width"):
        ResidualImputer(6, 2, layers=())


def test_residual_imputer_adds_block_outputs():
    torch.manual_seed(0)
    imp = ResidualImputer(3, 2, layers=(4, 2), n_blocks=2)
    x = torch.randn(7, 3)
    h = x
    for block in imp.blocks:
        h = h + block["decoder"](block["encoder"](h))
    assert torch.allclose(imp(x), imp.transition(h))


def test_missing_block_values_never_change_predictions():
    net = make_net().eval()
    X = make_batch()
    a = torch.ones(10, 3)
    a[:4, 0] = 0
    a[2:7, 2] = 0
    out = net(X, a)["logits"]
    X2 = {k: v.clone() for k, v in X.items()}
    X2["a"][:4] = 1e6
    X2["c"][2:7] = float("nan")
    out2 = net(X2, a)["logits"]
    assert torch.equal(out, out2)
    # the availability matters: the same values with everything present differ
    assert not torch.allclose(out, net(X, torch.ones(10, 3))["logits"])


def test_no_missing_data_imputers_do_not_change_fusion_input():
    net = make_net().eval()
    X = make_batch()
    out = net(X, torch.ones(10, 3))
    for m in DIMS:
        assert torch.equal(out["fused"][m], out["latent"][m])
    with torch.no_grad():
        for p in net.imputers.parameters():
            p.add_(torch.randn_like(p))
    assert torch.equal(net(X, torch.ones(10, 3))["logits"], out["logits"])
    assert torch.equal(net(X)["logits"], out["logits"])  # availability None means all present


def test_absent_modality_gets_imputation_from_others():
    net = make_net().eval()
    X = make_batch()
    a = torch.ones(10, 3)
    a[:, 1] = 0
    out = net(X, a)
    assert torch.equal(out["fused"]["b"], out["imputed"]["b"])
    # the imputer of b sees the latents of a and c, and for absent b the others' imputers see b's
    # zero-input latent: it is the same for every row
    zb = out["latent"]["b"]
    assert torch.allclose(zb, zb[:1].expand_as(zb))


def test_predictions_at_mu_are_deterministic():
    net = make_net()
    X = make_batch()
    a = torch.ones(10, 3)
    a[::2, 1] = 0
    net.train()
    torch.manual_seed(5)
    t1 = net(X, a)["latent"]["a"]
    t2 = net(X, a)["latent"]["a"]
    assert not torch.allclose(t1, t2)
    net.eval()
    e1, e2 = net(X, a), net(X, a)
    assert torch.equal(e1["logits"], e2["logits"])
    assert torch.equal(e1["latent"]["a"], e1["mu"]["a"])


def test_single_modality_network():
    torch.manual_seed(0)
    net = RedCoreNetwork({"x": nn.Linear(4, 6)}, 2, latent_dim=3, in_features=6).eval()
    out = net({"x": torch.randn(5, 4)})
    assert out["logits"].shape == (5, 2) and out["imputed"] == {}
    loss = RedCoreLoss(1)
    net.train()
    value = loss(net({"x": torch.randn(5, 4)}), torch.tensor([0, 1, 0, 1, 1]))
    assert torch.isfinite(value) and float(loss.beta[0]) == pytest.approx(1.0)


def test_transform_is_concatenated_fused_latent():
    net = make_net().eval()
    X = make_batch()
    z = net.transform(X)
    assert z.shape == (10, 12)
    out = net(X)
    assert torch.equal(z, torch.cat([out["fused"][m] for m in DIMS], dim=1))


# ----------------------------------------------------------------------- loss
def test_loss_value_matches_formula():
    net = make_net().eval()
    X = make_batch()
    a = torch.ones(10, 3)
    a[:3, 0] = 0
    y = torch.arange(10) % 3
    out = net(X, a)
    loss = RedCoreLoss(3, kl_weight=0.01, reconstruction_weight=0.5, unimodal_weight=0.3).eval()
    value = loss(out, y)
    expected = F.cross_entropy(out["logits"], y)
    expected = expected + 0.3 * sum(F.cross_entropy(out["modality_logits"][m], y) for m in DIMS)
    kl = gaussian_kl_terms(out["mu"], out["logvar"], a)
    expected = expected + 0.01 * sum(kl.values())
    for j, m in enumerate(DIMS):
        err = masked_reconstruction_error(out["imputed"][m], out["latent"][m], a[:, j])
        expected = expected + 0.5 * 3**-0.5 * err
    assert float(value.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert int(loss.iteration) == 0 and torch.all(loss.ema == 0)  # eval mode: no state change


def _train_steps(loss, net, n_steps, drop=None):
    X = make_batch()
    y = torch.arange(10) % 3
    betas = []
    for t in range(n_steps):
        a = torch.ones(10, 3)
        a[: 2 + t % 3, 0] = 0
        if drop is not None:
            a[:, drop] = 0
        loss(net(X, a), y)
        betas.append(loss.beta.clone())
    return betas


def test_beta_updates_every_interval_including_iteration_zero():
    net = make_net().train()
    loss = RedCoreLoss(3, update_interval=3, eta=0.5).train()
    betas = _train_steps(loss, net, 7)
    start = torch.full((3,), 3**-0.5)
    assert not torch.allclose(betas[0], start)  # iteration 0 updates
    assert torch.equal(betas[1], betas[0]) and torch.equal(betas[2], betas[0])
    assert not torch.equal(betas[3], betas[2])
    assert torch.equal(betas[4], betas[3]) and torch.equal(betas[5], betas[3])
    assert int(loss.iteration) == 7
    for b in betas:
        assert float(b.norm()) == pytest.approx(1.0, rel=1e-6)


def test_first_update_uses_grown_eta():
    net = make_net().train()
    loss = RedCoreLoss(3, eta=0.2, eta_growth=2.0, ema_weight=0.7).train()
    X, y = make_batch(), torch.arange(10) % 3
    out = net(X)
    errs = torch.stack([masked_reconstruction_error(out["imputed"][m], out["latent"][m], torch.ones(10)) for m in DIMS])
    loss(out, y)
    ema = 0.7 * errs.detach()
    expected = update_supervision_weights(torch.full((3,), 3**-0.5), relative_advantage(ema), 0.4, 0.1)
    assert torch.allclose(loss.ema, ema)
    assert torch.allclose(loss.beta, expected, atol=1e-6)


def test_adaptive_false_keeps_beta_constant():
    net = make_net().train()
    loss = RedCoreLoss(3, adaptive=False, eta=1.0).train()
    betas = _train_steps(loss, net, 6)
    for b in betas:
        assert torch.equal(b, torch.full((3,), 3**-0.5))
    assert torch.any(loss.ra != 0)  # the advantages are still tracked


def test_missing_modality_keeps_its_average_and_adds_no_reconstruction_gradient():
    net = make_net().eval()  # no dropout or sampling: two passes give the same outputs
    loss = RedCoreLoss(3).train()
    _train_steps(loss, net, 2)
    before = loss.ema.clone()
    X, y = make_batch(), torch.arange(10) % 3
    a = torch.ones(10, 3)
    a[:, 2] = 0
    grads = []
    for weight in (0.15, 50.0):
        net.zero_grad()
        loss.reconstruction_weight = weight
        value = loss(net(X, a), y)
        value.backward()
        grads.append([p.grad.clone() for p in net.imputers["c"].parameters()])
    assert float(loss.last_terms_["mse_c"]) == 0.0 and float(loss.last_terms_["kl_c"]) == 0.0
    assert loss.ema[2] == before[2] and loss.ema[0] != before[0]
    # c's imputer learns from the classifiers (its output replaces the absent latent), not from an error term
    assert any(torch.any(g != 0) for g in grads[0])
    assert all(torch.allclose(g0, g1) for g0, g1 in zip(*grads))


def test_poorly_reconstructed_modality_gains_weight_in_training():
    # modality "a" is hard to impute (independent noise); "b" and "c" are copies of each other
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    n = 64
    shared = torch.randn(n, 3, generator=g)
    X = {
        "a": torch.randn(n, 5, generator=g),
        "b": torch.cat([shared, shared[:, :0]], 1),
        "c": torch.cat([shared, shared[:, :1]], 1),
    }
    encoders = {m: nn.Linear(X[m].shape[1], 8) for m in X}
    net = RedCoreNetwork(encoders, 2, latent_dim=4, imputer_layers=(8,), n_blocks=1, in_features=8)
    loss = RedCoreLoss(3, eta=0.3)
    opt = torch.optim.Adam(list(net.parameters()), lr=1e-2)
    y = (shared[:, 0] > 0).long()
    for _ in range(60):
        opt.zero_grad()
        loss(net(X), y).backward()
        opt.step()
    assert int(torch.argmax(loss.ema)) == 0
    assert int(torch.argmax(loss.beta)) == 0
    assert np.isclose(float(loss.beta.norm()), 1.0)
