"""The front-door network: its outputs, the β formula on its dictionary, the bridge to the exact estimator."""

import numpy as np
import pytest
import torch
from torch import nn

from skcausalmm import front_door_adjustment
from skcausalmm.frontdoor.average import front_door_average
from skcausalmm.frontdoor.head import FrontDoorHead
from skcausalmm.frontdoor.losses import FrontDoorLoss
from skcausalmm.nn.layers import GradientReversal, gradient_reversal

from ..helpers import frontdoor_network

N_CLASSES = 3
SHAPES = {"x": (6,), "a": (5,), "b": (4,)}


def _factory(name, out_features):
    return nn.Sequential(nn.Linear(SHAPES[name][0], 8), nn.ReLU(), nn.Linear(8, out_features))


def _network(auxiliary=("a",), seed=0, **kwargs):
    torch.manual_seed(seed)
    params = dict(mediator_size=6, context_size=5, auxiliary_size=4, projection_size=4,
                  hidden_size=8, dictionary_size=16, sample_shapes=SHAPES)
    params.update(kwargs)
    return frontdoor_network(_factory, "x", auxiliary, N_CLASSES, **params)


def _batch(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = {name: torch.randn(n, *shape, generator=g) for name, shape in SHAPES.items()}
    y = torch.randint(N_CLASSES, (n,), generator=g)
    return X, y


def _fitted(**kwargs):
    net = _network(**kwargs).eval()
    X, y = _batch(40, seed=1)
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0))
    return net


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("auxiliary", [("a",), ("a", "b")])
def test_forward_output_shapes(auxiliary):
    net = _network(auxiliary)
    X, y = _batch()
    out = net(X)
    assert out["logits"].shape == (20, N_CLASSES)
    assert [part.shape for part in out["contrastive_pair"]] == [(20, net.context_projection[-1].out_features)] * 2
    target_size = sum(SHAPES[a][0] for a in auxiliary)
    assert out["adversary_prediction"].shape == (20, N_CLASSES, target_size)
    assert out["adversary_target"].shape == (20, target_size)
    assert set(out["modality_logits"]) == {"x", *auxiliary}
    for logits in [*out["modality_logits"].values(), out["mediator_logits"]]:
        assert logits.shape == (20, N_CLASSES)
    loss_fn = FrontDoorLoss()
    loss = loss_fn(out, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(loss_fn.last_terms_) == {"ce", "nce", "adv", "diag"}
    loss.backward()


def test_unconditional_adversary_and_class_weight():
    net = _network(conditional_adversary=False)
    X, y = _batch()
    out = net(X)
    assert out["adversary_prediction"].shape == (20, 1, 5)
    weight = torch.tensor([1.0, 2.0, 0.5])
    weighted, plain = FrontDoorLoss(class_weight=weight), FrontDoorLoss()
    weighted(out, y), plain(out, y)
    # the class weights enter the main cross-entropy, and only it
    expected = torch.nn.functional.cross_entropy(out["logits"], y, weight=weight)
    assert weighted.last_terms_["ce"] == pytest.approx(float(expected.detach()), rel=1e-6)
    assert weighted.last_terms_["ce"] != pytest.approx(plain.last_terms_["ce"], rel=1e-6)
    for key in ("nce", "adv", "diag"):
        assert weighted.last_terms_[key] == pytest.approx(plain.last_terms_[key])


def test_predict_proba_shapes_and_rows():
    net = _fitted()
    X, _ = _batch(7, seed=2)
    for beta in (0.0, 0.3, 1.0):
        for approximation in ("exact", "nwgm"):
            p = net.predict_proba(X, beta=beta, approximation=approximation)
            assert p.shape == (7, N_CLASSES)
            torch.testing.assert_close(p.sum(1), torch.ones(7))


# ----------------------------------------------------------------------------- the β formula
def test_chunked_exact_average_equals_unchunked():
    net = _fitted()
    X, _ = _batch(9, seed=3)
    for beta in (0.0, 0.4, 1.0):
        full = net.predict_proba(X, beta=beta, chunk_size=10_000)
        for chunk_size in (1, 3, 7):
            torch.testing.assert_close(net.predict_proba(X, beta=beta, chunk_size=chunk_size), full)


def test_nwgm_differs_but_is_close():
    net = _fitted()
    X, _ = _batch(30, seed=4)
    exact = net.predict_proba(X, beta=0.5)
    nwgm = net.predict_proba(X, beta=0.5, approximation="nwgm")
    assert not torch.allclose(exact, nwgm)
    assert (exact - nwgm).abs().max() < 0.15


def test_beta_is_affine_and_endpoints():
    net = _fitted()
    X, _ = _batch(10, seed=5)
    p0, p1 = net.predict_proba(X, beta=0.0, approximation="exact"), net.predict_proba(X, beta=1.0, approximation="exact")
    torch.testing.assert_close(net.predict_proba(X, beta=0.3, approximation="exact"), 0.3 * p1 + 0.7 * p0)
    # β = 1 ignores the sample's own auxiliary input; β = 0 does not
    X2 = dict(X, a=torch.randn_like(X["a"]))
    torch.testing.assert_close(net.predict_proba(X2, beta=1.0, approximation="exact"), p1)
    assert not torch.allclose(net.predict_proba(X2, beta=0.0, approximation="exact"), p0)
    # β = 1 is the weighted mean of softmax g over the dictionary
    m = net.encode(X)["mediator"]
    with torch.no_grad():
        contexts, auxiliaries, weights = net.dictionary.entries()
        probs = net.head(m[:, None], contexts[None], auxiliaries[None])
        expected = torch.einsum("njy,j->ny", probs.softmax(-1), weights)
    torch.testing.assert_close(p1, expected)


def test_front_door_average_by_hand():
    torch.manual_seed(0)
    head = FrontDoorHead(2, 3, 2, 4, hidden_size=5)
    m, z = torch.randn(3, 2), torch.randn(3, 2)
    r, zd = torch.randn(6, 3), torch.randn(6, 2)
    w = torch.rand(6)
    w = w / w.sum()
    la = torch.randn(3, 6).log_softmax(1)
    with torch.no_grad():
        got = front_door_average(head, m, z, r, zd, w, la, 0.25, chunk_size=4)
        expected = torch.zeros(3, 4)
        for i in range(3):
            for j in range(6):
                expected[i] += 0.25 * w[j] * head(m[i], r[j], zd[j]).softmax(-1)
                expected[i] += 0.75 * la[i, j].exp() * head(m[i], r[j], z[i]).softmax(-1)
    torch.testing.assert_close(got, expected)


def test_prediction_needs_the_dictionary():
    X, _ = _batch(4)
    with pytest.raises(RuntimeError, match="dictionary"):
        _network().predict_proba(X, beta=0.5)


# ----------------------------------------------------------------------------- dictionary
def test_kmeans_dictionary():
    net = _network(dictionary="kmeans", dictionary_size=5).eval()
    X, y = _batch(40, seed=1)
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0))
    assert 1 <= len(net.dictionary.contexts) <= 5
    torch.testing.assert_close(net.dictionary.weights.sum(), torch.tensor(1.0))
    assert net.dictionary.auxiliaries.shape == (len(net.dictionary.contexts), 4)


