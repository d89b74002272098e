"""Unit tests of :mod:`skcausalmm.adjustment` (errors, labels, smoothing, sklearn API).

The hypothesis property tests live in ``test_adjustment_properties.py``.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skcausalmm import FrontDoorAdjustment, PositivityError, front_door_adjustment

from .columns import table

# A fixed smoking (X) / tar (M) / cancer (Y) SCM with a hidden genotype U and a
# noisy genetic test A of U.
P_U = np.array([0.5, 0.5])
P_X_U = np.array([[0.8, 0.2], [0.2, 0.8]])
P_A_U = np.array([[0.85, 0.15], [0.2, 0.8]])
P_M_X = np.array([[0.85, 0.15], [0.15, 0.85]])
P_Y_MU = np.array([[[0.9, 0.1], [0.4, 0.6]], [[0.7, 0.3], [0.1, 0.9]]])  # [m, u, y]


def smoking_joint():
    """Observed joint over (x, a, m, y) and the true P(y | do(x))."""
    full = np.einsum("u,ux,ua,xm,muy->uxamy", P_U, P_X_U, P_A_U, P_M_X, P_Y_MU)
    truth = np.einsum("u,xm,muy->xy", P_U, P_M_X, P_Y_MU)
    return full.sum(axis=0), truth


def sample(joint, n, seed):
    """Draw ``n`` rows (x, a, m, y) from a joint table."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(joint.size, size=n, p=joint.ravel())
    return np.unravel_index(cells, joint.shape)


@pytest.fixture
def rows():
    joint, _ = smoking_joint()
    return sample(joint, 5000, seed=0)


# ---------------------------------------------------------------------------
# The function.
# ---------------------------------------------------------------------------


def test_pearl_textbook_value():
    joint, truth = smoking_joint()
    np.testing.assert_allclose(front_door_adjustment(joint), truth, atol=1e-12)
    naive = joint.sum(axis=(1, 2)) / joint.sum(axis=(1, 2, 3))[:, None]
    assert np.abs(naive - truth).max() > 0.05  # the SCM is confounded


@pytest.mark.parametrize(
    "joint, match",
    [
        (np.full((2, 2), 0.25), "axes"),
        (np.full((2, 2, 2, 2, 2), 1 / 32), "axes"),
        (np.full((1, 2, 2), 0.25), "single treatment value"),
        (np.full((2, 2, 2), 0.25), "sum to 1"),
        (np.full((2, 2, 2), -1 / 8), "non-negative"),
        (np.array([[[np.nan, 0.5], [0.25, 0.25]]] * 2) / 2, "NaN"),
    ],
)
def test_malformed_joint(joint, match):
    with pytest.raises(ValueError, match=match):
        front_door_adjustment(joint)


def test_negative_cell_with_unit_total():
    joint = np.full((2, 2, 2), 1 / 8)
    joint[0, 0, 0], joint[0, 0, 1] = -0.1, 0.35
    with pytest.raises(ValueError, match="non-negative"):
        front_door_adjustment(joint)


@pytest.mark.parametrize("beta", [-0.1, 1.5, "0.5", None])
def test_beta_out_of_range(beta):
    with pytest.raises(ValueError, match="beta"):
        front_door_adjustment(np.full((2, 2, 2), 1 / 8), beta=beta)


def test_unknown_variant_and_adjustment_set():
    joint = np.full((2, 2, 2, 2), 1 / 16)
    with pytest.raises(ValueError, match="variant"):
        front_door_adjustment(joint, variant="backdoor")
    with pytest.raises(ValueError, match="adjustment_set"):
        front_door_adjustment(joint, variant="mixture", adjustment_set="X")


def test_conditional_without_auxiliary_axis():
    with pytest.raises(ValueError, match="auxiliary"):
        front_door_adjustment(np.full((2, 2, 2), 1 / 8), beta=0.5, variant="conditional")


def test_shapes():
    joint = np.random.default_rng(0).dirichlet(np.ones(2 * 3 * 4 * 5)).reshape(2, 3, 4, 5)
    assert front_door_adjustment(joint, 0.3, "conditional").shape == (2, 3, 5)
    for variant in ("covariate", "mixture"):
        assert front_door_adjustment(joint, 0.3, variant).shape == (2, 5)
    assert front_door_adjustment(joint.sum(1)).shape == (2, 5)


