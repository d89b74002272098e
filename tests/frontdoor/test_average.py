"""Fast front-door prediction: split head, prototype dictionary, scikit-learn k-means (issue 16)."""

import numpy as np
import pytest
import torch
from torch import nn

from skcausalmm import FrontDoorMultimodalClassifier
from skcausalmm.frontdoor.network import FrontDoorHead, FrontDoorNetwork, _kmeans, front_door_average

N_CLASSES = 3
SHAPES = {"x": (6,), "a": (5,)}
TOLERANCE = 0.01  # mean total variation of the prototype dictionary from the exact average


def _factory(name, out_features):
    return nn.Sequential(nn.Linear(SHAPES[name][0], 8), nn.ReLU(), nn.Linear(8, out_features))


def _data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(N_CLASSES, (n,), generator=g)
    X = {name: torch.randn(n, *shape, generator=g) for name, shape in SHAPES.items()}
    X["x"][:, 0] += 2.0 * y
    X["a"][:, 0] += y
    return X, y


def _network(auxiliary=("a",), **kwargs):
    torch.manual_seed(0)
    params = dict(mediator_size=6, context_size=5, auxiliary_size=4, projection_size=4, hidden_size=8,
                  dictionary_size=400, sample_shapes=SHAPES, n_prototypes=32)
    params.update(kwargs)
    return FrontDoorNetwork(_factory, "x", list(auxiliary), N_CLASSES, **params).eval()


def _tv(p, q):
    return float(0.5 * (p - q).abs().sum(1).mean())


@pytest.fixture(scope="module")
def trained():
    """A tiny network trained for a few steps (so that the head is not random), dictionary built."""
    from skcausalmm.frontdoor.network import FrontDoorLoss

    net = _network().train()
    X, y = _data(600)
    loss_fn = FrontDoorLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss_fn(net(X), y).backward()
        opt.step()
    net.eval()
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0))
    return net


def test_split_head_equals_generic_average(trained):
    """The split-head kernel computes the same average as calling the head on broadcast triples."""
    X, _ = _data(50, seed=3)
    f = trained.encode(X)
    r, zd, w = trained.dictionary_contexts_, trained.dictionary_auxiliaries_, trained.dictionary_weights_
    log_attention = trained._log_attention(f["auxiliary"])

    def generic(m, rr, zz):  # same maths, but not a FrontDoorHead: the broadcast path
        return trained.head(m, rr, zz)

    for approximation in ("exact", "nwgm"):
        for beta in (0.0, 0.3, 1.0):
            fast = front_door_average(trained.head, f["mediator"], f["auxiliary"], r, zd, w, log_attention, beta,
                                      approximation=approximation, chunk_size=7)
            slow = front_door_average(generic, f["mediator"], f["auxiliary"], r, zd, w, log_attention, beta,
                                      approximation=approximation)
            torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_first_layer_parts_sum_to_forward():
    head = FrontDoorHead(3, 4, 5, 2, hidden_size=6)
    m, r, z = torch.randn(7, 3), torch.randn(7, 4), torch.randn(7, 5)
    pre = head.first_layer(mediator=m) + head.first_layer(context=r, auxiliary=z, bias=False)
    torch.testing.assert_close(head.output_layer(torch.relu(pre)), head(m, r, z))
    with pytest.raises(ValueError, match="at least one"):
        head.first_layer()


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_prototypes_agree_with_exact_within_tolerance(trained, beta):
    X, _ = _data(300, seed=4)
    exact = trained.predict_proba(X, beta=beta, approximation="exact")
    fast = trained.predict_proba(X, beta=beta, approximation="prototypes")
    assert len(trained.prototype_contexts_) <= 32 < len(trained.dictionary_contexts_)
    torch.testing.assert_close(fast.sum(1), torch.ones(len(fast)))
    assert _tv(fast, exact) <= TOLERANCE
    # the prototype dictionary is a real approximation, not the dictionary itself
    assert _tv(fast, exact) > 0


def test_more_prototypes_are_rebuilt_and_closer(trained):
    X, _ = _data(300, seed=5)
    exact = trained.predict_proba(X, approximation="exact")
    few = trained.predict_proba(X, approximation="prototypes", n_prototypes=4)
    assert len(trained.prototype_contexts_) <= 4 and int(trained.prototype_info_[0]) == 4
    many = trained.predict_proba(X, approximation="prototypes", n_prototypes=200)
    assert _tv(many, exact) < _tv(few, exact)
    trained.predict_proba(X, approximation="prototypes")  # back to the network's size
    assert int(trained.prototype_info_[0]) == 32


def test_exact_path_is_the_whole_dictionary(trained):
    X, _ = _data(20, seed=6)
    f = trained.encode(X)
    expected = front_door_average(
        trained.head, f["mediator"], f["auxiliary"], trained.dictionary_contexts_, trained.dictionary_auxiliaries_,
        trained.dictionary_weights_, trained._log_attention(f["auxiliary"]), 0.5,
    )
    torch.testing.assert_close(trained.predict_proba(X, beta=0.5, approximation="exact"), expected)
    with pytest.raises(ValueError, match="approximation"):
        trained.predict_proba(X, approximation="mean")


