"""scikit-learn's callback API (sklearn.callback, 1.9+): epochs are the subtasks of our fits."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier, ModalityDict

callback = pytest.importorskip("sklearn.callback")


class Recorder:
    """A FitCallback that records the task tree (and optionally stops after some epochs)."""

    max_propagation_depth = None  # auto-propagated from meta-estimators

    def __init__(self, stop_after=None):
        self.events, self.stop_after, self.scores = [], stop_after, []

    def setup(self, estimator, context):
        self.events.append(("setup", type(estimator).__name__))

    def teardown(self, estimator, context):
        self.events.append(("teardown", type(estimator).__name__))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None):
        self.events.append(("begin", context.task_name, context.max_subtasks))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, fitted_estimator=None):
        self.events.append(("end", context.task_name))
        if context.task_name == "epoch" and fitted_estimator is not None:
            self.scores.append(fitted_estimator.score(X, y))
        epochs = sum(1 for e in self.events if e[:2] == ("end", "epoch"))
        return self.stop_after is not None and epochs >= self.stop_after


def _data(n=120):
    rng = np.random.default_rng(0)
    X = {"a": rng.normal(size=(n, 4)).astype(np.float32), "b": rng.normal(size=(n, 3)).astype(np.float32)}
    return X, (X["a"][:, 0] + X["b"][:, 0] > 0).astype(int)


def test_every_epoch_is_a_task_with_a_ready_to_score_estimator():
    X, y = _data()
    rec = Recorder()
    clf = LateFusionClassifier(max_epochs=4, hidden_size=8, random_state=0).set_callbacks(rec).fit(X, y)
    assert rec.events[0] == ("setup", "LateFusionClassifier") and rec.events[-1][0] == "teardown"
    assert ("begin", "fit", 4) in rec.events
    assert sum(1 for e in rec.events if e == ("end", "epoch")) == 4
    assert len(rec.scores) == 4 and all(0 <= s <= 1 for s in rec.scores)
    assert clf.n_epochs_ == 4


def test_a_callback_can_stop_training():
    X, y = _data()
    clf = LateFusionClassifier(max_epochs=10, hidden_size=8, random_state=0).set_callbacks(Recorder(stop_after=3))
    clf.fit(X, y)
    assert clf.n_epochs_ == 3
    assert clf.predict(X).shape == y.shape


def test_front_door_reports_epochs_without_mid_training_estimators():
    X, y = _data()
    rec = Recorder()
    FrontDoorMultimodalClassifier(max_epochs=2, hidden_size=8, random_state=0).set_callbacks(rec).fit(X, y)
    assert sum(1 for e in rec.events if e == ("end", "epoch")) == 2 and rec.scores == []


def test_propagated_from_grid_search_without_warnings():
    X, y = _data()
    rec = Recorder()
    search = GridSearchCV(LateFusionClassifier(max_epochs=2, hidden_size=8, random_state=0), {"lr": [1e-3, 1e-2]}, cv=2)
    search.set_callbacks(rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.fit(ModalityDict(X), y)
    # 2 candidates x 2 folds + the refit, each with 2 epochs
    assert sum(1 for e in rec.events if e == ("end", "epoch")) == 5 * 2


def test_progress_bar_on_a_search():
    pytest.importorskip("rich")
    X, y = _data()
    search = GridSearchCV(LateFusionClassifier(max_epochs=2, hidden_size=8, random_state=0), {"lr": [1e-2]}, cv=2)
    search.set_callbacks(callback.ProgressBar(max_propagation_depth=None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.fit(ModalityDict(X), y)
    assert search.best_params_ == {"lr": 1e-2}