def test_accepts_lists():
    assert front_door_adjustment([[[0.25, 0.25]], [[0.25, 0.25]]]).shape == (2, 2)


# ---------------------------------------------------------------------------
# Positivity.
# ---------------------------------------------------------------------------


def _joint_with_empty_cell(x, m):
    joint, _ = smoking_joint()
    joint = joint.copy()
    joint[x, :, m, :] = 0
    return joint / joint.sum()


def test_positivity_pearl_names_cells():
    joint = _joint_with_empty_cell(x=1, m=0)
    with pytest.raises(PositivityError, match=r"B_X\(y \| m\).*\(x=1, m=0\)"):
        front_door_adjustment(joint)


def test_positivity_error_is_value_error():
    assert issubclass(PositivityError, ValueError)


def test_positivity_treatment_with_zero_mass():
    joint = np.zeros((3, 2, 2))
    joint[:2] = 1 / 8
    with pytest.raises(PositivityError, match=r"P\(x\).*\(x=2\)"):
        front_door_adjustment(joint)


def test_unreachable_mediator_value_is_allowed():
    """An m with P(m) = 0 enters with weight 0 and needs no positivity."""
    joint = np.zeros((2, 3, 2))
    joint[:, :2, :] = np.random.default_rng(0).dirichlet(np.ones(8)).reshape(2, 2, 2)
    out = front_door_adjustment(joint)
    np.testing.assert_allclose(out, front_door_adjustment(joint[:, :2, :]), atol=1e-12)


def test_positivity_within_strata():
    joint, _ = smoking_joint()
    joint = joint.copy()
    joint[0, 1, 1, :] = 0  # P(x=0, a=1, m=1) = 0, but P(x=0, m=1) > 0
    joint /= joint.sum()
    front_door_adjustment(joint, beta=1.0, variant="conditional")  # Pearl only: fine
    front_door_adjustment(joint, beta=0.3, variant="mixture", adjustment_set="A")  # fine
    for variant in ("conditional", "covariate"):
        with pytest.raises(PositivityError, match=r"FD_a.*\(x=0, a=1, m=1\)"):
            front_door_adjustment(joint, beta=0.5, variant=variant)
    with pytest.raises(PositivityError, match=r"B_\{X,A\}.*\(x=0, a=1, m=1\)"):
        front_door_adjustment(joint, beta=0.5, variant="mixture", adjustment_set="X+A")


def test_positivity_treatment_within_strata():
    joint, _ = smoking_joint()
    joint = joint.copy()
    joint[1, 0] = 0  # nobody with a=0 smokes
    joint /= joint.sum()
    with pytest.raises(PositivityError, match=r"P\(x, a\).*\(x=1, a=0\)"):
        front_door_adjustment(joint, beta=0.0, variant="covariate")


def test_positivity_backdoor_on_auxiliary():
    joint, _ = smoking_joint()
    joint = joint.copy()
    joint[:, 1, 0, :] = 0  # P(a=1, m=0) = 0 while P(m=0) > 0
    joint /= joint.sum()
    with pytest.raises(PositivityError, match=r"B_A\(y \| m\).*\(a=1, m=0\)"):
        front_door_adjustment(joint, beta=0.5, variant="mixture", adjustment_set="A")


def test_positivity_error_uses_labels():
    x = np.array(["no", "no", "yes", "yes", "yes"])
    m = np.array(["low", "high", "high", "high", "high"])
    y = np.array([0, 1, 0, 1, 1])
    with pytest.raises(PositivityError, match=r"\(x='yes', m='low'\)"):
        FrontDoorAdjustment().fit(table(x, m), y)


def test_alpha_makes_sparse_data_finite():
    x = np.array(["no", "no", "yes", "yes", "yes"])
    m = np.array(["low", "high", "high", "high", "high"])
    y = np.array([0, 1, 0, 1, 1])
    a = np.array([0, 0, 0, 1, 1])
    for variant, s in [("covariate", "X+A"), ("mixture", "X+A"), ("mixture", "A"), ("conditional", "X+A")]:
        est = FrontDoorAdjustment(beta=0.5, variant=variant, adjustment_set=s, alpha=1.0)
        est.fit(table(x, m, a), y)
        assert np.all(np.isfinite(est.interventional_proba_))
        assert np.all(np.isfinite(est.conditional_proba_))
        np.testing.assert_allclose(est.interventional_proba_.sum(1), 1.0)


