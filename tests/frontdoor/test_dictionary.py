"""The dictionary of contexts: sampled or clustered entries, their weights, the prototypes built at fit time."""

import pytest
import torch

from skcausalmm.frontdoor.dictionary import _kmeans

from .toy import N_CLASSES, data, network


def test_prototype_dictionary_reproducible_and_weights_sum_to_one():
    X, y = data(500)
    nets = []
    for seed in (0, 0, 1):
        net = network(dictionary="kmeans", dictionary_size=50)
        net.fit_dictionary(X, y, torch.Generator().manual_seed(seed))
        nets.append(net)
    for net in nets:
        torch.testing.assert_close(net.dictionary.weights.sum(), torch.tensor(1.0))
        torch.testing.assert_close(net.dictionary.prototype_weights.sum(), torch.tensor(1.0))
        assert len(net.dictionary.prototype_contexts) <= 32
    for name in ("contexts", "prototype_contexts", "prototype_weights"):
        torch.testing.assert_close(getattr(nets[0].dictionary, name), getattr(nets[1].dictionary, name))
    assert not torch.equal(nets[0].dictionary.contexts, nets[2].dictionary.contexts)


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
    X, y = data(100)
    weight = torch.linspace(0.0, 2.0, 100)
    net = network(dictionary_size=400)  # all samples: weights are the normalised sample weights
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0), sample_weight=weight)
    torch.testing.assert_close(net.dictionary.weights, weight / weight.sum())
    sampled = network(dictionary_size=30)
    sampled.fit_dictionary(X, y, torch.Generator().manual_seed(0), sample_weight=weight + 1.0)
    assert len(sampled.dictionary.weights) == 30 and not torch.allclose(
        sampled.dictionary.weights, torch.full((30,), 1 / 30)
    )
    clustered = network(dictionary="kmeans", dictionary_size=10)
    clustered.fit_dictionary(X, y, torch.Generator().manual_seed(0), sample_weight=weight)
    torch.testing.assert_close(clustered.dictionary.weights.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit_dictionary(X, y, sample_weight=torch.ones(3))


def test_dictionary_smaller_than_prototypes_is_used_as_is():
    X, y = data(20)
    net = network(dictionary_size=400, n_prototypes=32)
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0))
    assert torch.equal(net.dictionary.prototype_contexts, net.dictionary.contexts)
    for beta in (0.0, 0.5, 1.0):
        torch.testing.assert_close(
            net.predict_proba(X, beta=beta, approximation="prototypes"),
            net.predict_proba(X, beta=beta, approximation="exact"),
        )


def test_set_dictionary_builds_the_prototypes_and_a_state_dict_loads_them(trained):
    net = network()
    net.load_state_dict(trained.state_dict())
    for name in ("contexts", "weights", "prototype_contexts", "prototype_weights", "prototype_info"):
        torch.testing.assert_close(getattr(net.dictionary, name), getattr(trained.dictionary, name))
    fresh = network()
    fresh.set_dictionary(*trained.dictionary.entries(), seed=int(trained.dictionary.prototype_info[1]))
    torch.testing.assert_close(fresh.dictionary.prototype_contexts, trained.dictionary.prototype_contexts)
    X, _ = data(10)
    assert fresh.predict_proba(X, approximation="prototypes").shape == (10, N_CLASSES)


def test_an_unbuilt_dictionary_says_so():
    net = network()
    X, _ = data(10)
    with pytest.raises(RuntimeError, match="not built"):
        net.predict_proba(X)
    with pytest.raises(RuntimeError, match="not built"):
        net.dictionary.compress(4)


def test_a_state_dict_with_inconsistent_dictionary_buffers_is_refused(trained):
    state = dict(trained.state_dict())
    state["dictionary.weights"] = state["dictionary.weights"][:-1]
    with pytest.raises(ValueError, match="disagree in their number of entries"):
        network().load_state_dict(state)
    state = dict(trained.state_dict())
    state["dictionary.contexts"] = torch.zeros(len(state["dictionary.contexts"]), 99)
    with pytest.raises(ValueError, match="99"):
        network().load_state_dict(state)
