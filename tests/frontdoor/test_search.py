"""FrontDoorBetaSearchCV: one network per fold, the same scores as GridSearchCV over beta."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut, StratifiedKFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcausalmm import FrontDoorMultimodalClassifier, ModalityDict
from skcausalmm.datasets import make_confounded_multimodal
from skcausalmm.model_selection import FrontDoorBetaSearchCV

BETAS = [0.0, 0.5, 1.0]


class CountingFrontDoor(FrontDoorMultimodalClassifier):
    """Counts fits in a class attribute (shared by clones)."""

    fits = 0

    def fit(self, X, y, sample_weight=None):
        type(self).fits += 1
        return super().fit(X, y, sample_weight=sample_weight)


def _data(n=240, confounding=0.9, seed=0):
    data = make_confounded_multimodal(
        n_samples=n, confounding=confounding, predominant="table", random_state=seed
    )
    return data.data, data.target


def _clf(cls=FrontDoorMultimodalClassifier):
    return cls(max_epochs=3, hidden_size=16, mediator_size=8, predominant="table", random_state=0)


def test_same_scores_as_grid_search_with_one_fit_per_fold():
    X, y = _data()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    CountingFrontDoor.fits = 0
    search = FrontDoorBetaSearchCV(_clf(CountingFrontDoor), betas=BETAS, cv=cv).fit(X, y)
    assert CountingFrontDoor.fits == search.n_fits_ == 3 + 1
    CountingFrontDoor.fits = 0
    grid = GridSearchCV(_clf(CountingFrontDoor), {"beta": BETAS}, cv=cv).fit(ModalityDict(X), y)
    assert CountingFrontDoor.fits == 3 * 3 + 1
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], grid.cv_results_["mean_test_score"])
    for k in range(3):
        np.testing.assert_allclose(search.cv_results_[f"split{k}_test_score"], grid.cv_results_[f"split{k}_test_score"])
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"], grid.cv_results_["rank_test_score"])
    assert search.best_beta_ == grid.best_params_["beta"]
    np.testing.assert_allclose(search.predict_proba(X), grid.predict_proba(ModalityDict(X)))
    assert search.best_estimator_.beta == search.best_beta_


def test_environments_with_leave_one_group_out():
    parts = [_data(n=120, confounding=c, seed=i) for i, c in enumerate([0.9, 0.6, 0.3])]
    X = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    y = np.concatenate([p[1] for p in parts])
    groups = np.repeat([0, 1, 2], 120)
    search = FrontDoorBetaSearchCV(_clf(), betas=BETAS, cv=LeaveOneGroupOut(), refit=False).fit(X, y, groups=groups)
    assert search.n_splits_ == 3 and search.n_fits_ == 3
    assert search.best_beta_ in BETAS
    with pytest.raises(AttributeError, match="refit=False"):
        search.predict(X)


def test_sample_weight_reaches_the_fold_fits():
    X, y = _data(n=150)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    a = FrontDoorBetaSearchCV(_clf(), betas=[0.5], cv=2).fit(X, y, sample_weight=w)
    b = FrontDoorBetaSearchCV(_clf(), betas=[0.5], cv=2).fit(X, y)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("betas", [[], [1.5], ["x"], [np.nan]])
def test_bad_betas(betas):
    X, y = _data(n=60)
    with pytest.raises(ValueError, match="betas"):
        FrontDoorBetaSearchCV(_clf(), betas=betas, cv=2).fit(X, y)


@parametrize_with_checks(
    [FrontDoorBetaSearchCV(FrontDoorMultimodalClassifier(max_epochs=40, hidden_size=16, lr=1e-2, random_state=0),
                           betas=[0.0, 1.0], cv=2)],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_roles_and_beta_chosen_together_with_one_network_per_fold_and_role():
    X, y = _data()
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    CountingFrontDoor.fits = 0
    search = FrontDoorBetaSearchCV(_clf(CountingFrontDoor), betas=BETAS, roles=["view", "confounder"], cv=cv)
    search.fit(X, y)
    assert CountingFrontDoor.fits == search.n_fits_ == 2 * 2 + 1
    assert list(search.cv_results_["param_auxiliary"]) == ["view"] * 3 + ["confounder"] * 3
    assert list(search.cv_results_["param_beta"]) == BETAS * 2
    assert search.best_params_ == {"auxiliary": search.best_role_, "beta": search.best_beta_}
    assert search.best_estimator_.auxiliary == search.best_role_ == search.best_estimator_.auxiliary_role_
    # the same scores as GridSearchCV over both parameters
    grid = GridSearchCV(_clf(), {"auxiliary": ["view", "confounder"], "beta": BETAS}, cv=cv).fit(ModalityDict(X), y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], grid.cv_results_["mean_test_score"])
    with pytest.raises(ValueError, match="roles must list"):
        FrontDoorBetaSearchCV(_clf(), roles=["view", "collider"]).fit(X, y)
