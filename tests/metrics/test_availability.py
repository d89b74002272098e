"""Tests of the per-availability-pattern scores and their plot."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skcausalmm.metrics.availability import availability_patterns, availability_scores, plot_availability_scores

RNG = np.random.default_rng(0)
N = 40
Y = np.r_[np.zeros(10, int), np.ones(30, int)]
COLUMNS = {"a": [0], "b": [1], "c": slice(2, 4)}


def blocks():
    return {
        "a": Y[:, None].astype(float),
        "b": 1.0 - Y[:, None],
        "c": RNG.normal(size=(N, 2)),
    }


class Oracle(ClassifierMixin, BaseEstimator):
    """Predicts y from a when present, the wrong label from b otherwise, else always 1."""

    _supports_missing = True

    def __init__(self, modalities=None):
        self.modalities = modalities

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.modality_names_ = ["a", "b", "c"]
        self.seen_ = []
        return self

    def _split(self, X):
        if isinstance(X, dict):
            return X
        table = np.asarray(X, dtype=float)
        return {k: table[:, sel] for k, sel in self.modalities.items()}

    def predict(self, X):
        d = self._split(X)
        self.seen_.append({k: ~np.isnan(v).all(axis=1) for k, v in d.items()})
        a, b = d["a"][:, 0], d["b"][:, 0]
        return np.where(~np.isnan(a), a, np.where(~np.isnan(b), b, 1.0)).astype(int)


def expected_accuracy(pattern):
    if "a" in pattern:
        return 1.0
    if "b" in pattern:
        return 0.0
    return float(np.mean(Y == 1))


def test_patterns_order():
    assert availability_patterns(["x", "y"]) == [("x",), ("y",), ("x", "y")]
    assert len(availability_patterns(list("abcd"))) == 15


def test_scores_per_pattern_and_average():
    X = blocks()
    est = Oracle().fit(X, Y)
    table = availability_scores(est, X, Y)
    assert list(table.index) == ["a", "b", "c", "a+b", "a+c", "b+c", "a+b+c", "average"]
    assert list(table.columns) == ["n_modalities", "n_samples", "accuracy", "balanced_accuracy", "macro_f1"]
    for label in table.index[:-1]:
        pattern = label.split("+")
        assert table.loc[label, "accuracy"] == pytest.approx(expected_accuracy(pattern))
        assert table.loc[label, "n_samples"] == N
        assert table.loc[label, "n_modalities"] == len(pattern)
    # only-c always predicts 1: accuracy 0.75 but balanced accuracy 0.5
    assert table.loc["c", "balanced_accuracy"] == pytest.approx(0.5)
    assert table.loc["c", "macro_f1"] == pytest.approx(0.5 * (0 + 2 * 0.75 / 1.75))
    assert table.loc["average", "accuracy"] == pytest.approx(
        np.mean([expected_accuracy(p.split("+")) for p in table.index[:-1]])
    )
    # each call saw exactly its pattern present
    for seen, label in zip(est.seen_, table.index[:-1]):
        assert {k for k, v in seen.items() if v.all()} == set(label.split("+"))
        assert not any(v.any() for k, v in seen.items() if k not in label.split("+"))


def test_table_input_with_selectors_and_pipeline():
    X = blocks()
    table_in = np.column_stack([X["a"], X["b"], X["c"]])
    est = Oracle(modalities=COLUMNS).fit(table_in, Y)
    scores = availability_scores(est, table_in, Y)
    assert scores.loc["b+c", "accuracy"] == pytest.approx(0.0)
    frame = pd.DataFrame(table_in, columns=["a", "b", "c1", "c2"])
    pipe = Pipeline([("id", FunctionTransformer(lambda t: np.asarray(t))), ("clf", Oracle(modalities=COLUMNS))])
    pipe.fit(frame, Y)
    assert availability_scores(pipe, frame, Y).equals(scores)
    assert table_in[0, 1] == 1.0 - Y[0]  # the input is not modified


def test_samples_missing_a_pattern_modality_are_left_out():
    X = blocks()
    X["a"][:5] = np.nan
    est = Oracle().fit(X, Y)
    table = availability_scores(est, X, Y, patterns=[("a",), ["b", "a"], "c"])
    assert list(table.index) == ["a", "a+b", "c", "average"]
    assert table.loc["a", "n_samples"] == N - 5
    assert table.loc["c", "n_samples"] == N
    assert table.loc["a+b", "accuracy"] == pytest.approx(1.0)


def test_rejects_estimator_without_missing_support_and_bad_patterns():
    X = blocks()

    class NoMissing(Oracle):
        _supports_missing = False

    with pytest.raises(ValueError, match="does not support missing modalities"):
        availability_scores(NoMissing().fit(X, Y), X, Y)
    est = Oracle().fit(X, Y)
    with pytest.raises(ValueError, match="unknown modalities"):
        availability_scores(est, X, Y, patterns=[("a", "z")])
    with pytest.raises(ValueError, match="at least one"):
        availability_scores(est, X, Y, patterns=[()])
    with pytest.raises(ValueError, match="'all'"):
        availability_scores(est, X, Y, patterns="some")
    with pytest.raises(ValueError, match="samples but y has"):
        availability_scores(est, X, Y[:-1])


def test_plot_methods_side_by_side(monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    X = blocks()
    table = availability_scores(Oracle().fit(X, Y), X, Y)
    other = table.copy()
    other["accuracy"] = 0.5
    ax = plot_availability_scores({"oracle": table, "flat": other}, errors={"flat": other * 0 + 0.01})
    assert [t.get_text() for t in ax.get_xticklabels()] == list(table.index)
    assert len(ax.patches) == 2 * len(table)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["oracle", "flat"]
    heights = [p.get_height() for p in ax.patches[: len(table)]]
    assert heights == pytest.approx(table["accuracy"].tolist())
    with pytest.raises(ValueError, match="not a column"):
        plot_availability_scores(table, metric="auc")
    with pytest.raises(ValueError, match="expected"):
        plot_availability_scores({"x": table, "y": table.iloc[:3]})
