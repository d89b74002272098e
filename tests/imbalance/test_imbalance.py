"""OGM-GE, MMPareto and MLA: the mechanism of each method, not only that it runs."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from skcausalmm import LateFusionClassifier, MLAClassifier, MMParetoClassifier, OGMGEClassifier
from skcausalmm.base import MultimodalNet
from skcausalmm.fusion.network import share_logits
from skcausalmm.imbalance.mla import GradientProjector, entropy_fusion, entropy_weights
from skcausalmm.imbalance.ogm import _confidence_scores, ogm_coefficients
from skcausalmm.imbalance.pareto import MultitaskLoss, min_norm_weights, pareto_gradients, pareto_weights

from ..helpers import make_data

SMALL = dict(hidden_size=8, lr=1e-2, batch_size=32, random_state=0)


def _dominant_data(n=120, seed=0):
    """'strong' separates the classes, 'weak' is noise."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 3, n)
    strong = rng.normal(size=(n, 4)).astype(np.float32)
    strong[np.arange(n), y] += 4.0
    weak = rng.normal(size=(n, 3)).astype(np.float32)
    return {"strong": strong, "weak": weak}, y


def _batch(clf, X, y):
    Xt = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in X.items()}
    yt = torch.from_numpy(np.searchsorted(clf.classes_, y)).long()
    return Xt, yt


def _grads(net):
    return {n: p.grad.detach().clone() for n, p in net.module_.named_parameters() if p.grad is not None}


def _plain_grads(net, batch):
    net._zero_grad_optimizer()
    MultimodalNet.train_step_single(net, batch)
    return _grads(net)


def _method_grads(net, batch):
    net._zero_grad_optimizer()
    step = net.train_step_single(batch)
    return _grads(net), step


# ------------------------------------------------------------------------ OGM-GE
def test_ogm_coefficients_formula():
    ratios, coeffs = ogm_coefficients({"a": 30.0, "b": 10.0, "c": 15.0}, alpha=0.5)
    assert ratios == pytest.approx({"a": 3.0, "b": 1.0, "c": 1.5})
    assert coeffs["a"] == pytest.approx(1 - np.tanh(1.5))
    assert coeffs["c"] == pytest.approx(1 - np.tanh(0.75))
    assert coeffs["b"] == 1.0


def test_ogm_scales_dominant_encoder_weights_only():
    X, y = _dominant_data()
    clf = OGMGEClassifier(max_epochs=3, gaussian_enhancement=False, alpha=0.5, modulation_epochs=(0, 100), **SMALL)
    clf.fit(X, y)
    net = clf.net_
    batch = _batch(clf, X, y)
    plain = _plain_grads(net, batch)
    modulated, step = _method_grads(net, batch)

    # The coefficients the step must have used, recomputed independently.
    module = net.module_
    with torch.no_grad():
        feats = module.encode(net.standardizer_(batch[0]))
        logits = share_logits(module.head, feats, module.names)
        fused = module.head(torch.cat([feats[m] for m in module.names], 1))
        assert torch.allclose(sum(logits.values()), fused, atol=1e-5)
        scores = {m: float(torch.softmax(v, 1)[torch.arange(len(y)), batch[1]].sum()) for m, v in logits.items()}
    assert scores["strong"] > scores["weak"]
    k = 1 - np.tanh(0.5 * scores["strong"] / scores["weak"])
    assert k < 1

    checked = {"strong": 0, "weak": 0}
    for name, g0 in plain.items():
        g1 = modulated[name]
        if name.startswith("encoders.") and name.endswith("weight") and g0.dim() >= 2:
            m = name.split(".")[1]
            expected = g0 * (k if m == "strong" else 1.0)
            assert torch.allclose(g1, expected, rtol=1e-4, atol=1e-7), name
            checked[m] += 1
        else:  # biases, the fused head and the probes are untouched
            assert torch.allclose(g1, g0, rtol=1e-5, atol=1e-8), name
    assert checked["strong"] >= 2 and checked["weak"] >= 2
    assert clf.history_[-1, "coeff_strong"] < 1.0
    assert clf.history_[-1, "coeff_weak"] == 1.0
    assert clf.history_[-1, "ratio_strong"] > 1.0