def test_determinism_with_seeded_generator():
    X, y = _batch(40, seed=1)
    nets = []
    for seed in (0, 0, 1):
        net = _network(seed=0).eval()
        net.fit_dictionary(X, y, torch.Generator().manual_seed(seed))
        nets.append(net)
    torch.testing.assert_close(nets[0].dictionary.contexts, nets[1].dictionary.contexts)
    torch.testing.assert_close(nets[0].predict_proba(X, beta=0.5), nets[1].predict_proba(X, beta=0.5))
    assert not torch.equal(nets[0].dictionary.contexts, nets[2].dictionary.contexts)
    torch.testing.assert_close(_network(seed=3)(X)["logits"], _network(seed=3)(X)["logits"])


def test_no_auxiliary_modality():
    net = _network(auxiliary=(), sample_shapes=None).eval()
    X, y = _batch()
    out = net(X)
    assert out["logits"].shape == (20, N_CLASSES)
    assert "contrastive_pair" not in out and "adversary_prediction" not in out
    assert net.context_encoder is None
    loss_fn = FrontDoorLoss()
    loss_fn(out, y)
    assert set(loss_fn.last_terms_) == {"ce", "diag"}
    net.fit_dictionary(X, y)
    torch.testing.assert_close(net.predict_proba(X, beta=0.0), net.predict_proba(X, beta=1.0))


