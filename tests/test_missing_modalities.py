"""Missing modalities in every estimator: fit with holes, predict under every availability pattern.

Each estimator is found automatically (as in ``test_common``), so a new method is held to the
same contract: it accepts rows whose modality blocks are all NaN at fit, and at predict any
pattern of present modalities (including one never seen in training) gives finite
probabilities (a transformer: NaN exactly where its encoded modality is missing). What each
method does with a missing modality is tested in its family's folder.
"""

import numpy as np
import pytest
from sklearn.base import is_classifier

from skcausalmm.datasets import mask_modalities
from skcausalmm.metrics import availability_scores

from .helpers import FAST, all_estimators, make_data

ESTIMATORS = [cls for cls in all_estimators() if cls.__module__.startswith("skcausalmm.")]


def _instance(cls):
    params = cls().get_params()
    return cls(**{k: v for k, v in FAST.items() if k in params})


def _blank(X, name, rows=slice(None)):
    out = {k: np.array(v, dtype=np.float64) for k, v in X.items()}
    out[name][rows] = np.nan
    return out


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_fits_and_predicts_with_missing_modalities(cls):
    assert cls._supports_missing, f"{cls.__name__} refuses missing modalities"
    X, y = make_data(n=120)
    Xm = mask_modalities(X, 0.3, random_state=0)
    est = _instance(cls).fit(Xm, y)
    assert est.n_missing_ == {"image": 36, "tabular": 36}
    if not is_classifier(est):
        out = est.transform(Xm)
        missing = np.isnan(np.asarray(Xm[est.modality_names_[0]]).reshape(len(y), -1)[:, 0])
        np.testing.assert_array_equal(np.isnan(out).all(axis=1), missing)
        assert np.isfinite(out[~missing]).all()
        return
    for data in (X, Xm, _blank(X, "image"), _blank(X, "tabular")):  # complete, mixed, and each modality alone
        proba = est.predict_proba(data)
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    scores = availability_scores(est, X, y)
    assert list(scores.index) == ["image", "tabular", "image+tabular", "average"]
    assert scores.loc["image+tabular", "accuracy"] > 0.6  # the toy problem is learned from masked rows
