"""Multimodal inputs: dicts, the container, tables with ``modalities``, and bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from skorch.helper import SliceDict

from skcausalmm import LateFusionClassifier, ModalityDict, ModalityTransformer, check_modalities

from ..helpers import FAST, make_data


def test_dict_fit_predict_score():
    X, y = make_data()
    clf = LateFusionClassifier(**FAST).fit(X, y)
    assert clf.predict(X).shape == (120,)
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert clf.score(X, y) > 0.9
    assert clf.modality_names_ == ["image", "tabular"]
    assert clf.modality_shapes_ == {"image": (1, 8, 8), "tabular": (5,)}
    assert set(clf.modality_proba(X)) == {"image", "tabular"}


def test_string_labels_and_integer_inputs():
    X, y = make_data()
    labels = np.array(["cat", "dog", "eel"])[y]
    X = {"image": (X["image"] * 10).astype(np.int64), "tabular": X["tabular"]}
    clf = LateFusionClassifier(**FAST).fit(X, labels)
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, labels) > 0.8


def test_image_without_channel_axis_and_sequence_encoder():
    X, y = make_data()
    X3 = {"image": X["image"][:, 0], "seq": np.repeat(X["tabular"][:, None, :], 4, axis=1)}
    clf = LateFusionClassifier(encoders={"seq": "rnn"}, **FAST).fit(X3, y)
    assert clf.score(X3, y) > 0.8
    assert type(clf.net_.module_.encoders["seq"]).__name__ == "RNNEncoder"
    assert type(clf.net_.module_.encoders["image"]).__name__ == "CNNEncoder"


def test_user_encoder_module():
    X, y = make_data()
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 7))
    clf = LateFusionClassifier(encoders={"image": enc}, **FAST).fit(X, y)
    assert clf.net_.module_.dims["image"] == 7
    assert clf.net_.module_.encoders["image"] is not enc  # deep-copied, parameter untouched


@pytest.mark.parametrize("container", [ModalityDict, lambda d: SliceDict(**d)])
def test_container_in_model_selection(container):
    X, y = make_data()
    Xs = container(X)
    Xtr, Xte, ytr, yte = train_test_split(Xs, y, test_size=0.25, random_state=0, stratify=y)
    # every modality is sliced by the same rows as y
    idx_tr, _ = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    for name in X:
        np.testing.assert_array_equal(Xtr[name], np.asarray(X[name])[idx_tr])
    np.testing.assert_array_equal(ytr, y[idx_tr])
    scores = cross_val_score(LateFusionClassifier(**FAST), Xs, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    search = GridSearchCV(LateFusionClassifier(**FAST), {"hidden_size": [8, 16]}, cv=2).fit(Xtr, ytr)
    assert search.score(Xte, yte) > 0.7


def test_pipeline_with_modality_transformer():
    X, y = make_data()
    X["tabular"] = X["tabular"] * 1000 + 5000
    pipe = Pipeline(
        [("prep", ModalityTransformer({"tabular": StandardScaler()})), ("clf", LateFusionClassifier(**FAST))]
    )
    pipe.fit(ModalityDict(X), y)
    prep = pipe.named_steps["prep"]
    Xt = prep.transform(X)
    assert abs(float(Xt["tabular"].mean())) < 1e-4
    np.testing.assert_array_equal(Xt["image"], X["image"].astype(np.float32))  # left alone
    assert pipe.score(X, y) > 0.9
    scores = cross_val_score(pipe, ModalityDict(X), y, cv=2)
    assert scores.min() > 0.7


def test_modality_transformer_drop_and_flatten_roundtrip():
    X, y = make_data(n=20)
    out = ModalityTransformer({"image": StandardScaler()}, remainder="drop").fit_transform(X)
    assert list(out) == ["image"] and out["image"].shape == (20, 1, 8, 8)
    with pytest.raises(ValueError, match="'nope'"):
        ModalityTransformer({"nope": StandardScaler()}).fit(X)
    with pytest.raises(TypeError, match="dict of modalities"):
        ModalityTransformer({}).fit(np.zeros((3, 2)))


def test_array_with_modalities_and_image_shape():
    X, y = make_data()
    table = np.hstack([X["image"].reshape(120, -1), X["tabular"]])
    clf = LateFusionClassifier(
        modalities={"image": slice(0, 64), "tabular": list(range(64, 69))},
        image_shapes={"image": (1, 8, 8)},
        **FAST,
    ).fit(table, y)
    assert clf.modality_shapes_ == {"image": (1, 8, 8), "tabular": (5,)}
    assert clf.n_features_in_ == 69
    ref = LateFusionClassifier(**FAST).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(table), ref.predict_proba(X), atol=1e-5)


def test_dataframe_with_column_names():
    X, y = make_data()
    df = pd.DataFrame(np.hstack([X["image"].reshape(120, -1), X["tabular"]]))
    df.columns = [f"p{i}" for i in range(64)] + [f"t{i}" for i in range(5)]
    mods = {"image": [f"p{i}" for i in range(64)], "tabular": [f"t{i}" for i in range(5)]}
    clf = LateFusionClassifier(modalities=mods, image_shapes={"image": (8, 8)}, **FAST).fit(df, y)
    assert list(clf.feature_names_in_[:2]) == ["p0", "p1"]
    assert clf.score(df, y) > 0.9
    with pytest.raises(ValueError, match="unknown columns"):
        LateFusionClassifier(modalities={"a": ["zzz"]}, **FAST).fit(df, y)


def test_plain_array_is_one_modality():
    X, y = make_data()
    clf = LateFusionClassifier(**FAST).fit(X["tabular"], y)
    assert clf.modality_names_ == ["X"]


# ------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def fitted():
    X, y = make_data(n=60)
    return LateFusionClassifier(max_epochs=1, random_state=0).fit(X, y), X, y


def _bad_fit_cases():
    X, _ = make_data(n=30)
    return {
        "different numbers of samples": ({"image": X["image"], "tabular": X["tabular"][:29]}, ValueError, "image=30, tabular=29"),
        "1-D": ({"image": X["image"], "tabular": X["tabular"][:, 0]}, ValueError, "'tabular' is 1-D"),
        "5-D": ({"image": X["image"][..., None]}, ValueError, "'image' has 5 dimensions"),
        "nan": ({"image": X["image"], "tabular": np.where(np.eye(30, 5) > 0, np.nan, X["tabular"])}, ValueError, "'tabular' contains NaN"),
        "inf": ({"image": X["image"], "tabular": np.where(np.eye(30, 5) > 0, np.inf, X["tabular"])}, ValueError, "'tabular' contains infinity"),
        "empty": ({"image": X["image"][:0], "tabular": X["tabular"][:0]}, ValueError, "'image' is empty"),
        "strings": ({"image": X["image"], "tabular": np.full((30, 2), "a")}, TypeError, "'tabular' must be numeric"),
        "complex": ({"image": X["image"], "tabular": X["tabular"] * 1j}, TypeError, "'tabular' has complex dtype"),
        "no modality": ({}, ValueError, "empty dict"),
        "non-str key": ({0: X["tabular"]}, TypeError, "names must be strings"),
        "ragged": ({"tabular": [[1.0, 2.0], [1.0]] * 15}, TypeError, "'tabular' could not be converted"),
    }


@pytest.mark.parametrize("case", list(_bad_fit_cases()))
def test_bad_fit_inputs(case):
    Xb, exc, msg = _bad_fit_cases()[case]
    _, y = make_data(n=30)
    with pytest.raises(exc, match=msg):
        LateFusionClassifier(max_epochs=1).fit(Xb, y)


def test_bad_labels_selectors_and_parameters():
    X, y = make_data(n=30)
    clf = LateFusionClassifier(max_epochs=1)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="30 samples but y has 29"):
        clf.fit(X, y[:29])
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, 30))
    with pytest.raises(TypeError, match="dict of modality arrays"):
        clf.fit("not data", y)
    with pytest.raises(ValueError, match="leave `modalities=None`"):
        LateFusionClassifier(modalities={"a": [0]}).fit(X, y)
    with pytest.raises(ValueError, match="cannot be reshaped"):
        LateFusionClassifier(modalities={"a": [0, 1, 2]}, image_shapes={"a": (2, 2)}).fit(X["tabular"], y)
    with pytest.raises(ValueError, match="unknown modalities"):
        LateFusionClassifier(encoders={"nope": "mlp"}, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="'mlp' encoder needs 2-D"):
        LateFusionClassifier(encoders={"image": "mlp"}, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="Encoder of modality 'image'"):
        LateFusionClassifier(encoders={"image": "mlp"}, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="must be a float|must be an int|must be a str"):
        LateFusionClassifier(lr="fast").fit(X, y)


def test_selector_with_shape_and_selector_errors():
    X, y = make_data(n=60)
    table = np.hstack([X["image"].reshape(60, -1), X["tabular"]])
    clf = LateFusionClassifier(modalities={"image": (slice(0, 64), (1, 8, 8)), "tabular": slice(64, 69)}, **FAST)
    clf.fit(table, y)
    assert clf.modality_shapes_ == {"image": (1, 8, 8), "tabular": (5,)}
    ref = LateFusionClassifier(
        modalities={"image": slice(0, 64), "tabular": slice(64, 69)}, image_shapes={"image": (1, 8, 8)}, **FAST
    ).fit(table, y)
    np.testing.assert_array_equal(clf.predict_proba(table), ref.predict_proba(table))
    with pytest.raises(ValueError, match=r"selector of modality 'image' .* accepted forms: a slice"):
        LateFusionClassifier(modalities={"image": [[0, 1], [2, 3]]}).fit(table, y)
    with pytest.raises(ValueError, match="both in its \\(selector, shape\\) pair and in `image_shapes`"):
        LateFusionClassifier(
            modalities={"image": (slice(0, 64), (1, 8, 8))}, image_shapes={"image": (1, 8, 8)}
        ).fit(table, y)


def test_bad_predict_inputs(fitted):
    clf, X, y = fitted
    with pytest.raises(ValueError, match=r"missing modalities \['tabular'\]"):
        clf.predict({"image": X["image"]})
    with pytest.raises(ValueError, match=r"unexpected modalities \['extra'\]"):
        clf.predict({**X, "extra": X["tabular"]})
    with pytest.raises(ValueError, match=r"'image' has per-sample shape \(1, 8, 9\)"):
        clf.predict({"image": np.zeros((3, 1, 8, 9)), "tabular": X["tabular"][:3]})
    partly = np.full((1, 5), np.nan)
    partly[0, 0] = 1.0
    with pytest.raises(ValueError, match="'tabular' contains NaN"):
        clf.predict({"image": X["image"][:1], "tabular": partly})
    # a block that is all NaN is a missing modality, which late fusion accepts at prediction
    assert clf.predict({"image": X["image"][:1], "tabular": np.full((1, 5), np.nan)}).shape == (1,)
    with pytest.raises(ValueError, match="Every modality is missing"):
        clf.predict({"image": np.full((1, 1, 8, 8), np.nan), "tabular": np.full((1, 5), np.nan)})


def test_modality_dict_behaviour():
    Xd = ModalityDict({"a": np.arange(10).reshape(5, 2)}, b=np.arange(5)[:, None] * 1.0)
    assert len(Xd) == 5 and Xd.shape == (5,)
    assert Xd[np.array([True, False, True, False, False])]["a"].shape == (2, 2)
    assert Xd[1:3]["b"].ravel().tolist() == [1.0, 2.0]
    assert "a: (5, 2)" in repr(Xd)
    with pytest.raises(ValueError, match="a=5, b=4"):
        ModalityDict(a=np.zeros((5, 1)), b=np.zeros((4, 1)))
    with pytest.raises(ValueError, match="cannot be indexed by integers"):
        Xd[0]


def test_check_modalities_converts_tensors_and_frames():
    data = check_modalities({"t": torch.ones(4, 2, dtype=torch.float64), "f": pd.DataFrame(np.ones((4, 3)))})
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in data.values())


# ------------------------------------------------------------------ reliability of the door (issue 15)
def test_modality_dict_with_dataframes_slices_rows():
    X, y = make_data(n=60)
    frame = pd.DataFrame(X["tabular"], columns=list("abcde"), index=np.arange(100, 160))
    Xd = ModalityDict({"image": X["image"], "tabular": frame})
    part = Xd[[0, 1]]
    assert part["tabular"].shape == (2, 5) and list(part["tabular"].index) == [100, 101]
    np.testing.assert_array_equal(Xd[np.arange(60) < 3]["tabular"].to_numpy(), X["tabular"][:3])
    Xtr, Xte, ytr, yte = train_test_split(Xd, y, test_size=0.25, random_state=0, stratify=y)
    assert len(Xtr["tabular"]) == 45 and len(Xte["image"]) == 15
    scores = cross_val_score(LateFusionClassifier(**FAST), Xd, y, cv=2)
    assert scores.mean() > 0.7
    with pytest.raises(ValueError, match=r"e.g. \[3:4\] for one sample"):
        Xd[3]
    with pytest.raises(ValueError, match="Modality 'extra' has 5 samples, but the other modalities have 60"):
        Xd["extra"] = np.zeros((5, 2))
    with pytest.raises(ValueError, match="Modality 'extra' has 5 samples"):
        Xd.update({"extra": np.zeros((5, 2))})


@pytest.mark.parametrize(
    "make_X, exc, msg",
    [
        (lambda X: [X["image"], X["tabular"]], TypeError, r"list of 2 arrays; pass a dict \{name: array\}"),
        (lambda X: {**X, "tabular": __import__("scipy.sparse").sparse.csr_matrix(X["tabular"])}, TypeError,
         "'tabular' is a scipy sparse matrix; .* .toarray()"),
        (lambda X: {**X, "tabular": X["tabular"].astype(str)}, TypeError, "'tabular' must be numeric, .*strings"),
        (lambda X: __import__("scipy.sparse").sparse.csr_matrix(X["tabular"]), TypeError, "sparse input is not supported"),
    ],
    ids=["list of arrays", "sparse modality", "numeric strings", "sparse table"],
)
def test_container_and_dtype_errors(make_X, exc, msg):
    X, y = make_data(n=30)
    with pytest.raises(exc, match=msg):
        LateFusionClassifier(max_epochs=1).fit(make_X(X), y)


@pytest.mark.parametrize("device", ["tpu", "meta", "", "cuda:99", "mps"])
def test_bad_device_strings_are_clear(device):
    X, y = make_data(n=30)
    if device == "mps" and hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        pytest.skip("MPS is available here")
    with pytest.raises(ValueError, match=f"device={device!r}"):
        LateFusionClassifier(max_epochs=1, device=device).fit(X, y)


@pytest.mark.parametrize(
    "params, exc, msg",
    [
        ({"callbacks": [42]}, TypeError, r"callbacks\[0\] must be a skorch callback"),
        ({"optimizer": dict}, TypeError, "optimizer must be one of"),
        ({"optimizer": torch.nn.Linear}, TypeError, "optimizer must be one of"),
        ({"optimizer": torch.optim.LBFGS, "weight_decay": 1e-3}, TypeError, "LBFGS does not take weight_decay"),
        ({"class_weight": {0: np.nan}}, ValueError, "class_weight values must be finite and non-negative"),
        ({"class_weight": {0: -1.0}}, ValueError, "class_weight values must be finite and non-negative"),
        ({"hidden_size": True}, ValueError, "'hidden_size' parameter .* Got True"),
        ({"lr": True}, ValueError, "'lr' parameter .* Got True"),
        ({"batch_size": np.True_}, ValueError, "'batch_size' parameter .* Got np.True_"),
    ],
    ids=["callback", "optimizer dict", "optimizer module", "lbfgs", "class weight nan", "class weight negative",
         "hidden size bool", "lr bool", "batch size numpy bool"],
)
def test_bad_training_parameters_are_clear(params, exc, msg):
    X, y = make_data(n=30)
    with pytest.raises(exc, match=msg):
        LateFusionClassifier(max_epochs=1, **params).fit(X, y)


def test_fit_leaves_the_global_torch_rng_alone_and_warns_on_zero_epochs():
    X, y = make_data(n=30)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LateFusionClassifier(max_epochs=1, random_state=0).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)
    with pytest.warns(UserWarning, match="max_epochs=0"):
        LateFusionClassifier(max_epochs=0).fit(X, y)


@pytest.mark.parametrize("lr", [1e3, 1e8])
def test_diverging_training_is_refused(lr):
    """lr=1e3 leaves finite weights whose outputs overflow (NaN probabilities before the output check)."""
    X, y = make_data(n=60)
    with pytest.raises(ValueError, match="training diverged .* learning rate"):
        LateFusionClassifier(max_epochs=3, optimizer="sgd", lr=lr, random_state=0).fit(X, y)


def test_overflowing_inputs_give_an_error_not_nan_probabilities():
    X, y = make_data(n=60)
    clf = LateFusionClassifier(max_epochs=2, random_state=0, standardize=False).fit(X, y)
    huge = {"image": np.full_like(X["image"], 3e38), "tabular": np.full_like(X["tabular"], 3e38)}
    with pytest.raises(ValueError, match=r"non-finite class scores for rows \[0, 1, 2, 3, 4\]"):
        clf.predict_proba(huge)


def test_modality_transformer_checks_its_transformers_and_inputs():
    X, y = make_data(n=20)
    with pytest.raises(TypeError, match="'tabular' must be a scikit-learn transformer instance.*got 42"):
        ModalityTransformer({"tabular": 42}).fit(X)
    with pytest.raises(TypeError, match=r"the class StandardScaler \(pass an instance: StandardScaler\(\)\)"):
        ModalityTransformer({"tabular": StandardScaler}).fit(X)
    prep = ModalityTransformer({"tabular": StandardScaler()}).fit(X)
    with pytest.raises(ValueError, match=r"modalities \['extra'\] that were not seen in fit"):
        prep.transform({**X, "extra": X["tabular"]})
    with pytest.raises(ValueError, match=r"'image' has per-sample shape \(1, 4, 16\)"):
        prep.transform({"image": X["image"].reshape(20, 1, 4, 16), "tabular": X["tabular"]})


def test_modality_dict_pickles_and_deepcopies():
    import copy
    import pickle

    from skcausalmm import ModalityDict

    X = ModalityDict({"a": np.zeros((3, 2)), "b": np.ones((3, 1))})
    for clone in (pickle.loads(pickle.dumps(X)), copy.deepcopy(X)):
        assert type(clone) is ModalityDict and len(clone) == 3 and clone == X
        assert clone[[0, 2]]["a"].shape == (2, 2)


def test_modality_dict_is_not_one_array():
    """Tools that need one 2-D array (Bagging, permutation_importance, ...) get a clear TypeError."""
    from sklearn.ensemble import BaggingClassifier

    X, y = make_data()
    X = ModalityDict(X)
    with pytest.raises(TypeError, match=r"not one array.*table form.*modalities="):
        np.asarray(X)
    with pytest.raises(TypeError, match=r"ModalityDict \('image', 'tabular'\) is not one array"):
        BaggingClassifier(LateFusionClassifier(**FAST), n_estimators=2).fit(X, y)


def test_ragged_modality_names_its_key():
    with pytest.raises(ValueError, match=r"Modality 'tab' is not a rectangular array"):
        ModalityDict({"tab": [[1.0, 2.0], [3.0]]})
    X = ModalityDict({"a": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"Modality 'b' is not a rectangular array"):
        X["b"] = [[1.0], [2.0, 3.0]]


def test_dataframe_modality_columns_are_checked_at_predict(tmp_path):
    """Per-modality feature names: reordered or renamed columns are refused, not silently misread."""
    import skcausalmm

    X, y = make_data()
    frame = pd.DataFrame(X["tabular"], columns=[f"f{i}" for i in range(5)])
    X = {"image": X["image"], "tabular": frame}
    clf = LateFusionClassifier(**FAST).fit(X, y)
    assert clf.modality_feature_names_["tabular"].tolist() == ["f0", "f1", "f2", "f3", "f4"]
    assert "image" not in clf.modality_feature_names_
    clf.predict(X)
    with pytest.raises(ValueError, match="Modality 'tabular' has the columns seen in fit in another order"):
        clf.predict({**X, "tabular": frame[["f4", "f3", "f2", "f1", "f0"]]})
    with pytest.raises(ValueError, match=r"columns not seen in fit \['g4'\]; columns seen in fit but missing now \['f4'\]"):
        clf.predict({**X, "tabular": frame.rename(columns={"f4": "g4"})})
    with pytest.warns(UserWarning, match="Modality 'tabular' has no column names"):
        clf.predict({**X, "tabular": frame.to_numpy()})
    skcausalmm.save(clf, tmp_path / "m.zip")
    loaded = skcausalmm.load(tmp_path / "m.zip")
    with pytest.raises(ValueError, match="another order"):
        loaded.predict({**X, "tabular": frame[["f4", "f3", "f2", "f1", "f0"]]})
    # refitted on arrays: the names are gone
    assert not hasattr(clf.fit({**X, "tabular": frame.to_numpy()}, y), "modality_feature_names_")


def test_channels_last_image_gets_a_warning():
    X, y = make_data()
    last = np.moveaxis(np.repeat(X["image"], 1, axis=1), 1, -1)  # (n, 8, 8, 1)
    with pytest.warns(UserWarning, match=r"Modality 'image' has per-sample shape \(8, 8, 1\).*np.moveaxis"):
        LateFusionClassifier(max_epochs=1, hidden_size=8).fit({"image": last, "tabular": X["tabular"]}, y)


def test_lbfgs_trains_through_the_closure_or_is_refused_with_the_reason():
    """skorch's training step re-evaluates the loss for closure-based optimisers; MLA's own step cannot."""
    from skcausalmm import MLAClassifier

    X, y = make_data()
    clf = LateFusionClassifier(optimizer=torch.optim.LBFGS, lr=0.1, max_epochs=5, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="MLAClassifier updates its network in several optimiser steps"):
        MLAClassifier(optimizer=torch.optim.LBFGS, lr=0.1, max_epochs=1).fit(X, y)
