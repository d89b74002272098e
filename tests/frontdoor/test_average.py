"""The β average: the split-head fast path, the prototype dictionary, scikit-learn's k-means."""

import numpy as np
import pytest
import torch

from skcausalmm import FrontDoorMultimodalClassifier
from skcausalmm.frontdoor.average import front_door_average
from skcausalmm.frontdoor.head import FrontDoorHead

from .toy import TOLERANCE, data, network, tv


def test_split_head_equals_generic_average(trained):
    """The split-head kernel computes the same average as calling the head on broadcast triples."""
    X, _ = data(50, seed=3)
    f = trained.encode(X)
    r, zd, w = trained.dictionary.entries()
    log_attention = trained._log_attention(f["auxiliary"], r, zd, w)

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
    X, _ = data(300, seed=4)
    exact = trained.predict_proba(X, beta=beta, approximation="exact")
    fast = trained.predict_proba(X, beta=beta, approximation="prototypes")
    assert len(trained.dictionary.prototype_contexts) <= 32 < len(trained.dictionary.contexts)
    torch.testing.assert_close(fast.sum(1), torch.ones(len(fast)))
    assert tv(fast, exact) <= TOLERANCE
    # the prototype dictionary is a real approximation, not the dictionary itself
    assert tv(fast, exact) > 0


def test_more_prototypes_are_closer_and_prediction_never_rebuilds_them(trained):
    net = network()
    net.load_state_dict(trained.state_dict())
    X, _ = data(300, seed=5)
    exact = net.predict_proba(X, approximation="exact")
    few = net.dictionary.compress(4, seed=0)
    assert len(few.prototype_contexts) <= 4 and few.n_prototypes == 4
    p_few = net.predict_proba(X, approximation="prototypes")
    assert net.dictionary.n_prototypes == 4  # prediction used the prototypes as built
    p_many = net.dictionary.compress(200, seed=0) and net.predict_proba(X, approximation="prototypes")
    assert tv(p_many, exact) < tv(p_few, exact)


def test_exact_path_is_the_whole_dictionary(trained):
    X, _ = data(20, seed=6)
    f = trained.encode(X)
    entries = trained.dictionary.entries()
    expected = front_door_average(
        trained.head, f["mediator"], f["auxiliary"], *entries, trained._log_attention(f["auxiliary"], *entries), 0.5,
    )
    torch.testing.assert_close(trained.predict_proba(X, beta=0.5, approximation="exact"), expected)
    with pytest.raises(ValueError, match="approximation"):
        front_door_average(trained.head, f["mediator"], f["auxiliary"], *entries, None, 1.0, approximation="mean")
    with pytest.raises(ValueError, match="beta"):
        front_door_average(trained.head, f["mediator"], f["auxiliary"], *entries, None, 1.5)


def test_no_auxiliary_modality():
    X, y = data(30)
    net = network(auxiliary=(), adversary_weight=0.0)
    net.fit_dictionary(X, y)
    assert not net.dictionary.built
    p = net.predict_proba({"x": X["x"]}, approximation="prototypes")
    torch.testing.assert_close(p, net.head(net.encode({"x": X["x"]})["mediator"]).softmax(-1))


def test_estimator_default_is_prototypes_and_exact_available():
    rng = np.random.RandomState(0)
    n = 400
    y = rng.randint(3, size=n)
    X = {"t": (rng.normal(size=(n, 5)) + y[:, None]).astype(np.float32),
         "u": (rng.normal(size=(n, 4)) + 0.5 * y[:, None]).astype(np.float32)}
    clf = FrontDoorMultimodalClassifier(
        predominant="t", auxiliary="confounder", mediator_size=8, context_size=8, auxiliary_size=8, projection_size=8, hidden_size=16,
        max_epochs=3, batch_size=64, lr=1e-2, random_state=0, n_prototypes=16,
    ).fit(X, y)
    assert clf.approximation == "prototypes"
    fast = clf.predict_proba(X)
    exact = clf.set_params(approximation="exact").predict_proba(X)
    assert 0 < 0.5 * np.abs(fast - exact).sum(1).mean() <= TOLERANCE
    pearl, conditional = clf.set_params(approximation="prototypes").front_door_terms(X)
    np.testing.assert_allclose(0.5 * pearl + 0.5 * conditional, fast, atol=1e-5)
    with pytest.raises(ValueError, match="n_prototypes=8, but the prototypes were built at fit time for n_prototypes=16"):
        clf.set_params(n_prototypes=8).predict_proba(X)
    np.testing.assert_allclose(clf.set_params(approximation="exact").predict_proba(X), exact)  # no prototypes needed
    clf.set_params(approximation="prototypes").set_prototypes(8)  # rebuilt explicitly, not in predict
    assert clf.n_prototypes == 8 and clf.net_.module_.dictionary.n_prototypes == 8
    few = clf.predict_proba(X)
    assert 0.5 * np.abs(few - exact).sum(1).mean() > 0.5 * np.abs(fast - exact).sum(1).mean()
    np.testing.assert_array_equal(clf.set_prototypes(16).predict_proba(X), fast)  # the fit-time seed: reproducible
