"""``FrontDoorAdjustment.fit(X, y)``: scikit-learn's checks, column roles, prediction."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from skcausalmm import FrontDoorAdjustment, PositivityError

from .columns import table

# ---------------------------------------------------------------------------
# scikit-learn's checks.
# ---------------------------------------------------------------------------

# The checks draw random tables in which most (x', m) cells are empty.  With the default alpha=0
# the front-door formula then divides by zero and fit rightly raises PositivityError (see
# test_default_alpha_fails_checks_only_by_positivity), so the checks run with smoothing.
CHECKED = [
    FrontDoorAdjustment(alpha=1.0),
    FrontDoorAdjustment(alpha=0.5, beta=0.5, variant="mixture", adjustment_set="A"),
]


def _expected_failed_checks(estimator):
    # Every check passes: none is expected to fail.  (The estimator's tags say that its inputs are
    # categorical, so the checks round their random features to integer categories, and that its
    # accuracy is "poor": predict answers an interventional question, not P(y | x, m).)
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_default_alpha_fails_checks_only_by_positivity():
    results = check_estimator(FrontDoorAdjustment(), on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert failed, "the checks' sparse random tables should violate positivity without smoothing"
    assert all(isinstance(r["exception"], PositivityError) for r in failed), [
        (r["check_name"], r["exception"]) for r in failed if not isinstance(r["exception"], PositivityError)
    ]


def test_tags():
    tags = FrontDoorAdjustment().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.input_tags.categorical
    assert tags.classifier_tags.poor_score


# ---------------------------------------------------------------------------
# Data: the smoking (X) / tar (M) / cancer (Y) SCM with a hidden genotype U, a genetic test A of U
# and a second auxiliary reading B of U.
# ---------------------------------------------------------------------------


def _smoking_rows(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.random(n) < 0.5
    x = np.where(u, rng.random(n) < 0.8, rng.random(n) < 0.2).astype(int)
    a = np.where(u, rng.random(n) < 0.8, rng.random(n) < 0.15).astype(int)
    b = np.where(u, rng.random(n) < 0.7, rng.random(n) < 0.3).astype(int)
    m = np.where(rng.random(n) < 0.85, x, 1 - x)
    p_y = np.array([[0.1, 0.6], [0.3, 0.9]])[m, u.astype(int)]
    y = (rng.random(n) < p_y).astype(int)
    return x, m, a, b, y


@pytest.fixture
def rows():
    return _smoking_rows()


def _assert_same_fit(first, second):
    np.testing.assert_array_equal(first.counts_, second.counts_)
    for name in ("treatment_values_", "mediator_values_", "outcome_values_", "classes_"):
        assert getattr(first, name).tolist() == getattr(second, name).tolist(), name
    np.testing.assert_allclose(first.interventional_proba_, second.interventional_proba_, atol=1e-12)
    if first.auxiliary_values_ is not None:
        assert first.auxiliary_values_.tolist() == second.auxiliary_values_.tolist()
        np.testing.assert_allclose(first.conditional_proba_, second.conditional_proba_, atol=1e-12)


# ---------------------------------------------------------------------------
# Tables: arrays and DataFrames count the same.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_a", [False, True])
def test_an_array_and_a_dataframe_count_the_same(rows, with_a):
    x, m, a, _, y = rows
    params = {"beta": 0.4, "variant": "conditional" if with_a else "covariate"}
    frame = FrontDoorAdjustment(**params).fit(table(x, m, a if with_a else None), y)
    X = np.column_stack([x, m, a] if with_a else [x, m])
    array = FrontDoorAdjustment(**params).fit(X, y)
    _assert_same_fit(array, frame)
    assert array.column_roles_ == frame.column_roles_ == ({"x": [0], "m": [1], "a": [2]} if with_a else {"x": [0], "m": [1]})
    assert array.n_features_in_ == frame.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(array.predict_proba(X), frame.predict_proba(table(x, m, a if with_a else None)), atol=1e-12)


def test_dataframe_with_named_roles_and_unused_columns(rows):
    x, m, a, _, y = rows
    frame = pd.DataFrame({"noise": np.arange(len(x)) % 7, "tar": m, "smoking": x, "test": a})
    est = FrontDoorAdjustment(beta=0.5, columns={"x": "smoking", "m": "tar", "a": "test"}).fit(frame, y)
    _assert_same_fit(est, FrontDoorAdjustment(beta=0.5).fit(table(x, m, a), y))
    assert est.column_roles_ == {"x": [2], "m": [1], "a": [3]}
    assert est.feature_names_in_.tolist() == ["noise", "tar", "smoking", "test"]
    by_position = FrontDoorAdjustment(beta=0.5, columns={"x": 2, "m": -3, "a": [3]}).fit(frame.to_numpy(), y)
    _assert_same_fit(by_position, est)


def test_string_and_categorical_columns(rows):
    x, m, a, _, y = rows
    smoke = np.array(["no", "yes"])[x]
    frame = pd.DataFrame(
        {
            "x": pd.Series(smoke, dtype="category"),
            "m": pd.Series(np.array(["clean", "tar"])[m], dtype="string"),
            "a": np.array(["-", "+"], dtype=object)[a],
        }
    )
    labels_y = np.array(["healthy", "cancer"])[y]
    est = FrontDoorAdjustment(beta=0.5).fit(frame, pd.Series(labels_y))
    reference = FrontDoorAdjustment(beta=0.5).fit(table(
        smoke, frame["m"].to_numpy(dtype=object), frame["a"].to_numpy()
    ), labels_y)
    _assert_same_fit(est, reference)
    assert est.classes_.tolist() == ["cancer", "healthy"]
    proba = est.predict_proba(frame.iloc[:3])
    np.testing.assert_allclose(proba, est.interventional_proba(smoke[:3]), atol=1e-12)


def test_multi_column_auxiliary_is_the_joint_of_its_columns(rows):
    x, m, a, b, y = rows
    est = FrontDoorAdjustment(beta=0.2, variant="conditional").fit(np.column_stack([x, m, a, b]), y)
    assert est.column_roles_ == {"x": [0], "m": [1], "a": [2, 3]}
    assert est.auxiliary_values_.tolist() == [(0, 0), (0, 1), (1, 0), (1, 1)]
    single = FrontDoorAdjustment(beta=0.2, variant="conditional").fit(table(x, m, 2 * a + b), y)
    np.testing.assert_array_equal(est.counts_, single.counts_)
    np.testing.assert_allclose(est.conditional_proba_, single.conditional_proba_, atol=1e-12)
    np.testing.assert_allclose(
        est.interventional_proba([1, 0], a_values=[(1, 0), (0, 1)]),
        single.interventional_proba([1, 0], a_values=[2, 1]),
        atol=1e-12,
    )
    np.testing.assert_allclose(est.effect(1, 0, a=(1, 1)), single.effect(1, 0, a=3), atol=1e-12)
    X_new = np.array([[0, 0, 1, 1], [1, 1, 0, 1], [1, 0, 0, 0]])
    np.testing.assert_allclose(est.predict_proba(X_new), single.conditional_proba_[[0, 1, 1], [3, 1, 0]], atol=1e-12)


def test_multi_column_treatment_with_string_labels(rows):
    x, m, a, _, y = rows
    names = np.array(["lo", "hi"])
    X = np.column_stack([names[x], names[a], m]).astype(object)
    est = FrontDoorAdjustment(columns={"x": [0, 1], "m": 2}).fit(X, y)
    assert est.treatment_values_.tolist() == [("hi", "hi"), ("hi", "lo"), ("lo", "hi"), ("lo", "lo")]
    reference = FrontDoorAdjustment().fit(table(2 * (1 - x) + (1 - a), m), y)  # codes in the same sorted order
    np.testing.assert_array_equal(est.counts_, reference.counts_)
    np.testing.assert_allclose(est.predict_proba(X[:5]), reference.interventional_proba_[2 * (1 - x[:5]) + (1 - a[:5])])


# ---------------------------------------------------------------------------
# predict_proba / predict.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["covariate", "mixture", "conditional"])
def test_predict_proba_is_the_interventional_row(rows, variant):
    x, m, a, _, y = rows
    est = FrontDoorAdjustment(beta=0.3, variant=variant, alpha=0.5).fit(np.column_stack([x, m, a]), y)
    X = np.column_stack([x, m, a])[:50]
    if variant == "conditional":
        expected = est.conditional_proba_[x[:50], a[:50]]
    else:
        expected = est.interventional_proba_[x[:50]]
    np.testing.assert_allclose(est.predict_proba(X), expected, atol=1e-12)
    # the mediator column does not enter the prediction
    np.testing.assert_allclose(est.predict_proba(np.column_stack([x[:50], 1 - m[:50], a[:50]])), expected, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X), est.classes_[expected.argmax(axis=1)])
    assert est.score(X, y[:50]) == pytest.approx(np.mean(est.predict(X) == y[:50]))


def test_predict_unknown_treatment_is_a_clear_error(rows):
    x, m, a, _, y = rows
    est = FrontDoorAdjustment().fit(np.column_stack([x, m]), y)
    with pytest.raises(ValueError, match=r"X column 0 \(role 'x'\) hold treatment value\(s\) not seen in fit: \[7\]"):
        est.predict_proba([[7, 0], [1, 0]])
    multi = FrontDoorAdjustment(variant="conditional").fit(np.column_stack([x, m, a, a]), y)
    with pytest.raises(ValueError, match=r"role 'a'.*not seen in fit: \[\(0, 5\)\]"):
        multi.predict_proba([[0, 0, 0, 5]])


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_predict_checks_the_table(rows):
    x, m, a, _, y = rows
    est = FrontDoorAdjustment().fit(pd.DataFrame({"x": x, "m": m}), y)
    with pytest.raises(ValueError, match="X has 3 features, but FrontDoorAdjustment is expecting 2"):
        est.predict_proba(np.column_stack([x, m, a]))
    with pytest.raises(ValueError, match="Reshape your data"):
        est.predict(x)
    with pytest.raises(ValueError, match=r"X column 'm' \(role 'm'\) contains missing values"):
        est.predict(pd.DataFrame({"x": [0, 1], "m": [0.0, np.nan]}))


def test_params_changed_after_fit_are_honoured_by_predict(rows):
    x, m, a, _, y = rows
    X = np.column_stack([x, m, a])
    est = FrontDoorAdjustment(beta=1.0).fit(X, y)
    est.set_params(beta=0.0, variant="conditional")
    np.testing.assert_allclose(est.predict_proba(X), clone(est).fit(X, y).predict_proba(X), atol=1e-12)


def test_model_selection(rows):
    x, m, a, _, y = rows
    X = np.column_stack([x, m, a])
    scores = cross_val_score(FrontDoorAdjustment(alpha=1.0), X, y, cv=3, scoring="neg_log_loss")
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    search = GridSearchCV(
        FrontDoorAdjustment(variant="conditional"), {"beta": [0.0, 0.5, 1.0]}, cv=3, scoring="neg_log_loss"
    ).fit(X, y)
    # A is a reading of the confounder U of X and Y: within strata of A the front door predicts the
    # observed outcome better than Pearl's population formula
    assert search.best_params_["beta"] == 0.0


# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "columns, error, match",
    [
        ({"x": 0}, ValueError, r"must give the role\(s\) \['m'\]"),
        ({"x": 0, "m": 1, "z": 2}, ValueError, "unknown role.*'z'"),
        ({"x": 0, "m": 0}, ValueError, "two roles: 'x' and 'm'"),
        ({"x": 0, "m": [1, 1]}, ValueError, "two roles: 'm' and 'm'"),
        ({"x": 0, "m": 5}, ValueError, r"columns\['m'\] refers to column 5, but X has 3 columns"),
        ({"x": 0, "m": "tar"}, ValueError, "no column names"),
        ({"x": 0, "m": []}, ValueError, "empty"),
        ({"x": 0.5, "m": 1}, TypeError, r"columns\['x'\] must be a column position"),
        ({"x": True, "m": 1}, TypeError, r"columns\['x'\] must be a column position"),
    ],
)
def test_invalid_columns(rows, columns, error, match):
    x, m, a, _, y = rows
    with pytest.raises(error, match=match):
        FrontDoorAdjustment(columns=columns).fit(np.column_stack([x, m, a]), y)


def test_unknown_column_name(rows):
    x, m, _, _, y = rows
    with pytest.raises(ValueError, match=r"X has no column 'smoke'; its columns are \['x', 'm'\]"):
        FrontDoorAdjustment(columns={"x": "smoke", "m": "m"}).fit(pd.DataFrame({"x": x, "m": m}), y)


def test_columns_parameter_type():
    with pytest.raises(ValueError, match="columns"):
        FrontDoorAdjustment(columns=[0, 1]).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_one_signature(rows):
    x, m, a, _, y = rows
    with pytest.raises(TypeError):
        FrontDoorAdjustment().fit(x, m, y, a)  # the positional column form is gone: fit(X, y) only
    with pytest.raises(ValueError, match=r"Reshape your data.*np.column_stack\(\[x, m\]\)"):
        FrontDoorAdjustment().fit(x, y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        FrontDoorAdjustment().fit(np.column_stack([x, m]), None)


def test_table_form_errors(rows):
    x, m, _, _, y = rows
    with pytest.raises(ValueError, match=r"1 feature\(s\).*at least 2 columns"):
        FrontDoorAdjustment().fit(x[:, None], y)
    with pytest.raises(ValueError, match="conditional' needs the auxiliary variable: X has only"):
        FrontDoorAdjustment(variant="conditional").fit(np.column_stack([x, m]), y)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        FrontDoorAdjustment().fit(np.column_stack([x, m]), y + 0.5)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        FrontDoorAdjustment().fit(np.column_stack([x, m]), y[:-1])
    with_nan = np.column_stack([x, m]).astype(float)
    with_nan[5, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        FrontDoorAdjustment().fit(with_nan, y)
    with pytest.raises(ValueError, match=r"X column 'm' \(role 'm'\) contains missing values"):
        FrontDoorAdjustment().fit(pd.DataFrame({"x": x, "m": pd.array(np.where(m == 0, None, m), dtype="Int64")}), y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        FrontDoorAdjustment().fit(np.column_stack([x, m]) + 1j, y)
    with pytest.raises(TypeError, match=r"X column 1 \(role 'm'\) holds an unhashable value"):
        X = np.column_stack([x, m]).astype(object)
        X[3, 1] = {"tar": 1}
        FrontDoorAdjustment().fit(X, y)
    with pytest.raises(ValueError, match="single value"):
        FrontDoorAdjustment().fit(np.column_stack([np.zeros_like(x), m]), y)
