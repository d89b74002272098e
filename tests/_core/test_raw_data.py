"""Defaults that work on raw data: the bundled views as loaded, no scaling by the user (slow)."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skcausalmm import LateFusionClassifier
from skcausalmm.datasets import load_multiple_features

pytestmark = pytest.mark.slow


def _split(views):
    X, y = load_multiple_features(views=views, return_X_y=True)
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=0)
    return X[train], X[test], y[train], y[test]


def test_raw_pix_and_mor_with_defaults():
    Xtr, Xte, ytr, yte = _split(["pix", "mor"])
    assert Xtr["mor"].max() > 1000  # really raw
    raw = LateFusionClassifier(max_epochs=15, random_state=0).fit(Xtr, ytr).score(Xte, yte)
    assert raw >= 0.95
    scaler = StandardScaler().fit(Xtr["mor"])
    by_hand = LateFusionClassifier(max_epochs=15, random_state=0).fit(
        {"pix": Xtr["pix"], "mor": scaler.transform(Xtr["mor"])}, ytr
    )
    scaled = by_hand.score({"pix": Xte["pix"], "mor": scaler.transform(Xte["mor"])}, yte)
    assert abs(scaled - raw) <= 0.02  # nothing is scaled twice in a harmful way
    unscaled = LateFusionClassifier(max_epochs=15, random_state=0, standardize=False).fit(Xtr, ytr)
    assert unscaled.score(Xte, yte) < raw - 0.1  # what the input layer buys on these views


def test_raw_six_views_with_defaults():
    Xtr, Xte, ytr, yte = _split(["pix", "fou", "fac", "kar", "zer", "mor"])
    assert LateFusionClassifier(max_epochs=15, random_state=0).fit(Xtr, ytr).score(Xte, yte) >= 0.975
