"""ModalityTransformer hands each inner transformer the modality as given; feature names and set_output."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skcausalmm import LateFusionClassifier, ModalityDict, ModalityTransformer

torch.set_num_threads(1)

TINY = dict(max_epochs=2, hidden_size=8, batch_size=32, random_state=0, device="cpu")


def make_data(n=40, seed=0):
    """A numeric modality with scattered NaN, a string modality and an image."""
    rng = np.random.RandomState(seed)
    tab = rng.randn(n, 3)
    holes = rng.rand(n, 3) < 0.2
    holes[:, 0] &= ~holes[:, 1:].all(axis=1)  # no row all-NaN: those are missing modalities
    tab[holes] = np.nan
    colour = rng.choice(["red", "green", "blue"], size=(n, 1))
    img = rng.rand(n, 1, 4, 4)
    y = np.where(colour[:, 0] == "red", "r", "other")
    return {"tab": tab, "colour": colour, "img": img}, y


def prep():
    return ModalityTransformer(
        {"tab": SimpleImputer(strategy="mean"), "colour": OneHotEncoder(sparse_output=False)},
    )


def test_simple_imputer_sees_the_partial_nan():
    X, _ = make_data()
    assert np.isnan(X["tab"]).any() and not np.isnan(X["tab"]).all(axis=1).any()
    mt = ModalityTransformer({"tab": SimpleImputer(strategy="mean")}, remainder="drop").fit(X)
    out = mt.transform(X)
    assert list(out) == ["tab"] and out["tab"].dtype == np.float32
    np.testing.assert_allclose(mt.transformers_["tab"].statistics_, np.nanmean(X["tab"], axis=0))
    expected = np.where(np.isnan(X["tab"]), np.nanmean(X["tab"], axis=0), X["tab"])
    np.testing.assert_allclose(out["tab"], expected, rtol=1e-6)


def test_one_hot_encoder_on_strings_and_objects():
    X, _ = make_data()
    for colour in (X["colour"], X["colour"].astype(object), pd.DataFrame({"colour": X["colour"][:, 0]})):
        data = {**X, "colour": colour}
        mt = ModalityTransformer({"colour": OneHotEncoder(sparse_output=False)}, remainder="drop").fit(data)
        out = mt.transform(data)["colour"]
        assert out.shape == (40, 3) and out.dtype == np.float32
        np.testing.assert_array_equal(out.sum(axis=1), 1.0)
        np.testing.assert_array_equal(
            out[:, list(mt.transformers_["colour"].categories_[0]).index("red")] == 1, X["colour"][:, 0] == "red"
        )


def test_inner_transformer_gets_a_dataframe_as_given():
    X, _ = make_data()
    frame = pd.DataFrame({"c": X["colour"][:, 0], "k": np.arange(40) % 2})
    mt = ModalityTransformer({"mixed": OneHotEncoder(sparse_output=False)}, remainder="drop")
    mt.fit({"mixed": frame, "img": X["img"]})
    np.testing.assert_array_equal(mt.transformers_["mixed"].feature_names_in_, ["c", "k"])
    assert list(mt.get_feature_names_out()) == [f"mixed__{f}" for f in ["c_blue", "c_green", "c_red", "k_0", "k_1"]]


def test_pipeline_with_a_classifier():
    X, y = make_data()
    pipe = Pipeline([("prep", prep()), ("clf", LateFusionClassifier(**TINY))]).fit(ModalityDict(X), y)
    assert pipe.named_steps["clf"].modality_shapes_ == {"tab": (3,), "colour": (3,), "img": (1, 4, 4)}
    proba = pipe.predict_proba(X)
    assert proba.shape == (40, 2) and np.isfinite(proba).all()
    assert set(pipe.predict(X)) <= {"r", "other"}


def test_missing_rows_of_a_transformed_modality_stay_missing():
    X, y = make_data()
    X["tab"][[2, 7]] = np.nan  # the whole block: the modality is missing in these rows
    X["colour"] = X["colour"].astype(object)
    X["colour"][[5]] = None  # an all-None row of an object modality is missing too
    mt = prep().fit(X)
    np.testing.assert_allclose(
        mt.transformers_["tab"].statistics_, np.nanmean(np.delete(X["tab"], [2, 7], axis=0), axis=0)
    )
    out = mt.transform(X)
    assert np.isnan(out["tab"][[2, 7]]).all() and not np.isnan(np.delete(out["tab"], [2, 7], axis=0)).any()
    assert np.isnan(out["colour"][5]).all() and not np.isnan(np.delete(out["colour"], 5, axis=0)).any()
    # and the classifier that handles missing modalities takes them
    Pipeline([("prep", prep()), ("clf", LateFusionClassifier(**TINY))]).fit(X, y).predict(X)


def test_passthrough_modalities_are_still_validated():
    X, _ = make_data()
    with pytest.raises(ValueError, match="'tab' contains NaN in only part of its values"):
        ModalityTransformer({"colour": OneHotEncoder()}).fit(X)  # tab passes through with its holes
    with pytest.raises(TypeError, match="'colour' must be numeric"):
        ModalityTransformer({"tab": SimpleImputer()}).fit(X)  # colour passes through as strings
    mt = prep().fit(X)
    with pytest.raises(ValueError, match=r"'img' has per-sample shape \(1, 2, 8\)"):
        mt.transform({**X, "img": X["img"].reshape(40, 1, 2, 8)})
    with pytest.raises(ValueError, match=r"'tab' has per-sample shape \(2,\)"):
        mt.transform({**X, "tab": X["tab"][:, :2]})
    with pytest.raises(ValueError, match=r"modalities \['extra'\] that were not seen in fit"):
        mt.transform({**X, "extra": X["img"]})
    with pytest.raises(ValueError, match=r"lacks the modalities \['img'\]"):
        mt.transform({k: v for k, v in X.items() if k != "img"})
    with pytest.raises(ValueError, match="same number of samples"):
        mt.transform({**X, "img": X["img"][:10]})
    with pytest.raises(ValueError, match="Every modality is missing"):
        ModalityTransformer({"tab": SimpleImputer()}, remainder="drop").fit(
            {"tab": np.full((3, 2), np.nan), "b": np.full((3, 1), np.nan)}
        )


def test_feature_names():
    X, _ = make_data()
    mt = prep().fit(X)
    names = mt.get_feature_names_out()
    assert names.dtype == object
    assert list(names) == (
        ["tab__x0", "tab__x1", "tab__x2", "colour__x0_blue", "colour__x0_green", "colour__x0_red"]
        + [f"img__x{i}" for i in range(16)]
    )
    flat = sum(v.reshape(40, -1).shape[1] for v in mt.transform(X).values())
    assert flat == len(names)
    dropped = ModalityTransformer({"img": "drop", "colour": OneHotEncoder()}, remainder="drop").fit(X)
    assert list(dropped.get_feature_names_out()) == ["colour__x0_blue", "colour__x0_green", "colour__x0_red"]
    frame = {"t": pd.DataFrame(np.zeros((3, 2)), columns=["height", "weight"])}
    assert list(ModalityTransformer({}).fit(frame).get_feature_names_out()) == ["t__height", "t__weight"]


def test_set_output_pandas():
    X, _ = make_data()
    index = pd.RangeIndex(100, 140)
    X = {**X, "colour": pd.DataFrame(X["colour"], columns=["colour"], index=index)}
    mt = prep().set_output(transform="pandas")
    out = mt.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(mt.get_feature_names_out())
    assert out.columns[3] == "colour__colour_blue"
    assert out.index.equals(index) and out.shape == (40, 22)
    np.testing.assert_array_equal(
        out.filter(like="tab__").to_numpy(), mt.set_output(transform="default").transform(X)["tab"]
    )
    assert isinstance(mt.transform(X), ModalityDict)
    # through a pipeline, and kept by clone
    pipe = make_pipeline(prep(), StandardScaler()).set_output(transform="pandas")
    frame = pipe.fit_transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(pipe[0].get_feature_names_out())
    from sklearn.base import clone

    assert isinstance(clone(pipe[0]).fit_transform(X), pd.DataFrame)
    with pytest.raises(ValueError, match="takes \\['default', 'pandas'\\]"):
        prep().set_output(transform="polars")


def test_global_pandas_output_keeps_the_modalities():
    """A notebook-wide transform_output="pandas" must not flatten the modalities for the classifier."""
    from sklearn import config_context

    X, y = make_data()
    with config_context(transform_output="pandas"):
        out = prep().fit_transform(X)
        assert isinstance(out, ModalityDict) and sorted(out) == ["colour", "img", "tab"]
        pipe = Pipeline([("prep", prep()), ("clf", LateFusionClassifier(**TINY))]).fit(X, y)
        assert sorted(pipe[-1].modality_shapes_) == ["colour", "img", "tab"]
        assert pipe[-1].modality_shapes_["img"] == (1, 4, 4)  # still an image, not flattened pixels


def test_flattened_table_is_refused_by_a_classifier():
    """Pipeline.set_output(transform="pandas") flattens explicitly; the classifier says so instead of
    training a single-modality model on the table."""
    X, y = make_data()
    pipe = Pipeline([("prep", prep()), ("clf", LateFusionClassifier(**TINY))]).set_output(transform="pandas")
    with pytest.raises(TypeError, match=r"flattened modalities \['tab', 'colour', 'img'\].*set_output"):
        pipe.fit(X, y)
    # with selectors the user splits the table explicitly: accepted
    table = prep().set_output(transform="pandas").fit_transform(X)
    clf = LateFusionClassifier(modalities={"tab": table.filter(like="tab__").columns.tolist(),
                                           "rest": table.columns.drop(table.filter(like="tab__").columns).tolist()},
                               **TINY).fit(table, y)
    assert sorted(clf.modality_shapes_) == ["rest", "tab"]


@pytest.mark.parametrize(
    "block, match",
    [
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "infinity"),
        (np.array([[1 + 1j, 2], [3, 4]]), "Complex data"),
        (np.array([["a", "b"], ["c", "d"]]), "could not convert string"),
    ],
    ids=["inf", "complex", "strings"],
)
def test_inner_transformer_errors_name_the_modality(block, match):
    X = {"tab": block, "img": np.zeros((2, 1, 2, 2))}
    with pytest.raises(ValueError, match=f"Modality 'tab' \\(StandardScaler\\): .*{match}"):
        ModalityTransformer({"tab": StandardScaler()}).fit(X)
    fitted = ModalityTransformer({"tab": StandardScaler()}).fit({**X, "tab": np.eye(2)})
    with pytest.raises(ValueError, match=f"Modality 'tab' \\(StandardScaler\\): .*{match}"):
        fitted.transform(X)