# ---------------------------------------------------------------------------
# The estimator.
# ---------------------------------------------------------------------------


def test_fit_matches_function_on_empirical_joint(rows):
    x, a, m, y = rows
    counts = np.zeros((2, 2, 2, 2))
    np.add.at(counts, (x, a, m, y), 1)
    joint = counts / counts.sum()
    est = FrontDoorAdjustment(beta=0.4, variant="mixture", adjustment_set="A").fit(table(x, m, a), y)
    np.testing.assert_array_equal(est.counts_, counts)
    np.testing.assert_allclose(
        est.interventional_proba_, front_door_adjustment(joint, 0.4, "mixture", "A"), atol=1e-12
    )
    np.testing.assert_allclose(
        est.conditional_proba_, front_door_adjustment(joint, 0.4, "conditional"), atol=1e-12
    )
    naive = counts.sum((1, 2)) / counts.sum((1, 2, 3))[:, None]
    np.testing.assert_allclose(est.observational_proba_, naive, atol=1e-12)


def test_string_labels_and_accessors(rows):
    x, a, m, y = rows
    names = {
        "x": np.array(["non-smoker", "smoker"]),
        "a": np.array(["test-", "test+"]),
        "m": np.array(["clean", "tar"]),
        "y": np.array(["healthy", "cancer"]),
    }
    est = FrontDoorAdjustment(beta=0.5).fit(table(names["x"][x], names["m"][m], names["a"][a]), names["y"][y])
    numeric = FrontDoorAdjustment(beta=0.5).fit(table(x, m, a), y)
    # sorted labels: 'non-smoker' < 'smoker'; 'cancer' < 'healthy' (columns swapped)
    assert est.treatment_values_.tolist() == ["non-smoker", "smoker"]
    assert est.outcome_values_.tolist() == ["cancer", "healthy"]
    assert est.auxiliary_values_.tolist() == ["test+", "test-"]
    np.testing.assert_allclose(est.interventional_proba_, numeric.interventional_proba_[:, ::-1])
    np.testing.assert_allclose(est.conditional_proba_, numeric.conditional_proba_[:, ::-1, ::-1])
    rows_ = est.interventional_proba(["smoker", "non-smoker", "smoker"])
    np.testing.assert_allclose(rows_, est.interventional_proba_[[1, 0, 1]])
    cond = est.interventional_proba(["smoker", "non-smoker"], a_values=["test+", "test-"])
    np.testing.assert_allclose(cond, est.conditional_proba_[[1, 0], [0, 1]])
    effect = est.effect("smoker", "non-smoker")
    np.testing.assert_allclose(effect, est.interventional_proba_[1] - est.interventional_proba_[0])
    np.testing.assert_allclose(effect.sum(), 0.0, atol=1e-12)
    within = est.effect("smoker", "non-smoker", a="test+")
    np.testing.assert_allclose(within, est.conditional_proba_[1, 0] - est.conditional_proba_[0, 0])


def test_mixed_unorderable_labels():
    x = np.array([1, "b", 1, "b", 1, "b"], dtype=object)
    m = np.array([0, 1, 0, 1, 1, 0])
    y = np.array([0, 1, 1, 0, 1, 0])
    est = FrontDoorAdjustment().fit(table(x, m), y)
    assert est.treatment_values_.tolist() == [1, "b"]
    assert est.interventional_proba(["b"]).shape == (1, 2)


def test_pandas_input(rows):
    x, a, m, y = rows
    frame = pd.DataFrame({"x": x, "m": m, "y": y, "a": a})
    est = FrontDoorAdjustment(beta=0.2).fit(table(frame["x"], frame["m"], frame["a"]), frame["y"])
    np.testing.assert_allclose(
        est.interventional_proba_, FrontDoorAdjustment(beta=0.2).fit(table(x, m, a), y).interventional_proba_
    )