def test_ogm_window_and_gaussian_enhancement():
    X, y = _dominant_data()
    clf = OGMGEClassifier(max_epochs=3, gaussian_enhancement=False, modulation_epochs=(0, 1), **SMALL).fit(X, y)
    batch = _batch(clf, X, y)
    plain = _plain_grads(clf.net_, batch)
    modulated, _ = _method_grads(clf.net_, batch)
    for name in plain:  # epoch 2 is outside [0, 1): nothing changes
        assert torch.allclose(modulated[name], plain[name], rtol=1e-5, atol=1e-8)
    assert clf.history_[0, "coeff_strong"] < 1.0 and clf.history_[-1, "coeff_strong"] == 1.0

    clf = OGMGEClassifier(max_epochs=2, gaussian_enhancement=True, alpha=0.0, **SMALL).fit(X, y)
    plain = _plain_grads(clf.net_, batch)
    noisy, _ = _method_grads(clf.net_, batch)
    # alpha = 0 gives k = 1 - tanh(0) = 1: the weight gradients are kept and Gaussian noise
    # whose std is that of the original gradient is added; every encoder gets noise.
    big = "encoders.strong.net.0.weight"
    assert torch.allclose((noisy[big] - plain[big]).std(), plain[big].std(), rtol=0.35)
    assert not torch.allclose(noisy["encoders.weak.net.0.weight"], plain["encoders.weak.net.0.weight"])
    assert torch.equal(noisy["encoders.weak.net.0.bias"], plain["encoders.weak.net.0.bias"])


def test_ogm_single_modality_is_plain_training():
    X, y = _dominant_data()
    clf = OGMGEClassifier(max_epochs=2, **SMALL).fit(X["strong"], y)
    assert "coeff_X" not in clf.history_[-1]
    plain = LateFusionClassifier(max_epochs=2, **SMALL).fit(X["strong"], y)
    np.testing.assert_allclose(clf.predict_proba(X["strong"]), plain.predict_proba(X["strong"]), atol=1e-6)


def test_ogm_bad_window():
    X, y = _dominant_data(40)
    with pytest.raises(ValueError, match="modulation_epochs"):
        OGMGEClassifier(modulation_epochs=(5, 2), max_epochs=1).fit(X, y)


# ---------------------------------------------------------------------- MMPareto
def test_min_norm_weights_on_conflicting_gradients():
    g_mm, g_u = torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 1.0])
    cos, (w1, w2) = pareto_weights(g_mm, g_u)
    assert cos < 0
    assert w1 == pytest.approx((1.25 + 0.5) / 3.25) and w1 + w2 == pytest.approx(1.0)
    d = w1 * g_mm + w2 * g_u  # the min-norm point is orthogonal to the segment
    assert float(d @ (g_mm - g_u)) == pytest.approx(0.0, abs=1e-6)
    grid = np.linspace(0, 1, 1001)
    norms = [float(torch.linalg.norm(c * g_mm + (1 - c) * g_u)) for c in grid]
    assert float(torch.linalg.norm(d)) <= min(norms) + 1e-6
    # agreeing gradients: equal weights; the end points of the official solver
    assert pareto_weights(g_mm, torch.tensor([1.0, 1.0]))[1] == (0.5, 0.5)
    assert min_norm_weights(torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0]))[0] == 0.999
    assert min_norm_weights(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0]))[0] == 0.001


def test_pareto_gradient_formula():
    g_mm, g_u = [torch.tensor([1.0, 0.0])], [torch.tensor([-0.5, 1.0])]
    s = [g_mm[0] + g_u[0]]
    _, w = pareto_weights(g_mm[0], g_u[0])
    (out,) = pareto_gradients(g_mm, g_u, s, w, gamma=1.5)
    d = 2 * (w[0] * g_mm[0] + w[1] * g_u[0])
    assert torch.linalg.norm(s[0]) > torch.linalg.norm(d)  # rescaled up to the summed norm
    assert torch.allclose(out, 1.5 * d * torch.linalg.norm(s[0]) / torch.linalg.norm(d))
    big = [torch.tensor([10.0, 0.0])]  # d larger than the sum: no rescaling
    (out,) = pareto_gradients(big, [torch.tensor([0.0, 0.0])], [torch.tensor([0.1, 0.0])], (0.5, 0.5), 2.0)
    assert torch.allclose(out, 2.0 * torch.tensor([10.0, 0.0]))