# ----------------------------------------------------------------------------- training parts
def test_gradient_reversal_flips_gradients():
    x = torch.randn(5, requires_grad=True)
    (gradient_reversal(x, 2.5) * torch.arange(5.0)).sum().backward()
    torch.testing.assert_close(x.grad, -2.5 * torch.arange(5.0))
    layer = GradientReversal(0.5)
    x.grad = None
    out = layer(x)
    torch.testing.assert_close(out, x)
    out.pow(2).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * 2 * x.detach())


def test_adversary_ramp_uses_progress():
    net = _network(adversary_weight=4.0, adversary_ramp=0.5)
    X, y = _batch()
    grads = {}
    for progress in (0.0, 0.25, 0.5, 1.0):
        net.progress = progress
        out = net(X)
        m = out["mediator"]
        m.retain_grad()
        prediction = out["adversary_prediction"][torch.arange(20), y]
        nn.functional.mse_loss(prediction, out["adversary_target"]).backward()
        grads[progress] = m.grad.clone()
        net.zero_grad()
    assert net.adversary_coefficient() == 4.0
    assert grads[0.0].abs().max() == 0
    torch.testing.assert_close(grads[0.5], 2 * grads[0.25])
    torch.testing.assert_close(grads[1.0], grads[0.5])
    # the reversed gradient opposes the adversary's own descent direction
    net.progress = 1.0
    out = net(X)
    plain_m = out["mediator"].detach().requires_grad_(True)
    prediction = net.adversary(plain_m).view(20, N_CLASSES, -1)[torch.arange(20), y]
    nn.functional.mse_loss(prediction, out["adversary_target"]).backward()
    torch.testing.assert_close(grads[1.0], -4.0 * plain_m.grad)


def test_diagnostic_heads_are_detached():
    net = _network()
    X, y = _batch()
    out = net(X)
    loss = nn.functional.cross_entropy(out["mediator_logits"], y)
    loss = loss + sum(nn.functional.cross_entropy(v, y) for v in out["modality_logits"].values())
    loss.backward()
    encoders = [net.mediator_encoder, net.context_encoder, *net.auxiliary_encoders.values()]
    for p in (p for enc in encoders for p in enc.parameters()):
        assert p.grad is None or p.grad.abs().max() == 0
    assert net.mediator_diagnostic_head.weight.grad.abs().max() > 0


# ----------------------------------------------------------------------------- bridge test
def _random_scm(rng, nu=3, nx=3, nm=3, na=2, ny=3):
    """Front-door SCM U→X, U→Y, X→M→Y, U→A with Dirichlet CPTs; returns P(x, a, m, y)."""
    p_u = rng.dirichlet(np.ones(nu))
    p_x_u = rng.dirichlet(np.ones(nx) * 0.7, size=nu)
    p_a_u = rng.dirichlet(np.ones(na) * 0.7, size=nu)
    p_m_x = rng.dirichlet(np.ones(nm) * 0.7, size=nx)
    p_y_mu = rng.dirichlet(np.ones(ny) * 0.7, size=(nm, nu))
    return np.einsum("u,ux,ua,xm,muy->xamy", p_u, p_x_u, p_a_u, p_m_x, p_y_mu)


def _conditional_front_door(joint, beta):
    """Discrete `conditional` estimator β FD(y|do(x)) + (1-β) FD_a(y|do(x), a), axes (x, a, y)."""
    p_xa = joint.sum(axis=(2, 3))
    p_m_x = joint.sum(axis=(1, 3)) / joint.sum(axis=(1, 2, 3))[:, None]
    p_x_given_a = p_xa / p_xa.sum(0, keepdims=True)  # [x', a]
    p_m_xa = joint.sum(3) / p_xa[:, :, None]  # [x, a, m]
    p_y_mxa = joint / joint.sum(3, keepdims=True)  # [x', a, m, y]
    fd = np.einsum("xm,pbmy,pb->xy", p_m_x, p_y_mxa, p_xa)
    fd_a = np.einsum("xam,pa,pamy->xay", p_m_xa, p_x_given_a, p_y_mxa)
    return beta * fd[:, None, :] + (1 - beta) * fd_a, p_m_xa


class _TableHead(nn.Module):
    """Head whose logits are log P(y | m, x', a) read off one-hot inputs."""

    def __init__(self, log_table):
        super().__init__()
        self.log_table = log_table  # [m, x', a, y]

    def forward(self, mediator, context, auxiliary):
        return self.log_table[mediator.argmax(-1), context.argmax(-1), auxiliary.argmax(-1)]