def test_prototype_dictionary_reproducible_and_weights_sum_to_one():
    X, y = _data(500)
    nets = []
    for seed in (0, 0, 1):
        net = _network(dictionary="kmeans", dictionary_size=50)
        net.fit_dictionary(X, y, torch.Generator().manual_seed(seed))
        nets.append(net)
    for net in nets:
        torch.testing.assert_close(net.dictionary_weights_.sum(), torch.tensor(1.0))
        torch.testing.assert_close(net.prototype_weights_.sum(), torch.tensor(1.0))
        assert len(net.prototype_contexts_) <= 32
    for name in ("dictionary_contexts_", "prototype_contexts_", "prototype_weights_"):
        torch.testing.assert_close(getattr(nets[0], name), getattr(nets[1], name))
    assert not torch.equal(nets[0].dictionary_contexts_, nets[2].dictionary_contexts_)


def test_kmeans_is_seeded_weighted_and_exact_means():
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g) + 10.0])
    weights = torch.cat([torch.full((40,), 3.0), torch.ones(40)])
    centres, w = _kmeans(points, 2, torch.Generator().manual_seed(1), weights)
    again, _ = _kmeans(points, 2, torch.Generator().manual_seed(1), weights)
    torch.testing.assert_close(centres, again)
    order = centres[:, 0].argsort()
    torch.testing.assert_close(w[order], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(centres[order], torch.stack([points[:40].mean(0), points[40:].mean(0)]))
    # more clusters than points: one per distinct point, no warning
    few, w_few = _kmeans(points[:3], 10, torch.Generator().manual_seed(0))
    assert len(few) == 3 and torch.isclose(w_few.sum(), torch.tensor(1.0))


def test_sample_weight_of_the_dictionary():
    X, y = _data(100)
    weight = torch.linspace(0.0, 2.0, 100)
    net = _network(dictionary_size=400)  # all samples: weights are the normalised sample weights
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0), sample_weight=weight)
    torch.testing.assert_close(net.dictionary_weights_, weight / weight.sum())
    sampled = _network(dictionary_size=30)
    sampled.fit_dictionary(X, y, torch.Generator().manual_seed(0), sample_weight=weight + 1.0)
    assert len(sampled.dictionary_weights_) == 30 and not torch.allclose(
        sampled.dictionary_weights_, torch.full((30,), 1 / 30)
    )
    clustered = _network(dictionary="kmeans", dictionary_size=10)
    clustered.fit_dictionary(X, y, torch.Generator().manual_seed(0), sample_weight=weight)
    torch.testing.assert_close(clustered.dictionary_weights_.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit_dictionary(X, y, sample_weight=torch.ones(3))


def test_dictionary_smaller_than_prototypes_is_used_as_is():
    X, y = _data(20)
    net = _network(dictionary_size=400, n_prototypes=32)
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0))
    assert torch.equal(net.prototype_contexts_, net.dictionary_contexts_)
    for beta in (0.0, 0.5, 1.0):
        torch.testing.assert_close(
            net.predict_proba(X, beta=beta, approximation="prototypes"),
            net.predict_proba(X, beta=beta, approximation="exact"),
        )


def test_set_dictionary_drops_prototypes_and_rebuilds_them(trained):
    net = _network()
    net.load_state_dict(trained.state_dict())
    torch.testing.assert_close(net.prototype_contexts_, trained.prototype_contexts_)
    net.set_dictionary(trained.dictionary_contexts_, trained.dictionary_auxiliaries_)
    assert net.prototype_contexts_ is None
    X, _ = _data(10)
    p = net.predict_proba(X, approximation="prototypes")
    assert net.prototype_contexts_ is not None and p.shape == (10, N_CLASSES)


def test_no_auxiliary_modality():
    X, y = _data(30)
    net = _network(auxiliary=(), adversary_weight=0.0)
    net.fit_dictionary(X, y)
    assert net.prototype_contexts_ is None
    p = net.predict_proba({"x": X["x"]}, approximation="prototypes")
    torch.testing.assert_close(p, net.head(net.encode({"x": X["x"]})["mediator"]).softmax(-1))


def test_estimator_default_is_prototypes_and_exact_available():
    rng = np.random.RandomState(0)
    n = 400
    y = rng.randint(3, size=n)
    X = {"t": (rng.normal(size=(n, 5)) + y[:, None]).astype(np.float32),
         "u": (rng.normal(size=(n, 4)) + 0.5 * y[:, None]).astype(np.float32)}
    clf = FrontDoorMultimodalClassifier(
        predominant="t", mediator_size=8, context_size=8, auxiliary_size=8, projection_size=8, hidden_size=16,
        max_epochs=3, batch_size=64, lr=1e-2, random_state=0, n_prototypes=16,
    ).fit(X, y)
    assert clf.approximation == "prototypes"
    fast = clf.predict_proba(X)
    exact = clf.set_params(approximation="exact").predict_proba(X)
    assert 0 < 0.5 * np.abs(fast - exact).sum(1).mean() <= TOLERANCE
    pearl, conditional = clf.set_params(approximation="prototypes").front_door_terms(X)
    np.testing.assert_allclose(0.5 * pearl + 0.5 * conditional, fast, atol=1e-5)
    with pytest.raises(ValueError, match="n_prototypes"):
        clf.set_params(n_prototypes=0).predict_proba(X)