def test_mmpareto_step_applies_the_formula():
    X, y = _dominant_data()
    clf = MMParetoClassifier(max_epochs=2, gamma=1.5, **SMALL).fit(X, y)
    net, module = clf.net_, clf.net_.module_
    batch = _batch(clf, X, y)
    out = module(net.standardizer_(batch[0]))
    fused = F.cross_entropy(out["logits"], batch[1])
    uni = {m: F.cross_entropy(v, batch[1]) for m, v in out["modality_logits"].items()}
    expected = {}
    for m in module.names:
        params = list(module.encoders[m].named_parameters())
        a = torch.autograd.grad(fused, [p for _, p in params], retain_graph=True)
        b = torch.autograd.grad(uni[m], [p for _, p in params], retain_graph=True)
        _, w = pareto_weights(torch.cat([g.flatten() for g in a]), torch.cat([g.flatten() for g in b]))
        for (name, _), ga, gb in zip(params, a, b):
            d = 2 * (w[0] * ga + w[1] * gb)
            ratio = torch.linalg.norm(ga + gb) / torch.linalg.norm(d)
            expected[f"encoders.{m}.{name}"] = 1.5 * d * (ratio if ratio > 1 else 1.0)
    total = fused + sum(uni.values())
    heads = [(n, p) for n, p in module.named_parameters() if not n.startswith(("encoders.", "absent."))]
    for (n, _), g in zip(heads, torch.autograd.grad(total, [p for _, p in heads])):
        expected[n] = g
    # the absent embeddings stand in for missing rows only: a complete batch leaves them at rest
    expected.update({n: torch.zeros_like(p) for n, p in module.named_parameters() if n.startswith("absent.")})
    got, _ = _method_grads(net, batch)
    assert set(got) == set(expected)
    for name, g in expected.items():
        assert torch.allclose(got[name], g, rtol=1e-4, atol=1e-7), name
    assert {"cos_strong", "weight_mm_weak", "ce_strong", "fused_ce"} <= set(clf.history_[-1])


# --------------------------------------------------------------------------- MLA
class CountingAdam(torch.optim.Adam):
    steps = 0

    def step(self, closure=None):
        type(self).steps += 1
        return super().step(closure)


def test_mla_one_step_per_modality_per_batch():
    X, y = _dominant_data(100)
    X["third"] = np.random.RandomState(1).normal(size=(100, 2)).astype(np.float32)
    CountingAdam.steps = 0
    clf = MLAClassifier(max_epochs=2, optimizer=CountingAdam, **SMALL).fit(X, y)
    n_batches = int(np.ceil(100 / 32))
    assert CountingAdam.steps == 2 * n_batches * 3
    assert {"ce_strong", "ce_weak", "ce_third", "train_acc"} <= set(clf.history_[-1])


def test_entropy_weights_and_fusion():
    confident = torch.tensor([[8.0, 0.0, 0.0]])
    unsure = torch.tensor([[0.1, 0.0, 0.0]])
    w = entropy_weights({"a": confident, "b": unsure})
    ent = [-(torch.softmax(v, 1) * torch.log_softmax(v, 1)).sum() for v in (confident, unsure)]
    assert torch.allclose(w[0], torch.softmax(-torch.stack(ent), 0))
    assert w[0, 0] > w[0, 1] and torch.allclose(w.sum(1), torch.ones(1))
    fused = entropy_fusion({"a": confident, "b": unsure})
    assert torch.allclose(fused, w[0, 0] * confident + w[0, 1] * unsure)


def test_mla_predict_proba_is_entropy_fusion_of_modality_heads():
    X, y = _dominant_data()
    clf = MLAClassifier(max_epochs=3, **SMALL).fit(X, y)
    parts = clf.modality_proba(X)
    logits = {m: torch.from_numpy(np.log(p)) for m, p in parts.items()}
    expected = torch.softmax(entropy_fusion(logits), 1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-5)
    assert clf.score(X, y) > 0.8
    # the strong modality, through the shared head, is the better one on its own
    acc = {m: (clf.classes_[p.argmax(1)] == y).mean() for m, p in parts.items()}
    assert acc["strong"] > acc["weak"]


def test_gradient_projector_protects_earlier_features():
    torch.manual_seed(0)
    proj = GradientProjector(4)
    g = torch.randn(3, 4)
    first = g.clone()
    proj.step(first, torch.randn(5, 4), alpha=0.01)
    assert torch.equal(first, g)  # the first update is not projected
    r = torch.tensor([[1.0, 2.0, 0.0, -1.0]]).repeat(6, 1)
    g2 = torch.randn(3, 4)
    proj.step(g2, r, alpha=0.01)
    # the projected gradient barely moves the head's output on the features just seen
    rel = torch.linalg.norm(g2 @ r[0]) / (torch.linalg.norm(g2) * torch.linalg.norm(r[0]))
    assert rel < 0.05
    assert torch.allclose(proj.P, proj.P.T, atol=1e-6)


# --------------------------------------------------------------- image + table
@pytest.mark.parametrize("cls", [OGMGEClassifier, MMParetoClassifier, MLAClassifier])
def test_fit_on_image_and_table(cls):
    rng = np.random.RandomState(0)
    n = 64
    y = rng.randint(0, 2, n)
    image = rng.normal(size=(n, 1, 8, 8)).astype(np.float32)
    image[y == 1, :, 2:5, 2:5] += 2.0
    table = rng.normal(size=(n, 3)).astype(np.float32) + y[:, None]
    X = {"image": image, "table": table}
    clf = cls(max_epochs=2, **SMALL).fit(X, y)
    assert clf.predict(X).shape == (n,)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    assert sorted(clf.modality_proba(X)) == ["image", "table"]