class _Slice(nn.Module):
    def __init__(self, start, stop):
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x):
        return x[:, self.start : self.stop]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("attention_kind", ["ratio", "match"])
def test_bridge_reproduces_discrete_conditional_estimator(seed, attention_kind):
    """With one-hot features and empirical tables, the network is the discrete estimator.

    SCM: U→X, U→Y, X→M→Y, U→A (A is not a descendant of M, and M ⊥ A | X). From the
    observed joint P(x, a, m, y) the discrete `conditional` estimator is

        P_β(y | do(x), a) = β Σ_m P(m|x) Σ_{x',a'} P(x',a') P(y|m,x',a')
                            + (1-β) Σ_m P(m|x,a) Σ_x' P(x'|a) P(y|m,x',a).

    The network sees one mediator value per sample, so the bridge is stated per (m, a):
    the predominant input is [one_hot(m), one_hot(x)] (mediator path = the first block,
    context path = the second), the auxiliary input is one_hot(a), the head is
    log P(y | m, x', a), the dictionary holds every (x', a') cell with weight P(x', a'), and
    the attention is P(x'|a) (as the density ratio P(x'|a)/P(x') times the weights, or as a
    hard match a' = a). Its prediction Q_β(y | m, a) averaged with the sample's mediator
    distribution, Σ_m P(m|x,a) Q_β(y | m, a), equals P_β(y | do(x), a) (P(m|x,a) = P(m|x)
    because M ⊥ A | X) to 1e-6 for every β: both the direct numpy formula written here and
    ``skcausalmm.adjustment.front_door_adjustment(joint, beta, variant="conditional")``.
    """
    rng = np.random.default_rng(seed)
    joint = _random_scm(rng)
    nx, na, nm, ny = joint.shape
    p_xa = joint.sum(axis=(2, 3))
    p_x = p_xa.sum(1)
    p_x_given_a = p_xa / p_xa.sum(0, keepdims=True)
    p_y_mxa = joint / joint.sum(3, keepdims=True)  # [x', a, m, y]
    log_table = torch.from_numpy(np.log(p_y_mxa).transpose(2, 0, 1, 3).copy())  # [m, x', a, y]

    blocks = iter([_Slice(0, nm), _Slice(nm, nm + nx)])

    def factory(name, out_features):
        return next(blocks) if name == "x" else nn.Identity()

    if attention_kind == "ratio":
        log_ratio = torch.from_numpy(np.log(p_x_given_a / p_x[:, None]))  # [x', a]

        def attention(z, contexts, auxiliaries):
            return log_ratio[contexts.argmax(-1)][:, z.argmax(-1)].T
    else:

        def attention(z, contexts, auxiliaries):
            match = z.argmax(-1)[:, None] == auxiliaries.argmax(-1)[None, :]
            return torch.where(match, 0.0, -torch.inf).to(torch.float64)

    net = frontdoor_network(
        factory, "x", ["a"], ny, mediator_size=nm, context_size=nx, auxiliary_size=na,
        adversary_weight=0.0, attention=attention, head=_TableHead(log_table), n_prototypes=len(p_xa.ravel()),
    ).eval()
    cells = [(x, a) for x in range(nx) for a in range(na)]
    eye_x, eye_a, eye_m = (torch.eye(k, dtype=torch.float64) for k in (nx, na, nm))
    net.set_dictionary(
        torch.stack([eye_x[x] for x, _ in cells]),
        torch.stack([eye_a[a] for _, a in cells]),
        torch.tensor([p_xa[x, a] for x, a in cells]),
    )
    # one input row per (x, m, a)
    rows = [(x, m, a) for x in range(nx) for m in range(nm) for a in range(na)]
    X = {
        "x": torch.stack([torch.cat([eye_m[m], eye_x[x]]) for x, m, _ in rows]),
        "a": torch.stack([eye_a[a] for _, _, a in rows]),
    }
    for beta in (0.0, 0.3, 0.7, 1.0):
        expected, p_m_xa = _conditional_front_door(joint, beta)
        q = net.predict_proba(X, beta=beta, approximation="exact", chunk_size=4).numpy().reshape(nx, nm, na, ny)
        got = np.einsum("xam,xmay->xay", p_m_xa, q)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        # the package's exact discrete estimator agrees with the direct formula
        reference = front_door_adjustment(joint, beta=beta, variant="conditional")
        np.testing.assert_allclose(got, reference, atol=1e-6)
    # the SCM is confounded: the estimator is not the observational P(y | x, a)
    p_y_xa = joint.sum(2) / p_xa[:, :, None]
    assert np.abs(_conditional_front_door(joint, 1.0)[0] - p_y_xa).max() > 1e-3