def test_unknown_labels_in_accessors(rows):
    x, a, m, y = rows
    est = FrontDoorAdjustment().fit(table(x, m, a), y)
    with pytest.raises(ValueError, match="Unknown treatment value"):
        est.interventional_proba([0, 7])
    with pytest.raises(ValueError, match="Unknown auxiliary value"):
        est.interventional_proba([0], a_values=[5])
    with pytest.raises(ValueError, match="same length"):
        est.interventional_proba([0, 1], a_values=[0])
    with pytest.raises(ValueError, match="Unknown treatment"):
        est.effect(3, 0)


def test_no_auxiliary(rows):
    x, _, m, y = rows
    est = FrontDoorAdjustment(beta=0.3, variant="mixture").fit(table(x, m), y)
    assert est.auxiliary_values_ is None
    assert est.counts_.shape == (2, 2, 2)
    # without A every variant is Pearl's formula
    pearl = FrontDoorAdjustment().fit(table(x, m), y).interventional_proba_
    np.testing.assert_allclose(est.interventional_proba_, pearl, atol=1e-12)
    assert not hasattr(est, "conditional_proba_")
    with pytest.raises(ValueError, match="without a"):
        est.interventional_proba([0], a_values=[0])


def test_conditional_variant_requires_a(rows):
    x, _, m, y = rows
    with pytest.raises(ValueError, match="needs the auxiliary variable: X has only the columns of x and m"):
        FrontDoorAdjustment(variant="conditional").fit(table(x, m), y)
    est = FrontDoorAdjustment().fit(table(x, m), y)
    est.set_params(variant="conditional")
    with pytest.raises(ValueError, match="without a"):
        est.interventional_proba_


def test_conditional_variant_population_table_is_covariate(rows):
    x, a, m, y = rows
    cond = FrontDoorAdjustment(beta=0.3, variant="conditional").fit(table(x, m, a), y)
    cov = FrontDoorAdjustment(beta=0.3, variant="covariate").fit(table(x, m, a), y)
    np.testing.assert_allclose(cond.interventional_proba_, cov.interventional_proba_, atol=1e-12)


def test_mismatched_lengths(rows):
    x, a, m, y = rows
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        FrontDoorAdjustment().fit(table(x, m, a), y[:-1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta": 1.1}, "beta"),
        ({"beta": -0.5}, "beta"),
        ({"variant": "nope"}, "variant"),
        ({"adjustment_set": "M"}, "adjustment_set"),
        ({"alpha": -1.0}, "alpha"),
    ],
)
def test_invalid_params(rows, kwargs, match):
    x, a, m, y = rows
    with pytest.raises(ValueError, match=match):
        FrontDoorAdjustment(**kwargs).fit(table(x, m, a), y)
    est = FrontDoorAdjustment().fit(table(x, m, a), y).set_params(**kwargs)
    with pytest.raises(ValueError, match=match):
        est.interventional_proba_


def test_single_treatment_value():
    with pytest.raises(ValueError, match="single value"):
        FrontDoorAdjustment().fit(table(["s"] * 4, [0, 1, 0, 1]), [0, 0, 1, 1])


@pytest.mark.parametrize(
    "x, match",
    [
        (np.array([0.0, 1.0, np.nan, 1.0]), "missing"),
        (np.array([], dtype=int), "0 sample"),
    ],
)
def test_bad_columns(x, match):
    n = len(x)
    with pytest.raises(ValueError, match=match):
        FrontDoorAdjustment().fit(table(x, np.zeros(n)), np.zeros(n))


def test_not_fitted():
    est = FrontDoorAdjustment()
    with pytest.raises(NotFittedError):
        est.interventional_proba_
    with pytest.raises(NotFittedError):
        est.effect(0, 1)
    assert not hasattr(est, "observational_proba_")


def test_params_changed_after_fit_are_honoured(rows):
    x, a, m, y = rows
    est = FrontDoorAdjustment(beta=1.0).fit(table(x, m, a), y)
    for params in [
        {"beta": 0.0},
        {"beta": 0.7, "variant": "mixture", "adjustment_set": "A"},
        {"alpha": 2.0},
    ]:
        est.set_params(**params)
        fresh = clone(est).fit(table(x, m, a), y)
        np.testing.assert_allclose(est.interventional_proba_, fresh.interventional_proba_, atol=1e-12)
        np.testing.assert_allclose(est.conditional_proba_, fresh.conditional_proba_, atol=1e-12)


