"""sample_weight in fit: weighted losses, weighted standardisation, validation at the door, metadata routing."""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from skcausalmm import (
    CausalInfoMinClassifier,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    ModalityDict,
    OGMGEClassifier,
    RedCoreClassifier,
)
from skcausalmm._core.standardize import standardization_stats

#: Classifiers whose every loss term is a per-sample cross-entropy (or a term that does not
#: compare samples), so that integer weights and repeated rows give the same full-batch fit.
#: The others have batch-level terms that weights do not enter: MLA's gradient projector (the
#: features' covariance), CausalInfoMin's coding rate, RedCore's VIB and reconstruction terms,
#: the front door's InfoNCE and adversary.
DECOMPOSABLE = [LateFusionClassifier, OGMGEClassifier, MMParetoClassifier]
ALL = [*DECOMPOSABLE, MLAClassifier, CausalInfoMinClassifier, RedCoreClassifier, FrontDoorMultimodalClassifier]
SMALL = dict(max_epochs=8, hidden_size=8, lr=1e-2, batch_size=512, random_state=0)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = {"a": rng.normal(size=(n, 4)).astype(np.float32) * 3 + 1, "b": rng.normal(size=(n, 3)).astype(np.float32)}
    y = (X["a"][:, 0] - 1 + X["b"][:, 0] > 0).astype(int)
    return X, y


def _repeat(X, y, counts):
    return {k: np.repeat(v, counts, axis=0) for k, v in X.items()}, np.repeat(y, counts)


@pytest.mark.parametrize("cls", DECOMPOSABLE, ids=lambda c: c.__name__)
def test_integer_weights_equal_repeated_rows(cls):
    # one full batch per epoch: the weighted loss equals the loss on the repeated rows, and the
    # standardisation statistics agree, so both fits follow the same trajectory (float32 rounding)
    X, y = _data()
    counts = np.random.default_rng(1).integers(0, 4, size=len(y))
    counts[:2] = 1  # keep both classes
    weighted = cls(**SMALL).fit(X, y, sample_weight=counts)
    repeated = cls(**SMALL).fit(*_repeat(X, y, counts))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-5)
    unweighted = cls(**SMALL).fit(X, y)
    assert np.abs(unweighted.predict_proba(X) - weighted.predict_proba(X)).max() > 1e-3


def test_zero_weight_equals_dropping_rows():
    X, y = _data()
    keep = np.arange(len(y)) % 3 != 0
    weighted = LateFusionClassifier(**SMALL).fit(X, y, sample_weight=keep.astype(float))
    dropped = LateFusionClassifier(**SMALL).fit({k: v[keep] for k, v in X.items()}, y[keep])
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), atol=1e-5)
    for name in X:
        for got, want in zip(weighted.input_scaling_[name], dropped.input_scaling_[name]):
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_scaling_the_weights_changes_nothing():
    X, y = _data()
    w = np.random.default_rng(2).uniform(0.1, 2.0, size=len(y))
    a = LateFusionClassifier(**{**SMALL, "batch_size": 16}).fit(X, y, sample_weight=w)
    b = LateFusionClassifier(**{**SMALL, "batch_size": 16}).fit(X, y, sample_weight=7.0 * w)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)


def test_weighted_standardization_stats_equal_repeated_rows():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(20, 2, 3, 3)) * 5 + 2
    counts = rng.integers(0, 3, size=20)
    present = rng.random(20) > 0.2
    got = standardization_stats(images, present, sample_weight=counts, chunk_size=7)
    want = standardization_stats(np.repeat(images[present], counts[present], axis=0))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_classifier_takes_weights_and_they_matter(cls):
    X, y = _data(n=80)
    # heavy weight on one class pushes predictions toward it
    w = np.where(y == 1, 20.0, 1.0)
    params = {**SMALL, "max_epochs": 5, "batch_size": 32}
    plain = cls(**params).fit(X, y)
    heavy = cls(**params).fit(X, y, sample_weight=w)
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(5), "5 entries"),
        (np.ones((60, 1)), "1-D"),
        (np.full(60, np.nan), "NaN"),
        (-np.ones(60), "non-negative"),
        (np.zeros(60), "zero for every sample"),
        (np.array(["a"] * 60), "real numbers"),
    ],
)
def test_bad_weights_are_rejected_at_the_door(weights, message):
    X, y = _data()
    with pytest.raises(ValueError, match=message):
        LateFusionClassifier(max_epochs=1).fit(X, y, sample_weight=weights)


def test_early_stopping_split_carries_the_weights():
    X, y = _data(n=100)
    w = np.random.default_rng(3).uniform(0.5, 1.5, size=len(y))
    clf = LateFusionClassifier(max_epochs=4, hidden_size=8, early_stopping=True, random_state=0)
    clf.fit(X, y, sample_weight=w)
    assert np.isfinite(clf.history_[:, "valid_loss"]).all()


def test_metadata_routing_weights_every_fold_fit():
    X, y = _data(n=90)
    X = ModalityDict(X)  # scikit-learn's splitters index a ModalityDict by rows (a plain dict has no length)
    w = np.random.default_rng(4).uniform(0.0, 3.0, size=len(y))
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = LateFusionClassifier(**SMALL).set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        out = cross_validate(clf, X, y, cv=cv, params={"sample_weight": w}, return_estimator=True)
        search = GridSearchCV(clf, {"lr": [1e-2]}, cv=cv).fit(X, y, sample_weight=w)
    for (train, _), fitted in zip(cv.split(np.zeros(len(y))), out["estimator"]):
        manual = LateFusionClassifier(**SMALL).fit({k: v[train] for k, v in X.items()}, y[train], sample_weight=w[train])
        np.testing.assert_allclose(fitted.predict_proba(X), manual.predict_proba(X), atol=1e-6)
    refit = LateFusionClassifier(**SMALL).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(search.best_estimator_.predict_proba(X), refit.predict_proba(X), atol=1e-6)
