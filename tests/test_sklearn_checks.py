"""scikit-learn's own estimator checks on the array path (one tabular modality)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcausalmm import (
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    OGMGEClassifier,
)

# Every estimator of the package that takes a plain 2-D array, in a small
# configuration that still learns the checks' toy problems.
ESTIMATORS = [
    LateFusionClassifier(max_epochs=40, hidden_size=16, lr=1e-2, random_state=0),
    OGMGEClassifier(max_epochs=40, hidden_size=16, lr=1e-2, random_state=0),
    MMParetoClassifier(max_epochs=40, hidden_size=16, lr=1e-2, random_state=0),
    MLAClassifier(max_epochs=40, hidden_size=16, lr=1e-2, random_state=0),
    FrontDoorMultimodalClassifier(
        max_epochs=40, hidden_size=16, mediator_size=16, lr=1e-2, batch_size=128, random_state=0
    ),
]

# Checks expected to fail, with the reason; keep this empty unless there is no way round.
EXPECTED_FAILED = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible(estimator, check):
    check(estimator)