def test_alpha_is_additive_smoothing(rows):
    x, a, m, y = rows
    est = FrontDoorAdjustment(alpha=0.5).fit(table(x, m, a), y)
    smoothed = (est.counts_ + 0.5) / (est.counts_.sum() + 0.5 * 16)
    np.testing.assert_allclose(est.joint_, smoothed)
    np.testing.assert_allclose(est.interventional_proba_, front_door_adjustment(smoothed))


def test_sklearn_api(rows):
    est = FrontDoorAdjustment(beta=0.25, variant="mixture", adjustment_set="A", alpha=0.1)
    assert est.get_params() == {
        "beta": 0.25,
        "variant": "mixture",
        "adjustment_set": "A",
        "alpha": 0.1,
        "columns": None,  # the column roles of fit(X, y)
    }
    cloned = clone(est)
    assert cloned is not est and cloned.get_params() == est.get_params()
    assert "FrontDoorAdjustment" in repr(est)
    x, a, m, y = rows
    est.fit(table(x, m, a), y)
    assert not hasattr(clone(est), "counts_")
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.interventional_proba_, est.interventional_proba_)


# ---------------------------------------------------------------------------
# Counting by value range / hashing equals the previous sort-based counting.
# ---------------------------------------------------------------------------


def sorted_counts(columns):
    """The previous counting, kept as the reference: np.unique per column, ravel_multi_index, bincount."""
    codes, labels = [], []
    for values in columns:
        arr = np.asarray(values)
        try:
            lab, inverse = np.unique(arr, return_inverse=True)
        except TypeError:  # mixed, unorderable labels: order of first appearance
            inverse, lab = pd.factorize(arr, sort=False)
            lab = np.asarray(lab, dtype=object)
        codes.append(inverse.reshape(-1))
        labels.append(lab)
    shape = tuple(len(lab) for lab in labels)
    flat = np.ravel_multi_index(tuple(codes), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape), labels


