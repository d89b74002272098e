"""Permutation importance of whole modalities (dict and table forms, missing blocks, scoring, errors)."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
import torch
from joblib import parallel_backend
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import LateFusionClassifier, ModalityDict, ModalityTransformer
from skcausalmm.metrics import modality_permutation_importance

N = 120
TINY = dict(max_epochs=10, hidden_size=16, random_state=0)
COLUMNS = {"signal": slice(0, 3), "noise": slice(3, 7)}


def _data(n=N, seed=0):
    """``signal`` carries the label, ``noise`` does not."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = (2 * y - 1)[:, None] + 0.5 * rng.normal(size=(n, 3))
    noise = rng.normal(size=(n, 4))
    return {"signal": signal, "noise": noise}, y


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    clf = LateFusionClassifier(**TINY).fit(X, y)
    return clf, X, y


@pytest.fixture(scope="module")
def fitted_table():
    X, y = _data()
    table = np.hstack([X["signal"], X["noise"]])
    clf = LateFusionClassifier(modalities=COLUMNS, **TINY).fit(table, y)
    return clf, table, y


class Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the first class and keeps a copy of every input it is asked to predict."""

    def __init__(self, modalities=None):
        self.modalities = modalities

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.modality_names_ = list(X) if isinstance(X, Mapping) else list(self.modalities)
        self.seen_ = []
        return self

    def predict(self, X):
        self.seen_.append({k: np.array(v) for k, v in X.items()} if isinstance(X, Mapping) else np.array(X))
        n = len(next(iter(X.values()))) if isinstance(X, Mapping) else len(X)
        return np.full(n, self.classes_[0])


def _row_sources(permuted, original):
    """For each row of ``permuted``, the row of ``original`` it is (whole rows compared, NaN equal to NaN)."""
    flat_p = permuted.reshape(len(permuted), -1)
    flat_o = original.reshape(len(original), -1)
    sources = []
    for row in flat_p:
        match = np.flatnonzero([np.array_equal(row, other, equal_nan=True) for other in flat_o])
        assert match.size, "a permuted row is not a whole row of the original block"
        sources.append(match[0])
    return np.array(sources)


def test_informative_modality_is_important_and_noise_is_not(fitted):
    clf, X, y = fitted
    result = modality_permutation_importance(clf, X, y, n_repeats=5, random_state=0)
    signal, noise = result.importances_mean
    assert result.modality_names == ["signal", "noise"]
    assert signal > 0.3
    assert abs(noise) < 0.1
    assert signal > noise + 0.3


def test_result_fields_shapes_and_order(fitted):
    clf, X, y = fitted
    reordered = {"noise": X["noise"], "signal": X["signal"]}  # the fitted order gives the rows' order
    result = modality_permutation_importance(clf, reordered, y, n_repeats=4, random_state=0)
    assert set(result) == {"importances_mean", "importances_std", "importances", "modality_names"}
    assert result.modality_names == list(clf.modality_names_) == ["signal", "noise"]
    assert result.importances.shape == (2, 4)
    assert result.importances_mean.shape == result.importances_std.shape == (2,)
    np.testing.assert_allclose(result.importances_mean, result.importances.mean(axis=1))
    np.testing.assert_allclose(result.importances_std, result.importances.std(axis=1))
    # importances are the baseline score minus the permuted score
    assert np.all(result.importances <= clf.score(X, y) + 1e-12)
    same = modality_permutation_importance(clf, ModalityDict(X), y, n_repeats=4, random_state=0)
    np.testing.assert_array_equal(same.importances, result.importances)


def test_reproducible_with_random_state(fitted):
    clf, X, y = fitted
    first = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=7)
    again = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=7)
    np.testing.assert_array_equal(first.importances, again.importances)
    state = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(first.importances, state.importances)
    other = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=8)
    assert not np.array_equal(first.importances[0], other.importances[0])


def test_global_random_generators_are_left_alone(fitted):
    clf, X, y = fitted
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    modality_permutation_importance(clf, X, y, n_repeats=2, random_state=0)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:]


def test_table_form_gives_the_dict_form_result(fitted, fitted_table):
    clf, X, y = fitted
    clf_table, table, _ = fitted_table
    as_dict = modality_permutation_importance(clf, X, y, n_repeats=4, random_state=3)
    as_table = modality_permutation_importance(clf_table, table, y, n_repeats=4, random_state=3)
    assert as_table.modality_names == as_dict.modality_names
    np.testing.assert_allclose(as_table.importances, as_dict.importances)
    frame = pd.DataFrame(table, columns=[f"c{j}" for j in range(table.shape[1])])
    clf_frame = LateFusionClassifier(
        modalities={"signal": ["c0", "c1", "c2"], "noise": ["c3", "c4", "c5", "c6"]}, **TINY
    ).fit(frame, y)
    as_frame = modality_permutation_importance(clf_frame, frame, y, n_repeats=4, random_state=3)
    np.testing.assert_allclose(as_frame.importances, as_dict.importances)


def test_a_block_moves_whole_and_the_others_stay():
    rng = np.random.default_rng(1)
    X = {"image": rng.normal(size=(20, 1, 3, 3)), "tab": rng.normal(size=(20, 2))}
    y = np.arange(20) % 2
    est = Recorder().fit(X, y)
    modality_permutation_importance(est, X, y, n_repeats=3, random_state=0)
    baseline, *permuted = est.seen_
    assert len(permuted) == 6  # two modalities, three repeats each, image first (the fitted order)
    for i, seen in enumerate(permuted):
        moved, kept = ("image", "tab") if i < 3 else ("tab", "image")
        np.testing.assert_array_equal(seen[kept], X[kept])
        sources = _row_sources(seen[moved], X[moved])
        assert sorted(sources) == list(range(20)) and not np.array_equal(sources, np.arange(20))
    # every modality gets the same sequence of permutations (scikit-learn's convention)
    for a, b in zip(permuted[:3], permuted[3:]):
        np.testing.assert_array_equal(_row_sources(a["image"], X["image"]), _row_sources(b["tab"], X["tab"]))


def test_a_table_permutes_the_columns_of_a_selector_together():
    rng = np.random.default_rng(2)
    table = rng.normal(size=(15, 5))
    y = np.arange(15) % 2
    est = Recorder(modalities={"a": [0, 3], "b": slice(1, 3)}).fit(table, y)
    result = modality_permutation_importance(est, table, y, n_repeats=2, random_state=0)
    assert result.modality_names == ["a", "b"]
    for i, seen in enumerate(est.seen_[1:]):
        moved, kept = ([0, 3], [1, 2, 4]) if i < 2 else ([1, 2], [0, 3, 4])
        np.testing.assert_array_equal(seen[:, kept], table[:, kept])
        sources = _row_sources(seen[:, moved], table[:, moved])
        assert sorted(sources) == list(range(15))
    np.testing.assert_array_equal(est.seen_[0], table)  # the input is not modified


def test_missing_blocks_move_with_their_modality_and_no_sample_is_left_empty():
    rng = np.random.default_rng(3)
    n = 40
    X = {"a": rng.normal(size=(n, 2)), "b": rng.normal(size=(n, 3))}
    X["a"][:8] = np.nan  # a missing in rows 0-7, b in rows 8-15: permuting either could empty a sample
    X["b"][8:16] = np.nan
    y = np.arange(n) % 2
    est = Recorder().fit(X, y)
    modality_permutation_importance(est, X, y, n_repeats=5, random_state=0)
    moved_missing = False
    for i, seen in enumerate(est.seen_[1:]):
        name = "a" if i < 5 else "b"
        missing = np.isnan(seen[name]).all(axis=1)
        assert missing.sum() == 8  # the missing blocks are permuted with the others
        other = np.isnan(seen["b" if name == "a" else "a"]).all(axis=1)
        assert not (missing & other).any(), "a sample was left with no present modality"
        moved_missing |= not np.array_equal(missing, np.isnan(X[name]).all(axis=1))
    assert moved_missing


def test_missing_blocks_with_an_estimator_of_the_package():
    X, y = _data(n=60, seed=4)
    X["signal"][:10] = np.nan
    X["noise"][10:25] = np.nan
    clf = LateFusionClassifier(**{**TINY, "max_epochs": 3}).fit(X, y)
    result = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=0)
    assert result.importances.shape == (2, 3)
    assert np.isfinite(result.importances).all()


def test_scoring_sample_weight_and_n_jobs(fitted):
    clf, X, y = fitted
    default = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=0)
    by_name = modality_permutation_importance(clf, X, y, scoring="accuracy", n_repeats=3, random_state=0)
    by_callable = modality_permutation_importance(
        clf, X, y, scoring=make_scorer(accuracy_score), n_repeats=3, random_state=0
    )
    weighted = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=0, sample_weight=np.ones(len(y)))
    for other in (by_name, by_callable, weighted):
        np.testing.assert_allclose(other.importances, default.importances)
    several = modality_permutation_importance(
        clf, X, y, scoring=["accuracy", "neg_log_loss"], n_repeats=3, random_state=0
    )
    assert set(several) == {"accuracy", "neg_log_loss"}
    np.testing.assert_allclose(several["accuracy"].importances, default.importances)
    assert several["neg_log_loss"].modality_names == ["signal", "noise"]
    assert several["neg_log_loss"].importances_mean[0] > several["neg_log_loss"].importances_mean[1]
    with parallel_backend("threading"):
        parallel = modality_permutation_importance(clf, X, y, n_repeats=3, random_state=0, n_jobs=2)
    np.testing.assert_allclose(parallel.importances, default.importances)


def test_a_pipeline_is_permuted_at_its_input():
    rng = np.random.default_rng(5)
    X = {"a": rng.normal(size=(12, 2)), "b": rng.normal(size=(12, 2))}
    y = np.arange(12) % 2
    pipe = make_pipeline(ModalityTransformer({"a": StandardScaler()}), Recorder()).fit(X, y)
    result = modality_permutation_importance(pipe, X, y, n_repeats=2, random_state=0)
    assert result.modality_names == ["a", "b"]
    recorded, transformed = pipe[-1].seen_, pipe[0].transform(X)
    np.testing.assert_array_equal(recorded[1]["b"], transformed["b"])
    assert sorted(_row_sources(recorded[1]["a"], transformed["a"])) == list(range(12))


def test_errors(fitted):
    clf, X, y = fitted
    with pytest.raises(NotFittedError):
        modality_permutation_importance(LateFusionClassifier(), X, y)
    with pytest.raises(ValueError, match=r"lacks the modalities \['noise'\]"):
        modality_permutation_importance(clf, {"signal": X["signal"]}, y)
    with pytest.raises(ValueError, match=r"\['extra'\], which the estimator was not fitted on"):
        modality_permutation_importance(clf, {**X, "extra": X["noise"]}, y)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_repeats"):
            modality_permutation_importance(clf, X, y, n_repeats=bad)
    with pytest.raises(ValueError, match="y has 119"):
        modality_permutation_importance(clf, X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        modality_permutation_importance(clf, X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="fitted on the modalities"):
        modality_permutation_importance(clf, np.hstack([X["signal"], X["noise"]]), y)
    with pytest.raises(ValueError, match="scoring"):
        modality_permutation_importance(clf, X, y, scoring=3)
    with pytest.raises(ValueError, match="not a valid scoring"):
        modality_permutation_importance(clf, X, y, scoring="no_such_score")
    with pytest.raises(ValueError, match="same number of samples"):
        modality_permutation_importance(clf, {"signal": X["signal"], "noise": X["noise"][:5]}, y)
