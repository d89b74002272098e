"""scikit-learn's own estimator checks on every estimator, found automatically.

Every estimator the package knows is discovered (:func:`skcausalmm.base.all_estimators`: the
public classes on the shared base, then those registered from outside, like the plug-in
test's toy method), so a new estimator is covered without editing a list. The checks run on
the array path, in a small configuration that still learns their toy problems, with the
parameters each estimator asks for (``_check_estimator_params``, e.g. a two-modality column
selector) and the failures it declares inherent (``_expected_failed_checks``).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from .helpers import all_estimators

#: Small settings applied to every discovered estimator that has the parameter.
SMALL = dict(max_epochs=40, hidden_size=16, lr=1e-2, random_state=0, mediator_size=16, batch_size=128)


def _instance(cls):
    params = cls().get_params()
    return cls(**{k: v for k, v in SMALL.items() if k in params}, **cls._check_estimator_params)


def test_discovery_finds_the_known_estimators():
    names = {cls.__name__ for cls in all_estimators()}
    assert {"LateFusionClassifier", "FrontDoorMultimodalClassifier", "OGMGEClassifier", "ContrastiveICA"} <= names


@parametrize_with_checks(
    [_instance(cls) for cls in all_estimators()],
    expected_failed_checks=lambda est: est._expected_failed_checks(),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
