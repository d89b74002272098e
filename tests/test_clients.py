"""Every classifier through the scikit-learn clients a user reaches for, found automatically.

Each discovered classifier (the package's and the registered plug-ins) runs through searches,
cross-validation, calibration, stacking, voting, a display, metadata routing, the threading and
loky backends, the table-form meta-estimators and skops (where installed), on tiny data. Each
client must give a correct result; where a client cannot work on a dict of modalities, the
documented clear error is asserted instead.
"""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn import config_context
from sklearn.base import clone, is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import BaggingClassifier, StackingClassifier, VotingClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate

from skcausalmm import ModalityDict
from skcausalmm.base import MultimodalClassifierMixin

from .helpers import all_estimators, make_data

TINY = dict(max_epochs=3, hidden_size=8, lr=1e-2, batch_size=32, random_state=0, mediator_size=8, device="cpu")

CLASSIFIERS = [
    cls for cls in all_estimators() if issubclass(cls, MultimodalClassifierMixin) and is_classifier(cls())
]


def _make(cls, **extra):
    params = cls().get_params()
    return cls(**{k: v for k, v in {**TINY, **extra}.items() if k in params})


@pytest.fixture(scope="module")
def data():
    X, y = make_data(n=48, image_shape=(1, 4, 4))
    return ModalityDict(X), y


@pytest.fixture(scope="module")
def table():
    X, y = make_data(n=48, image_shape=(1, 4, 4))
    flat = np.hstack([X["image"].reshape(len(y), -1), X["tabular"]]).astype(np.float64)
    return flat, y, {"image": (slice(0, 16), (1, 4, 4)), "tabular": slice(16, None)}


def _client_grid_search_threads(clf, X, y):
    grid = dict(param_grid={"lr": [1e-2, 3e-2]}, cv=2)
    sequential = GridSearchCV(clf, **grid).fit(X, y)
    with parallel_backend("threading", n_jobs=2):
        threaded = GridSearchCV(clone(clf), n_jobs=2, **grid).fit(X, y)
    np.testing.assert_array_equal(sequential.cv_results_["mean_test_score"], threaded.cv_results_["mean_test_score"])
    assert threaded.predict(X).shape == y.shape


def _client_cross_val_loky(clf, X, y):
    scores = cross_val_score(clf, X, y, cv=2, n_jobs=2)
    np.testing.assert_array_equal(scores, cross_val_score(clone(clf), X, y, cv=2))


def _client_calibration(clf, X, y):
    proba = CalibratedClassifierCV(clf, cv=2).fit(X, y).predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)


def _client_stacking(clf, X, y):
    stack = StackingClassifier([("mm", clf)], final_estimator=LogisticRegression(), cv=2).fit(X, y)
    assert stack.predict(X).shape == y.shape


def _client_voting(clf, X, y):
    vote = VotingClassifier([("a", clf), ("b", clone(clf).set_params(random_state=1))], voting="soft").fit(X, y)
    assert vote.predict_proba(X).shape == (len(y), 3)


def _client_display(clf, X, y):
    import matplotlib

    matplotlib.use("Agg")
    display = ConfusionMatrixDisplay.from_estimator(clf.fit(X, y), X, y)
    assert display.confusion_matrix.sum() == len(y)
    import matplotlib.pyplot as plt

    plt.close("all")


def _client_metadata_routing(clf, X, y):
    """sample_weight reaches fit through routing: weight only on class 0 makes a class-0 model."""
    weights = np.where(y == 0, 1.0, 0.0)
    with config_context(enable_metadata_routing=True):
        clf = clone(clf).set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        routed = cross_validate(clf, X, y, cv=2, params={"sample_weight": weights}, return_estimator=True)
    for fitted in routed["estimator"]:
        assert (fitted.predict(X) == 0).mean() > 0.7  # unweighted: about a third


def _client_bagging_needs_the_table(clf, X, y):
    with pytest.raises(TypeError, match="is not one array.*table form"):
        BaggingClassifier(clf, n_estimators=2, random_state=0).fit(X, y)


CLIENTS = {
    "grid search (threads)": _client_grid_search_threads,
    "cross_val_score (loky)": _client_cross_val_loky,
    "calibration": _client_calibration,
    "stacking": _client_stacking,
    "voting": _client_voting,
    "display": _client_display,
    "metadata routing": _client_metadata_routing,
    "bagging on a dict": _client_bagging_needs_the_table,
}


@pytest.mark.parametrize("client", list(CLIENTS), ids=list(CLIENTS))
@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda cls: cls.__name__)
def test_dict_clients(cls, client, data):
    X, y = data
    CLIENTS[client](_make(cls), X, y)


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda cls: cls.__name__)
def test_table_clients(cls, table):
    """Tools that need one 2-D array work on the table form with `modalities=` selectors."""
    X, y, modalities = table
    clf = _make(cls, modalities=modalities)
    bag = BaggingClassifier(clf, n_estimators=2, random_state=0).fit(X, y)
    assert bag.predict(X).shape == y.shape
    result = permutation_importance(clf.fit(X, y), X, y, n_repeats=2, random_state=0)
    assert result.importances.shape == (X.shape[1], 2)


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda cls: cls.__name__)
def test_skops_round_trip(cls, data):
    sio = pytest.importorskip("skops.io")
    X, y = data
    clf = _make(cls).fit(X, y)
    blob = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=blob)
    # only the package's, skorch's and torch's own classes: no builtins.print, no functools.partial
    own = {"skcausalmm", "skorch", "torch", type(clf).__module__.split(".")[0]}
    assert all(t.split(".")[0] in own for t in untrusted), untrusted
    loaded = sio.loads(blob, trusted=untrusted)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    # the optimiser's virtual parameters, left out of the file, are registered again
    loaded.net_.set_params(lr=0.5)
    assert loaded.net_.optimizer_.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda cls: cls.__name__)
def test_optuna_study(cls, data):
    """An optuna study tunes a classifier through cross_val_score (where optuna is installed)."""
    optuna = pytest.importorskip("optuna")
    X, y = data
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        clf = _make(cls).set_params(lr=trial.suggest_float("lr", 1e-3, 3e-2, log=True))
        return cross_val_score(clf, X, y, cv=2).mean()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=2)
    assert len(study.trials) == 2 and 0.0 <= study.best_value <= 1.0