# --------------------------------------------------------------------------- missing modalities
def test_entropy_fusion_runs_over_the_present_modalities():
    torch.manual_seed(0)
    logits = {m: torch.randn(5, 3) for m in ("a", "b", "c")}
    present = {"a": torch.ones(5), "b": torch.tensor([1.0, 0, 1, 0, 1]), "c": torch.zeros(5)}
    w = entropy_weights(logits, present)
    assert (w[:, 2] == 0).all() and (w[[1, 3], 1] == 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(5))
    fused = entropy_fusion(logits, present)
    torch.testing.assert_close(fused[[1, 3]], logits["a"][[1, 3]])  # one present modality: its own logits
    torch.testing.assert_close(entropy_fusion(logits, {m: torch.ones(5) for m in logits}), entropy_fusion(logits))


def test_ogm_scores_judge_each_modality_on_its_present_rows():
    hits = {"a": torch.tensor([0.9, 0.9, 0.9, 0.9]), "b": torch.tensor([0.5, 0.5, 0.0, 0.0])}
    full = _confidence_scores(hits, None, {})
    assert full == pytest.approx({"a": 3.6, "b": 1.0})  # the paper's batch sums
    masked = _confidence_scores(hits, None, {"a": torch.ones(4), "b": torch.tensor([1.0, 1.0, 0.0, 0.0])})
    assert masked == pytest.approx({"a": 3.6, "b": 2.0})  # b is not weaker for being missing
    assert _confidence_scores(hits, None, {m: torch.ones(4) for m in hits}) == pytest.approx(full)


def test_mmpareto_unimodal_terms_count_present_rows():
    torch.manual_seed(0)
    y = torch.tensor([0, 1, 2, 0])
    outputs = {"logits": torch.randn(4, 3), "modality_logits": {"a": torch.randn(4, 3), "b": torch.randn(4, 3)}}
    outputs["present"] = {"a": torch.ones(4), "b": torch.tensor([0.0, 1.0, 1.0, 0.0])}
    fused, uni = MultitaskLoss().terms(outputs, y)
    torch.testing.assert_close(uni["b"], F.cross_entropy(outputs["modality_logits"]["b"][1:3], y[1:3]))
    torch.testing.assert_close(uni["a"], F.cross_entropy(outputs["modality_logits"]["a"], y))
    torch.testing.assert_close(fused, F.cross_entropy(outputs["logits"], y))


@pytest.mark.parametrize("cls", [OGMGEClassifier, MMParetoClassifier, MLAClassifier], ids=lambda c: c.__name__)
def test_a_modality_missing_from_a_row_leaves_its_prediction_to_the_others(cls):
    X, y = _dominant_data(120)
    from skcausalmm.datasets import mask_modalities

    clf = cls(max_epochs=5, **SMALL).fit(mask_modalities(X, 0.3, random_state=0), y)
    module = clf.net_.module_
    batch = {k: torch.as_tensor(np.asarray(v[:8], dtype=np.float32)) for k, v in X.items()}
    names = clf.modality_names_
    mask = torch.ones(8, len(names))
    mask[:, 0] = 0.0
    noisy = {**batch, names[0]: torch.randn_like(batch[names[0]]) * 100}
    with torch.no_grad():  # what the missing modality's (zero-filled) input holds does not matter
        torch.testing.assert_close(module(batch, availability=mask)["logits"], module(noisy, availability=mask)["logits"])


class _DefaultStepAdam(torch.optim.Adam):
    """torch's Adam with its default (per-tensor) step: the package fuses only Adam itself."""


@pytest.mark.parametrize(
    "make",
    [lambda **kw: MMParetoClassifier(**kw), lambda **kw: OGMGEClassifier(gaussian_enhancement=True, **kw)],
    ids=["MMPareto", "OGM-GE"],
)
def test_gradients_set_by_the_training_step_give_the_fused_adam_step_the_same_update(make):
    # these steps set gradients themselves; for an image stored channels-last (what numpy's fancy
    # indexing of an (n, 1, h, w) array with a broadcast channel axis gives) torch.autograd.grad hands
    # the convolutions' weight gradients back channels-last, which the fused step would read in the
    # parameter's layout
    X, y = make_data(n=256, image_shape=(1, 8, 8))
    channels_last = np.empty((256, 8, 8, 1), dtype=np.float32)
    channels_last[...] = np.moveaxis(X["image"], 1, -1)
    X["image"] = np.moveaxis(channels_last, -1, 1)
    assert X["image"].strides[1] == X["image"].itemsize  # the channel axis has the smallest stride
    fused = make(max_epochs=2, random_state=0).fit(X, y)
    default = make(max_epochs=2, random_state=0, optimizer=_DefaultStepAdam).fit(X, y)
    for (name, a), b in zip(fused.net_.module_.named_parameters(), default.net_.module_.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
