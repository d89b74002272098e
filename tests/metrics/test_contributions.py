"""Imbalance diagnostics: modality scores, Shapley contributions, the summary, the plot."""

import itertools
import math
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import LateFusionClassifier, ModalityTransformer
from skcausalmm.metrics import imbalance_summary, modality_scores, shapley_contributions


class VoteClassifier(ClassifierMixin, BaseEstimator):
    """Toy: predicts 1 when the first columns of the modalities sum to a positive number."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        total = sum(np.asarray(v)[:, 0] for v in X.values())
        return self.classes_[(total > 0).astype(int)]


def _votes(n=200, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, n)
    sign = (2 * y - 1).astype(float)[:, None]
    noise = rng.choice([-1.0, 1.0], size=(n, 1))
    # a and b are interchangeable copies of the label; c is a coin; d is a weak reading
    weak = np.where(rng.rand(n, 1) < 0.7, sign, -sign) * 0.5
    return {"a": sign.copy(), "b": sign.copy(), "c": noise, "d": weak}, y


def _brute_force_shapley(values, names):
    n = len(names)
    phi = {}
    for m in names:
        total = 0.0
        for perm in itertools.permutations(names):
            before = frozenset(perm[: perm.index(m)])
            total += values[before | {m}] - values[before]
        phi[m] = total / math.factorial(n)
    return phi


def test_shapley_efficiency_symmetry_and_formula():
    X, y = _votes()
    est = VoteClassifier().fit(X, y)
    phi, values = shapley_contributions(est, X, y, return_values=True)
    assert len(values) == 2**4
    assert sum(phi.values()) == pytest.approx(values[frozenset(X)] - values[frozenset()])
    assert phi["a"] == pytest.approx(phi["b"])  # symmetry of interchangeable modalities
    assert phi["a"] > phi["d"] > abs(phi["c"]) - 0.05
    assert phi == pytest.approx(_brute_force_shapley(values, list(X)))
    # the empty coalition is all zeros: the toy predicts class 0 for everyone
    assert values[frozenset()] == pytest.approx(np.mean(y == 0))


def test_shapley_two_modalities_by_hand():
    X, y = _votes()
    X = {"a": X["a"], "d": X["d"]}
    est = VoteClassifier().fit(X, y)
    phi, v = shapley_contributions(est, X, y, return_values=True)
    e, a, d, ad = v[frozenset()], v[frozenset({"a"})], v[frozenset({"d"})], v[frozenset({"a", "d"})]
    assert phi["a"] == pytest.approx(0.5 * ((a - e) + (ad - d)))
    assert phi["d"] == pytest.approx(0.5 * ((d - e) + (ad - a)))


def test_shapley_mean_baseline_and_scoring():
    X, y = _votes()
    est = VoteClassifier().fit(X, y)
    phi = shapley_contributions(est, X, y, scoring="balanced_accuracy", baseline="mean")
    assert set(phi) == set(X)
    with pytest.raises(ValueError, match="baseline"):
        shapley_contributions(est, X, y, baseline="median")


def _fitted_fusion():
    rng = np.random.RandomState(0)
    n = 120
    y = rng.randint(0, 3, n)
    strong = rng.normal(size=(n, 4))
    strong[np.arange(n), y] += 4.0
    weak = rng.normal(size=(n, 3)) * 10 + 50
    X = {"strong": strong, "weak": weak}
    return X, y


def test_fusion_estimator_pipeline_and_scores():
    X, y = _fitted_fusion()
    pipe = make_pipeline(
        ModalityTransformer({"weak": StandardScaler()}),
        LateFusionClassifier(max_epochs=15, hidden_size=8, lr=1e-2, random_state=0),
    ).fit(X, y)
    phi, v = shapley_contributions(pipe, X, y, return_values=True)
    assert sum(phi.values()) == pytest.approx(v[frozenset(X)] - v[frozenset()])
    assert phi["strong"] > phi["weak"]
    summary = imbalance_summary(phi)
    assert summary["dominant"] == "strong" and summary["dominant_share"] > 0.5
    scores = modality_scores(pipe, X, y)
    assert set(scores) == {"strong", "weak"}
    assert scores["strong"]["accuracy"] > scores["weak"]["accuracy"]
    assert 0 <= scores["weak"]["f1_macro"] <= 1


def test_table_input_uses_the_estimators_modalities():
    X, y = _fitted_fusion()
    table = np.hstack([X["strong"], X["weak"] / 10])
    clf = LateFusionClassifier(
        modalities={"strong": slice(0, 4), "weak": slice(4, 7)}, max_epochs=10, hidden_size=8, lr=1e-2, random_state=0
    ).fit(table, y)
    phi, v = shapley_contributions(clf, table, y, baseline="zeros", return_values=True)
    assert set(phi) == {"strong", "weak"}
    assert v[frozenset({"strong", "weak"})] == pytest.approx(clf.score(table, y))
    zeroed = table.copy()
    zeroed[:, 4:] = 0
    assert v[frozenset({"strong"})] == pytest.approx(clf.score(zeroed, y))


def test_imbalance_summary():
    s = imbalance_summary({"a": 0.3, "b": 0.1, "c": -0.05})
    assert s["dominant"] == "a"
    assert s["dominant_share"] == pytest.approx(0.75)
    assert s["shares"]["c"] == 0.0
    assert s["total"] == pytest.approx(0.35)
    assert np.isnan(imbalance_summary({"a": -0.1, "b": -0.2})["dominant_share"])
    with pytest.raises(ValueError):
        imbalance_summary({})


def test_modality_scores_needs_heads():
    X, y = _votes()
    with pytest.raises(TypeError, match="modality_proba"):
        modality_scores(VoteClassifier().fit(X, y), X, y)


def test_plot_contributions():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skcausalmm.plotting import plot_contributions

    ax = plot_contributions({"pix": 0.5, "mor": -0.1})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pix", "mor"]
    assert len(ax.patches) == 2


def test_plot_without_matplotlib(monkeypatch):
    from skcausalmm import plotting

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="plot"):
        plotting.plot_contributions({"a": 1.0})


@pytest.mark.parametrize("baseline", ["auto", "zeros", "mean"])
def test_late_fusion_shapley_from_cached_features_equals_masked_scoring(baseline):
    """The additive fast path (each modality's logit part once, summed per coalition) scores what masked inputs score."""
    from sklearn.metrics import accuracy_score, make_scorer

    from skcausalmm.metrics.contributions import _additive_logits

    X, y = _fitted_fusion()
    X = {**X, "noise": np.random.RandomState(1).normal(size=(len(y), 2))}
    clf = LateFusionClassifier(max_epochs=3, hidden_size=8, random_state=0).fit(X, y)
    assert _additive_logits(clf)
    fast, v_fast = shapley_contributions(clf, X, y, baseline=baseline, return_values=True)
    # a callable scorer takes the general path: one masked prediction per coalition
    slow, v_slow = shapley_contributions(clf, X, y, scoring=make_scorer(accuracy_score), baseline=baseline,
                                         return_values=True)
    assert v_fast == pytest.approx(v_slow, abs=1e-12)
    assert fast == pytest.approx(slow, abs=1e-12)
    assert not _additive_logits(VoteClassifier().fit(X, y))