def _draw(rng, n, kind, at_least=1):
    """One discrete column of ``n`` rows of the given kind, with at least ``at_least`` distinct values."""
    k = rng.integers(at_least, 5)
    pick = rng.permutation(np.arange(n) % k)
    if kind == "small int":
        return pick
    if kind == "int8 extremes":
        return np.array([-128, 127, 0, -1], dtype=np.int8)[pick]
    if kind == "offset int32":
        return (pick * 3 - 1000).astype(np.int32)
    if kind == "wide int64":  # value range too wide for offsets: hashed
        return np.array([-(2**62), 0, 2**62, 5], dtype=np.int64)[pick]
    if kind == "spread int":  # offsets, but the product of the ranges is large: compacted rows
        return np.array([0, 60_000, 30_000, 7], dtype=np.int64)[pick]
    if kind == "uint64 top":
        return np.array([2**64 - 1, 2**64 - 3, 2**63, 2**63 + 9], dtype=np.uint64)[pick]
    if kind == "uint8":
        return pick.astype(np.uint8) + 200
    if kind == "bool":
        return pick % 2 == 0
    if kind == "float":
        return np.array([0.5, -3.0, 1.25, 1e300])[pick]
    if kind == "str":
        return np.array(["tar", "clean", "ash", "b"])[pick]
    if kind == "object str":
        return np.array(["tar", "clean", "ash", "b"], dtype=object)[pick]
    if kind == "mixed object":  # unorderable: order of first appearance
        return np.array([1, "b", 2.5, "a"], dtype=object)[pick]
    if kind == "many ints":
        return rng.permutation(n) % max(2, n // 3)
    raise AssertionError(kind)


KINDS = [
    "small int",
    "int8 extremes",
    "offset int32",
    "wide int64",
    "spread int",
    "uint64 top",
    "uint8",
    "bool",
    "float",
    "str",
    "object str",
    "mixed object",
    "many ints",
]


@pytest.mark.parametrize("kind", KINDS)
def test_counts_equal_sort_based_counts(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    n = 3000
    columns = {role: _draw(rng, n, kind, at_least=2 if role == "x" else 1) for role in "xamy"}
    if kind == "many ints":  # one high-cardinality column (the reference needs the dense product)
        columns.update({role: _draw(rng, n, "small int", at_least=2) for role in "xay"})
    if kind == "float":  # the outcome holds class labels: discrete, not continuous floats
        columns["y"] = _draw(rng, n, "small int", at_least=1)
    counts, labels = sorted_counts([columns[r] for r in "xamy"])
    est = FrontDoorAdjustment(beta=0.3, alpha=0.5).fit(table(columns["x"], columns["m"], columns["a"]), columns["y"])
    np.testing.assert_array_equal(est.counts_, counts)
    fitted = [est.treatment_values_, est.auxiliary_values_, est.mediator_values_, est.outcome_values_]
    for got, expected in zip(fitted, labels):
        assert got.tolist() == expected.tolist()
        assert got.dtype == expected.dtype or object in (got.dtype, expected.dtype)  # a DataFrame stores str as object
    joint = (counts + 0.5) / (counts.sum() + 0.5 * counts.size)
    np.testing.assert_allclose(est.interventional_proba_, front_door_adjustment(joint, 0.3), atol=1e-12)
    np.testing.assert_allclose(est.conditional_proba_, front_door_adjustment(joint, 0.3, "conditional"), atol=1e-12)


def test_counts_equal_sort_based_counts_on_many_rows():
    rng = np.random.default_rng(1)
    n = 200_000
    columns = [
        rng.integers(0, 3, n),
        np.array(["no", "yes", "maybe"], dtype=object)[rng.integers(0, 3, n)],
        rng.integers(-50, 50, n).astype(np.int16),
        rng.integers(0, 4, n).astype(float),
    ]
    counts, labels = sorted_counts(columns)
    est = FrontDoorAdjustment(alpha=1.0).fit(table(columns[0], columns[2], columns[1]), columns[3])
    np.testing.assert_array_equal(est.counts_, counts)
    assert est.auxiliary_values_.tolist() == ["maybe", "no", "yes"]
    assert est.mediator_values_.tolist() == list(range(-50, 50))
    joint = (counts + 1.0) / (counts.sum() + counts.size)
    np.testing.assert_allclose(est.interventional_proba_, front_door_adjustment(joint), atol=1e-12)


def test_pandas_columns_count_like_their_values(rows):
    x, a, m, y = rows
    frame = pd.DataFrame(
        {
            "x": pd.Categorical(np.array(["smoker", "non-smoker"])[x]),
            "a": pd.array(a, dtype="Int64"),
            "m": pd.Series(np.array(["tar", "clean"])[m], dtype="string"),
            "y": y,
        }
    )
    est = FrontDoorAdjustment(beta=0.5).fit(table(frame["x"], frame["m"], frame["a"]), frame["y"])
    counts, labels = sorted_counts([np.asarray(frame[c], dtype=object) for c in "xamy"])
    np.testing.assert_array_equal(est.counts_, counts)
    assert est.treatment_values_.tolist() == ["non-smoker", "smoker"]
    assert est.mediator_values_.tolist() == ["clean", "tar"]
    # unobserved categories are not labels
    extra = pd.Categorical(frame["x"], categories=["smoker", "vaper", "non-smoker"])
    est_extra = FrontDoorAdjustment(beta=0.5).fit(table(extra, frame["m"], frame["a"]), frame["y"])
    assert est_extra.treatment_values_.tolist() == ["non-smoker", "smoker"]
    np.testing.assert_array_equal(est_extra.counts_, counts)


@pytest.mark.parametrize(
    "values, error, match",
    [
        (np.array([1 + 1j, 2, 1, 2]), ValueError, "Complex data not supported"),
        (np.array([0.0, np.inf, 1.0, 1.0]), ValueError, "infinite"),
        (np.array([0, None, 1, 1], dtype=object), ValueError, "missing"),
        (pd.array([0, None, 1, 1], dtype="Int64"), ValueError, "missing"),
        (pd.Categorical(["a", None, "b", "b"]), ValueError, "missing"),
        (pd.Series(["a", None, "b", "b"], dtype="string"), ValueError, "missing"),
        (np.array([0, [1], 1, 1], dtype=object), TypeError, "column 'x' .* holds an unhashable value"),
        (np.array(["2020-01-01", "NaT", "2020-01-02", "2020-01-01"], dtype="datetime64[D]"), ValueError, "missing"),
    ],
)
def test_bad_column_values(values, error, match):
    with pytest.raises(error, match=match):
        FrontDoorAdjustment().fit(table(values, np.array([0, 1, 0, 1])), np.array([0, 0, 1, 1]))


def test_datetime_labels():
    x = np.array(["2020-01-01", "2020-01-02"] * 4, dtype="datetime64[D]")
    m = np.array([0, 1, 1, 0, 0, 1, 1, 0])
    est = FrontDoorAdjustment().fit(table(x, m), m)
    assert est.treatment_values_.dtype.kind == "M"  # a DataFrame may store another resolution
    assert est.treatment_values_.astype(x.dtype).tolist() == sorted(set(x.tolist()))


def test_count_table_too_large_is_refused():
    n = 40_000
    x = np.arange(n) % 20_000
    with pytest.raises(ValueError, match=r"count table over \(x, m, y\) would have 800,000,000 cells"):
        FrontDoorAdjustment().fit(table(x, np.arange(n)), np.zeros(n, dtype=int))


# ---------------------------------------------------------------------------
# Numerically invalid inputs are rejected, not converted or reported as positivity.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "joint, dtype",
    [
        (np.full((2, 2, 2), 1 / 8) + 0j, "complex"),
        (np.full((2, 2, 2), "0.125"), "<U5"),
        ([[["0.25", "0.25"]], [["0.25", "0.25"]]], "<U4"),
        (np.full((2, 2, 2), 1 / 8).astype(object), "object"),
        (np.eye(2, dtype=bool)[:, None, :] & np.array([True, False])[:, None, None], "bool"),
    ],
)
def test_joint_must_hold_real_numbers(joint, dtype):
    with pytest.raises(TypeError, match=rf"joint must be a table of real numbers.*got dtype {dtype}"):
        front_door_adjustment(joint)


def test_integer_joint_is_accepted():
    joint = np.zeros((2, 1, 1), dtype=np.int64)
    joint[0, 0, 0] = 1  # sums to one, but nobody is treated with x=1
    with pytest.raises(PositivityError):
        front_door_adjustment(joint)


@pytest.mark.parametrize(
    "alpha, match",
    [
        (1e308, r"alpha parameter .* smoothed total finite; got alpha=1e\+308.*overflows"),
        (float(np.finfo(float).max), "overflows"),
        (np.inf, r"'alpha' parameter .* Got inf"),
    ],
)
def test_alpha_that_overflows_is_rejected(rows, alpha, match):
    x, a, m, y = rows
    with pytest.raises(ValueError, match=match) as info:
        FrontDoorAdjustment(alpha=alpha).fit(table(x, m, a), y)
    assert not isinstance(info.value, PositivityError)
    est = FrontDoorAdjustment().fit(table(x, m, a), y).set_params(alpha=alpha)
    with pytest.raises(ValueError, match=match):
        est.interventional_proba_


def test_alpha_that_underflows_is_rejected(rows):
    x, a, m, y = rows
    with pytest.raises(ValueError, match="too small to smooth") as info:
        FrontDoorAdjustment(alpha=1e-320).fit(table(x, m, a), y)
    assert not isinstance(info.value, PositivityError)


def test_huge_but_finite_alpha_is_smoothing(rows):
    x, a, m, y = rows
    est = FrontDoorAdjustment(alpha=1e300, beta=0.5).fit(table(x, m, a), y)
    np.testing.assert_allclose(est.joint_, 1 / 16)
    np.testing.assert_allclose(est.interventional_proba_, 0.5)
    np.testing.assert_allclose(est.conditional_proba_, 0.5)


# ---------------------------------------------------------------------------
# Consistency: the error shrinks like 1 / sqrt(n).
# ---------------------------------------------------------------------------


def test_error_shrinks_like_root_n():
    joint, truth = smoking_joint()
    errors = {}
    for n in (1_000, 100_000):
        per_seed = []
        for seed in range(5):
            x, a, m, y = sample(joint, n, seed)
            est = FrontDoorAdjustment(beta=0.5).fit(table(x, m, a), y)
            per_seed.append(np.abs(est.interventional_proba_ - truth).max())
        errors[n] = np.mean(per_seed)
    assert errors[1_000] / errors[100_000] >= 5, errors
