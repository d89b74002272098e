"""Scale-out: searches on a Dask LocalCluster give the same results as in one process."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier, ModalityDict
from skcausalmm.datasets import load_multiple_features
from skcausalmm.model_selection import FrontDoorBetaSearchCV

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    # worker processes, one thread each
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _data():
    data = load_multiple_features(views=["fou", "kar"])
    rows = np.random.default_rng(0).choice(len(data.target), 300, replace=False)
    return ModalityDict({k: v[rows] for k, v in data.data.items()}), data.target[rows]


def test_grid_search_on_dask_equals_one_process(client):
    X, y = _data()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    est = LateFusionClassifier(max_epochs=3, hidden_size=16, random_state=0)
    grid = {"lr": [1e-3, 1e-2]}
    local = GridSearchCV(est, grid, cv=cv, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(est, grid, cv=cv, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == local.best_params_


def test_beta_search_on_dask_equals_one_process(client):
    X, y = _data()
    est = FrontDoorMultimodalClassifier(max_epochs=2, hidden_size=16, mediator_size=8, random_state=0)
    local = FrontDoorBetaSearchCV(est, betas=[0.0, 1.0], cv=2, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = FrontDoorBetaSearchCV(est, betas=[0.0, 1.0], cv=2, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert on_dask.best_beta_ == local.best_beta_


def test_grid_search_on_a_threaded_dask_worker_equals_one_process():
    # one worker, two threads: fits run concurrently in one process and must still be
    # reproducible (each fit draws from its own seeded generator under the package's RNG lock)
    X, y = _data()
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    est = LateFusionClassifier(max_epochs=2, hidden_size=16, random_state=0)
    grid = {"lr": [1e-3, 1e-2]}
    local = GridSearchCV(est, grid, cv=cv, n_jobs=1).fit(X, y)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as threaded:
            with joblib.parallel_backend("dask", client=threaded):
                on_dask = GridSearchCV(est, grid, cv=cv, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