def test_fitted_state_dict_loads_into_fresh_network():
    net = _fitted()
    X, _ = _batch(5)
    fresh = _network(seed=7).eval()
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(fresh.predict_proba(X, beta=0.5), net.predict_proba(X, beta=0.5))


def test_mediator_is_layer_normalised():
    net = _network(mediator_normalization="layer")
    X, _ = _batch()
    m = net(X)["mediator"]
    torch.testing.assert_close(m.mean(1), torch.zeros(20), atol=1e-5, rtol=0)


def test_decorrelation_objective_trains_without_an_adversary_network():
    from skcausalmm import FrontDoorMultimodalClassifier
    from skcausalmm.datasets import make_confounded_multimodal
    from skcausalmm.metrics import mediator_diagnostics

    tr = make_confounded_multimodal(1500, predominant="table", random_state=0)
    te = make_confounded_multimodal(1500, predominant="table", random_state=1)
    common = dict(predominant="table", max_epochs=15, random_state=0, auxiliary="confounder")
    plain = FrontDoorMultimodalClassifier(adversary_weight=0.0, **common).fit(tr.data, tr.target)
    decor = FrontDoorMultimodalClassifier(**common)  # the role's objective: decorrelation, weight 20
    decor.fit(tr.data, tr.target)
    assert decor.net_.module_.adversary is None and "decor" in decor.history_[-1]
    before = mediator_diagnostics(plain, te.data, te.target, variables={"trace": te.trace, "content": te.content})
    after = mediator_diagnostics(decor, te.data, te.target, variables={"trace": te.trace, "content": te.content})
    assert after["trace_accuracy"] < before["trace_accuracy"] - 0.2  # the confounder's trace is stripped
    assert after["content_accuracy"] > 0.9  # the content is kept


def test_shared_trunk_reads_mediator_and_context_off_one_encoder():
    from skcausalmm import FrontDoorMultimodalClassifier

    rng = np.random.default_rng(0)
    X = {"p": rng.normal(size=(64, 5)).astype(np.float32), "a": rng.normal(size=(64, 3)).astype(np.float32)}
    y = (X["p"][:, 0] > 0).astype(int)
    common = dict(predominant="p", max_epochs=2, hidden_size=8, mediator_size=4, context_size=6, random_state=0)
    shared = FrontDoorMultimodalClassifier(shared_trunk=True, **common).fit(X, y)
    separate = FrontDoorMultimodalClassifier(shared_trunk=False, **common).fit(X, y)
    net = shared.net_.module_
    assert net.context_encoder is None and separate.net_.module_.context_encoder is not None
    features = net.encode({k: torch.from_numpy(v) for k, v in X.items()})
    assert features["mediator"].shape == (64, 4) and features["context"].shape == (64, 6)
    n_params = [sum(p.numel() for p in m.net_.module_.parameters()) for m in (shared, separate)]
    assert n_params[0] < n_params[1]
    assert shared.predict_proba(X).shape == (64, 2)


@pytest.mark.parametrize("direct_terms", [False, True])
def test_complete_batches_without_a_mask_train_the_auxiliary_head_and_count_the_mediator_head_once(direct_terms):
    # complete training data carry no availability mask: P(y | a), what a row without X gets at
    # prediction, must still learn; and with direct terms X's own head is the mediator's, counted once
    net = _network(direct_terms=direct_terms, shared_trunk=direct_terms, unimodal_weight=1.0 if direct_terms else 0.0)
    X, y = _batch()
    out = net(X)
    loss_fn = FrontDoorLoss(contrastive_weight=0.0)
    loss_fn(out, y).backward()
    assert net.auxiliary_head.weight.grad is not None and net.auxiliary_head.weight.grad.abs().sum() > 0
    heads = [out["mediator_logits"], out["auxiliary_logits"]]
    heads += [logits for name, logits in out["modality_logits"].items() if name != out.get("own_head_is_mediator")]
    expected = sum(torch.nn.functional.cross_entropy(logits, y) for logits in heads)
    assert loss_fn.last_terms_["diag"] == pytest.approx(float(expected), rel=1e-5)
    assert (out.get("own_head_is_mediator") == "x") == direct_terms
