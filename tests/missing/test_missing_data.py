"""Missing modalities in the data path: mask_modalities, the availability mask, late fusion."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import (
    LateFusionClassifier,
    ModalityDict,
    ModalityTransformer,
    check_modalities,
)
from skcausalmm._core.validation import split_missing
from skcausalmm.datasets import mask_modalities

from ..helpers import FAST, make_data


def _missing_rows(X, name):
    return np.isnan(np.asarray(X[name]).reshape(len(X[name]), -1)[:, 0])


# ------------------------------------------------------------------ mask_modalities
@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 60),
    rates=st.tuples(st.floats(0, 0.95), st.floats(0, 0.95), st.floats(0, 0.95)),
    seed=st.integers(0, 2**16),
)
def test_mask_modalities_protocol(n, rates, seed):
    X = {"a": np.arange(n * 2.0).reshape(n, 2), "b": np.ones((n, 1, 2, 2)), "c": np.zeros((n, 3))}
    if sum(int(np.floor(n * r)) for r in rates) > 2 * n:
        with pytest.raises(ValueError, match="would lose every modality"):
            mask_modalities(X, dict(zip("abc", rates)), random_state=seed)
        return
    Xm = mask_modalities(X, dict(zip("abc", rates)), random_state=seed)
    present_any = np.zeros(n, dtype=bool)
    for name, rate in zip("abc", rates):
        missing = _missing_rows(Xm, name)
        assert missing.sum() == int(np.floor(n * rate))  # exactly floor(N r_m), per modality
        block = Xm[name].reshape(n, -1)
        assert np.isnan(block[missing]).all() and not np.isnan(block[~missing]).any()
        np.testing.assert_array_equal(block[~missing], X[name].reshape(n, -1)[~missing])
        present_any |= ~missing
    assert present_any.all()  # every sample keeps a modality
    assert not np.isnan(X["a"]).any(), "the input must not be modified"


def test_mask_modalities_float_rate_seed_and_errors():
    X = {"a": np.ones((20, 2)), "b": np.ones((20, 3))}
    m1, m2 = mask_modalities(X, 0.3, random_state=1), mask_modalities(X, 0.3, random_state=1)
    np.testing.assert_array_equal(_missing_rows(m1, "a"), _missing_rows(m2, "a"))
    assert _missing_rows(m1, "b").sum() == 6
    assert isinstance(m1, ModalityDict)
    with pytest.raises(ValueError, match="'a' must be in \\[0, 1\\)"):
        mask_modalities(X, {"a": 1.0})
    with pytest.raises(ValueError, match="unknown modalities \\['z'\\]"):
        mask_modalities(X, {"z": 0.1})
    with pytest.raises(TypeError, match="dict of modalities"):
        mask_modalities(np.ones((3, 2)), 0.1)


# ------------------------------------------------------------------ validation
def test_partly_nan_block_names_modality_and_rows():
    X, _ = make_data(n=20)
    X["tabular"][3, 1] = np.nan
    with pytest.raises(ValueError, match=r"'tabular' contains NaN in only part of its values in rows 3"):
        check_modalities(X, allow_missing=True)


def test_all_missing_rows_are_rejected_at_fit_and_predict():
    X, y = make_data(n=40)
    X["image"][5] = np.nan
    X["tabular"][5] = np.nan
    with pytest.raises(ValueError, match="Every modality is missing .* rows 5"):
        LateFusionClassifier(max_epochs=1).fit(X, y)


def test_a_modality_missing_in_every_training_row_is_an_error():
    X, y = make_data(n=40)
    X["tabular"][:] = np.nan
    with pytest.raises(ValueError, match="'tabular' is missing .* in every training row"):
        LateFusionClassifier(max_epochs=1).fit(X, y)


def test_split_missing_zero_fills_and_masks():
    X, _ = make_data(n=10)
    X = mask_modalities(X, {"image": 0.3}, random_state=0)
    data = check_modalities(X, allow_missing=True)
    filled, mask = split_missing(data)
    assert mask.shape == (10, 2) and mask[:, 1].all() and mask[:, 0].sum() == 7
    assert (filled["image"][~mask[:, 0]] == 0).all()
    assert filled["tabular"] is data["tabular"]  # nothing missing: no copy


# ------------------------------------------------------------------ late fusion with missing modalities
@pytest.fixture(scope="module")
def masked_fit():
    X, y = make_data(n=150)
    Xm = mask_modalities(X, {"image": 0.3, "tabular": 0.3}, random_state=0)
    clf = LateFusionClassifier(**FAST).fit(Xm, y)
    return clf, X, Xm, y


def test_values_inside_a_missing_block_never_change_predictions(masked_fit):
    clf, X, Xm, y = masked_fit
    other = {k: np.array(v, dtype=np.float64) for k, v in X.items()}
    for name in other:
        rows = _missing_rows(Xm, name)
        other[name][rows] = 1e6  # anything, then NaN-ed: the estimator must not see it
        other[name][rows] = np.nan
    np.testing.assert_array_equal(clf.predict_proba(other), clf.predict_proba(Xm))
    # and inside the network: an absent modality's (zero-filled) input values do not matter
    module = clf.net_.module_
    batch = {"image": torch.randn(4, 1, 8, 8), "tabular": torch.randn(4, 5)}
    mask = torch.tensor([[0.0, 1.0]] * 4)
    with torch.no_grad():
        a = module(batch, availability=mask)["logits"]
        b = module({**batch, "image": torch.randn(4, 1, 8, 8) * 100}, availability=mask)["logits"]
    torch.testing.assert_close(a, b)


def test_late_fusion_learns_from_the_present_modality(masked_fit):
    clf, X, Xm, y = masked_fit
    assert clf.n_missing_ == {"image": 45, "tabular": 45}
    # at prediction: each modality alone (the other missing) is still far above chance
    n = len(y)
    only_tab = {"image": np.full((n, 1, 8, 8), np.nan), "tabular": X["tabular"]}
    only_img = {"image": X["image"], "tabular": np.full((n, 5), np.nan)}
    assert clf.score(only_tab, y) > 0.8 and clf.score(only_img, y) > 0.6
    assert clf.score(X, y) >= max(clf.score(only_tab, y), clf.score(only_img, y)) - 0.02


def test_standardization_statistics_ignore_missing_rows(masked_fit):
    clf, X, Xm, y = masked_fit
    present = ~_missing_rows(Xm, "tabular")
    mean, scale = clf.input_scaling_["tabular"]
    np.testing.assert_allclose(mean, X["tabular"][present].mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scale, X["tabular"][present].std(0), rtol=1e-4)


def test_masks_survive_slicing_splitting_search_and_pipelines():
    X, y = make_data(n=120)
    Xm = mask_modalities(X, {"image": 0.25, "tabular": 0.25}, random_state=1)
    idx = np.array([0, 5, 7, 30])
    np.testing.assert_array_equal(_missing_rows(Xm[idx], "image"), _missing_rows(Xm, "image")[idx])
    Xtr, Xte, ytr, yte = train_test_split(Xm, y, test_size=0.25, random_state=0, stratify=y)
    idx_tr, _ = train_test_split(np.arange(120), test_size=0.25, random_state=0, stratify=y)
    np.testing.assert_array_equal(_missing_rows(Xtr, "tabular"), _missing_rows(Xm, "tabular")[idx_tr])

    prep = ModalityTransformer({"tabular": StandardScaler()})
    out = prep.fit_transform(Xtr)
    present = ~_missing_rows(Xtr, "tabular")
    np.testing.assert_allclose(
        prep.transformers_["tabular"].mean_, np.asarray(Xtr["tabular"])[present].mean(0), rtol=1e-6
    )
    np.testing.assert_array_equal(_missing_rows(out, "tabular"), ~present)  # NaN blocks pass through
    assert np.isnan(out["image"][_missing_rows(Xtr, "image")]).all()

    pipe = Pipeline([("prep", ModalityTransformer({"tabular": StandardScaler()})), ("clf", LateFusionClassifier(**FAST))])
    search = GridSearchCV(pipe, {"clf__hidden_size": [8, 16]}, cv=2).fit(Xtr, ytr)
    assert search.score(Xte, yte) > 0.7


def test_dataframe_with_missing_blocks():
    X, y = make_data(n=90)
    Xm = mask_modalities(X, {"tabular": 0.2}, random_state=0)
    frame = pd.DataFrame(
        np.hstack([Xm["image"].reshape(90, -1), Xm["tabular"]]),
        columns=[f"p{i}" for i in range(64)] + [f"t{i}" for i in range(5)],
    )
    clf = LateFusionClassifier(
        modalities={"image": ([f"p{i}" for i in range(64)], (1, 8, 8)), "tabular": [f"t{i}" for i in range(5)]},
        **FAST,
    ).fit(frame, y)
    assert clf.n_missing_ == {"image": 0, "tabular": 18}
    assert clf.score(frame, y) > 0.8
