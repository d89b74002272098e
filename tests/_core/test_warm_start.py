"""warm_start=True continues training; partial_fit trains one epoch per call."""

import numpy as np
import pytest

from skcausalmm import (
    CausalInfoMinClassifier,
    ContrastiveICA,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MMParetoClassifier,
    RedCoreClassifier,
)

SMALL = dict(max_epochs=3, hidden_size=8, lr=1e-2, random_state=0)


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = {"a": rng.normal(size=(n, 4)).astype(np.float32), "b": rng.normal(size=(n, 3)).astype(np.float32)}
    y = (X["a"][:, 0] + X["b"][:, 0] > 0).astype(int)
    return X, y


def _adam_steps(clf):
    state = clf.net_.optimizer_.state_dict()["state"]
    return int(next(iter(state.values()))["step"])


@pytest.mark.parametrize(
    "cls",
    [LateFusionClassifier, MMParetoClassifier, RedCoreClassifier, CausalInfoMinClassifier, FrontDoorMultimodalClassifier],
    ids=lambda c: c.__name__,
)
def test_warm_start_continues_the_same_network(cls):
    X, y = _data()
    clf = cls(**SMALL, warm_start=True).fit(X, y)
    net, steps = clf.net_, _adam_steps(clf)
    first_losses = list(clf.history_[:, "train_loss"])
    clf.fit(X, y)
    assert clf.net_ is net  # not rebuilt
    assert clf.n_epochs_ == 2 * SMALL["max_epochs"] == len(clf.history_)
    assert _adam_steps(clf) == 2 * steps  # the optimiser's state went on
    assert list(clf.history_[:, "train_loss"])[: len(first_losses)] == first_losses
    cold = cls(**SMALL).fit(X, y)
    cold.fit(X, y)  # warm_start=False: trains from scratch again
    assert cold.n_epochs_ == SMALL["max_epochs"]


def test_warm_start_keeps_settings_resolved_by_the_first_fit():
    X, y = _data()
    clf = FrontDoorMultimodalClassifier(**SMALL, warm_start=True).fit(X, y)
    chosen, scaling = clf.predominant_modality_, clf.input_scaling_
    X2 = {k: v * 10 for k, v in X.items()}
    clf.fit(X2, y)
    assert clf.predominant_modality_ == chosen
    assert clf.input_scaling_ is scaling  # the network's fixed input layer is kept


def test_warm_start_refuses_other_modalities_or_new_classes():
    X, y = _data()
    clf = LateFusionClassifier(**SMALL, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="modalit"):
        clf.fit({"a": X["a"], "c": X["b"]}, y)
    with pytest.raises(ValueError, match=r"not seen"):
        clf.fit(X, np.where(y == 1, 2, 0))


def test_partial_fit_one_epoch_per_call_and_learns():
    X, y = _data(n=400)
    Xte, yte = _data(n=300, seed=1)
    clf = LateFusionClassifier(hidden_size=16, lr=1e-2, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    chunks = np.array_split(np.arange(len(y)), 4)
    scores = []
    for epoch in range(3):
        for i, idx in enumerate(chunks):
            clf.partial_fit({k: v[idx] for k, v in X.items()}, y[idx], classes=[0, 1] if epoch == i == 0 else None)
            scores.append(clf.score(Xte, yte))
    assert clf.n_epochs_ == 12 == len(clf.history_)
    assert scores[-1] > 0.8 and scores[-1] > scores[0] + 0.05


def test_partial_fit_checks_classes_and_allows_single_class_chunks():
    X, y = _data()
    clf = LateFusionClassifier(**SMALL).partial_fit(X, y, classes=np.array([0, 1, 2]))
    assert list(clf.classes_) == [0, 1, 2]
    ones = y == 1
    clf.partial_fit({k: v[ones] for k, v in X.items()}, y[ones])  # one class in a chunk is fine
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="differs"):
        clf.partial_fit(X, y, classes=[0, 1])


def test_transformer_warm_start():
    X, _ = _data()
    est = ContrastiveICA(n_components=2, max_epochs=2, hidden_size=8, random_state=0, warm_start=True).fit(X)
    before = est.transform(X)
    net = est.net_
    est.fit(X)
    assert est.net_ is net and est.n_epochs_ == 4
    after = est.transform(X)
    assert after.shape == before.shape and not np.allclose(after, before)
