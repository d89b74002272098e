"""Property tests of the exact β-generalised front-door adjustment.

Random discrete structural causal models with a hidden confounder U are drawn
(conditional tables from a Dirichlet with a seeded generator), the analytic
interventional distributions are computed with U, U is marginalised out and
the observed joint is fed to :func:`front_door_adjustment`.  The validity table
of ``docs/adjustment.md`` is checked family by family.
"""

import itertools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skcausalmm import FrontDoorAdjustment, front_door_adjustment

from .columns import table

# the derandomised CI profile is registered and loaded in the root conftest.py

FAST = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])

EXACT = 1e-9
CONFOUNDING_GAP = 1e-2
VARIANTS = [
    ("conditional", "X+A"),
    ("covariate", "X+A"),
    ("mixture", "X+A"),
    ("mixture", "A"),
]
POPULATION_VARIANTS = VARIANTS[1:]

cardinality = st.integers(min_value=2, max_value=4)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
betas = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


# ---------------------------------------------------------------------------
# Random SCMs.  Each returns a dict with
#   "full":   joint over (u, x, a, m, y)
#   "do":     analytic P(y | do(x)),      shape (n_x, n_y)
#   "do_a":   analytic P(y | do(x), a),   shape (n_x, n_a, n_y)
#   "nodes":  [(name, parents, cpt)] in topological order, for brute force.
# ---------------------------------------------------------------------------


def _cpt(rng, parent_shape, k):
    """Conditional table with the child on the last axis, rows ~ Dirichlet(1)."""
    return rng.dirichlet(np.ones(k), size=parent_shape)


def _sizes(draw):
    """Cardinalities of u, x, a, m, y; ``draw`` is ``data.draw`` or a composite's draw."""
    return {name: draw(cardinality) for name in "uxamy"}


def scm_classic(rng, n, mediator_free=False):
    """U->X, U->Y, X->M->Y; A independent of everything."""
    pu, pa = _cpt(rng, (), n["u"]), _cpt(rng, (), n["a"])
    px_u = _cpt(rng, (n["u"],), n["x"])
    pm_x = _cpt(rng, (n["x"],), n["m"])
    if mediator_free:  # P(m | x) constant in x
        pm_x = np.repeat(pm_x[:1], n["x"], axis=0)
    py_mu = _cpt(rng, (n["m"], n["u"]), n["y"])
    full = np.einsum("u,ux,a,xm,muy->uxamy", pu, px_u, pa, pm_x, py_mu)
    do = np.einsum("u,xm,muy->xy", pu, pm_x, py_mu)
    nodes = [
        ("u", (), pu),
        ("a", (), pa),
        ("x", ("u",), px_u),
        ("m", ("x",), pm_x),
        ("y", ("m", "u"), py_mu),
    ]
    return {"full": full, "do": do, "do_a": np.repeat(do[:, None], n["a"], 1), "nodes": nodes}


def scm_noisy_reading(rng, n):
    """U->X, U->Y, U->A (A a noisy reading of U), X->M->Y."""
    pu = _cpt(rng, (), n["u"])
    px_u, pa_u = _cpt(rng, (n["u"],), n["x"]), _cpt(rng, (n["u"],), n["a"])
    pm_x = _cpt(rng, (n["x"],), n["m"])
    py_mu = _cpt(rng, (n["m"], n["u"]), n["y"])
    full = np.einsum("u,ux,ua,xm,muy->uxamy", pu, px_u, pa_u, pm_x, py_mu)
    pua = pu[:, None] * pa_u
    pu_given_a = pua / pua.sum(0)
    do_a = np.einsum("ua,xm,muy->xay", pu_given_a, pm_x, py_mu)
    do = np.einsum("u,xm,muy->xy", pu, pm_x, py_mu)
    nodes = [
        ("u", (), pu),
        ("x", ("u",), px_u),
        ("a", ("u",), pa_u),
        ("m", ("x",), pm_x),
        ("y", ("m", "u"), py_mu),
    ]
    return {"full": full, "do": do, "do_a": do_a, "nodes": nodes}


def scm_blocking(rng, n):
    """U->X, U->A->Y, X->M->Y: A blocks the back door of M->Y."""
    pu = _cpt(rng, (), n["u"])
    px_u, pa_u = _cpt(rng, (n["u"],), n["x"]), _cpt(rng, (n["u"],), n["a"])
    pm_x = _cpt(rng, (n["x"],), n["m"])
    py_ma = _cpt(rng, (n["m"], n["a"]), n["y"])
    full = np.einsum("u,ux,ua,xm,may->uxamy", pu, px_u, pa_u, pm_x, py_ma)
    do_a = np.einsum("xm,may->xay", pm_x, py_ma)
    do = np.einsum("a,xay->xy", pu @ pa_u, do_a)
    nodes = [
        ("u", (), pu),
        ("x", ("u",), px_u),
        ("a", ("u",), pa_u),
        ("m", ("x",), pm_x),
        ("y", ("m", "a"), py_ma),
    ]
    return {"full": full, "do": do, "do_a": do_a, "nodes": nodes}


def scm_a_confounds(rng, n):
    """U->X, U->Y, X->M->Y and A->M, A->Y (A independent of U)."""
    pu, pa = _cpt(rng, (), n["u"]), _cpt(rng, (), n["a"])
    px_u = _cpt(rng, (n["u"],), n["x"])
    pm_xa = _cpt(rng, (n["x"], n["a"]), n["m"])
    py_mua = _cpt(rng, (n["m"], n["u"], n["a"]), n["y"])
    full = np.einsum("u,a,ux,xam,muay->uxamy", pu, pa, px_u, pm_xa, py_mua)
    do_a = np.einsum("u,xam,muay->xay", pu, pm_xa, py_mua)
    do = np.einsum("a,xay->xy", pa, do_a)
    nodes = [
        ("u", (), pu),
        ("a", (), pa),
        ("x", ("u",), px_u),
        ("m", ("x", "a"), pm_xa),
        ("y", ("m", "u", "a"), py_mua),
    ]
    return {"full": full, "do": do, "do_a": do_a, "nodes": nodes}


def scm_unconfounded(rng, n):
    """No hidden confounder: X exogenous, X->M->Y, A->Y with A independent of X."""
    px, pa = _cpt(rng, (), n["x"]), _cpt(rng, (), n["a"])
    pm_x = _cpt(rng, (n["x"],), n["m"])
    py_ma = _cpt(rng, (n["m"], n["a"]), n["y"])
    full = np.einsum("x,a,xm,may->xamy", px, pa, pm_x, py_ma)[None]
    do_a = np.einsum("xm,may->xay", pm_x, py_ma)
    do = np.einsum("a,xay->xy", pa, do_a)
    return {"full": full, "do": do, "do_a": do_a, "nodes": None}


def observed(scm):
    """Observed joint over (x, a, m, y): U marginalised out."""
    return scm["full"].sum(axis=0)


def naive(joint):
    """Observational P(y | x) from a (x, a, m, y) joint."""
    pxy = joint.sum(axis=(1, 2))
    return pxy / pxy.sum(axis=1, keepdims=True)


def confounding_gap(scm):
    return np.abs(scm["do"] - naive(observed(scm))).max()


def fd(joint, beta, variant, adjustment_set="X+A"):
    return front_door_adjustment(joint, beta=beta, variant=variant, adjustment_set=adjustment_set)


def average_over_a(conditional, joint):
    p_a = joint.sum(axis=(0, 2, 3))
    return np.einsum("a,xay->xy", p_a, conditional)


@st.composite
def confounded_scm(draw, family):
    n = _sizes(draw)
    rng = np.random.default_rng(draw(seeds))
    scm = family(rng, n)
    assume(confounding_gap(scm) > CONFOUNDING_GAP)  # confounding must be real
    return scm


@st.composite
def positive_joint(draw, auxiliary=True):
    """A general (not SCM-shaped) strictly positive joint over (x, a, m, y)."""
    shape = tuple(draw(cardinality) for _ in ("xamy" if auxiliary else "xmy"))
    rng = np.random.default_rng(draw(seeds))
    return rng.dirichlet(np.ones(int(np.prod(shape)))).reshape(shape)


def assert_close(actual, expected, atol=EXACT):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


# ---------------------------------------------------------------------------
# 1. Validity table.
# ---------------------------------------------------------------------------


@FAST
@given(scm=confounded_scm(scm_classic), beta=betas)
def test_classic_front_door(scm, beta):
    joint = observed(scm)
    assert_close(fd(joint, 1.0, "covariate"), scm["do"])
    assert_close(fd(joint, beta, "conditional"), scm["do_a"])
    assert_close(fd(joint, beta, "covariate"), scm["do"])
    assert_close(fd(joint, beta, "mixture", "X+A"), scm["do"])
    # S = {A} does not block M <- X <- U -> Y: bias linear in 1 - beta
    est0, est = fd(joint, 0.0, "mixture", "A"), fd(joint, beta, "mixture", "A")
    assert_close(fd(joint, 1.0, "mixture", "A"), scm["do"])
    assert_close(est - scm["do"], (1 - beta) * (est0 - scm["do"]))


@FAST
@given(scm=confounded_scm(scm_noisy_reading), beta=betas)
def test_noisy_reading_of_u(scm, beta):
    joint = observed(scm)
    assert_close(fd(joint, 1.0, "covariate"), scm["do"])
    assert_close(fd(joint, 0.0, "conditional"), scm["do_a"])
    conditional = fd(joint, beta, "conditional")
    assert_close(average_over_a(conditional, joint), fd(joint, beta, "covariate"))
    assert_close(fd(joint, beta, "covariate"), scm["do"])
    assert_close(fd(joint, beta, "mixture", "X+A"), scm["do"])
    est0, est = fd(joint, 0.0, "mixture", "A"), fd(joint, beta, "mixture", "A")
    assert_close(est - scm["do"], (1 - beta) * (est0 - scm["do"]))


@FAST
@given(scm=confounded_scm(scm_blocking), beta=betas)
def test_auxiliary_blocks_back_door(scm, beta):
    joint = observed(scm)
    assert_close(fd(joint, 0.0, "conditional"), scm["do_a"])
    assert_close(average_over_a(fd(joint, beta, "conditional"), joint), scm["do"])
    for variant, s in POPULATION_VARIANTS:
        assert_close(fd(joint, beta, variant, s), scm["do"])


@FAST
@given(scm=confounded_scm(scm_a_confounds), beta=betas)
def test_auxiliary_confounds_mediator_and_outcome(scm, beta):
    joint = observed(scm)
    assert_close(fd(joint, 0.0, "conditional"), scm["do_a"])
    assert_close(fd(joint, 0.0, "covariate"), scm["do"])
    # covariate: bias linear in beta (Pearl's term is the biased one here)
    pearl = fd(joint, 1.0, "covariate")
    assert_close(fd(joint, beta, "covariate") - scm["do"], beta * (pearl - scm["do"]))


def test_non_identified_variants_are_biased():
    """'estimate(0) != truth in general': the bias is never zero and typically material."""
    n = dict(u=2, x=2, a=3, m=3, y=2)
    biases = {"noisy, mixture S={A}": [], "A confounds, Pearl": [], "A confounds, mixture": []}
    for seed in range(20):
        noisy = scm_noisy_reading(np.random.default_rng(seed), n)
        bias = np.abs(fd(observed(noisy), 0.0, "mixture", "A") - noisy["do"]).max()
        biases["noisy, mixture S={A}"].append(bias)
        conf = scm_a_confounds(np.random.default_rng(seed), n)
        joint = observed(conf)
        biases["A confounds, Pearl"].append(np.abs(fd(joint, 1.0, "covariate") - conf["do"]).max())
        for s in ("X+A", "A"):
            bias = np.abs(fd(joint, 0.0, "mixture", s) - conf["do"]).max()
            biases["A confounds, mixture"].append(bias)
    for name, values in biases.items():
        assert min(values) > 1e-4, name
        assert np.median(values) > 5e-3, name


# ---------------------------------------------------------------------------
# 2.-3. Rows are distributions; affine in beta; conditional averages to covariate.
# ---------------------------------------------------------------------------


@FAST
@given(joint=positive_joint(), beta=betas)
def test_rows_are_distributions(joint, beta):
    for variant, s in VARIANTS:
        table = fd(joint, beta, variant, s)
        assert np.all(np.isfinite(table))
        assert np.all(table >= -1e-15)
        assert_close(table.sum(axis=-1), 1.0, atol=1e-12)


@FAST
@given(joint=positive_joint(), beta=betas)
def test_affine_in_beta(joint, beta):
    for variant, s in VARIANTS:
        at0, at1 = fd(joint, 0.0, variant, s), fd(joint, 1.0, variant, s)
        assert_close(fd(joint, beta, variant, s), beta * at1 + (1 - beta) * at0, atol=1e-12)
    assert_close(average_over_a(fd(joint, beta, "conditional"), joint), fd(joint, beta, "covariate"))


@FAST
@given(joint=positive_joint(auxiliary=False), beta=betas)
def test_without_auxiliary_every_variant_is_pearl(joint, beta):
    pearl = fd(joint, 1.0, "covariate")
    for variant, s in POPULATION_VARIANTS:
        assert_close(fd(joint, beta, variant, s), pearl, atol=1e-12)
    # beta = 1 is Pearl's formula in every variant with an auxiliary axis too
    with_a = np.stack([joint * 0.25, joint * 0.75], axis=1)
    for variant, s in VARIANTS:
        table = fd(with_a, 1.0, variant, s)
        assert_close(table if table.ndim == 2 else table[:, 0], pearl, atol=1e-12)


# ---------------------------------------------------------------------------
# 4. No confounding gives P(y | x); 7. P(m | x) constant gives identical rows.
# ---------------------------------------------------------------------------


@FAST
@given(data=st.data(), seed=seeds, beta=betas)
def test_no_confounding_gives_observational(data, seed, beta):
    scm = scm_unconfounded(np.random.default_rng(seed), _sizes(data.draw))
    joint = observed(scm)
    assert_close(scm["do"], naive(joint))
    for variant, s in POPULATION_VARIANTS:
        assert_close(fd(joint, beta, variant, s), naive(joint))
    assert_close(average_over_a(fd(joint, beta, "conditional"), joint), naive(joint))


@FAST
@given(data=st.data(), seed=seeds, beta=betas)
def test_mediator_independent_of_treatment_gives_identical_rows(data, seed, beta):
    scm = scm_classic(np.random.default_rng(seed), _sizes(data.draw), mediator_free=True)
    joint = observed(scm)
    for variant, s in VARIANTS:
        table = fd(joint, beta, variant, s)
        assert_close(table, np.broadcast_to(table[:1], table.shape), atol=1e-12)


# ---------------------------------------------------------------------------
# 5. Relabelling.
# ---------------------------------------------------------------------------


@FAST
@given(joint=positive_joint(), beta=betas, data=st.data())
def test_relabelling(joint, beta, data):
    n_x, n_a, n_m, n_y = joint.shape
    px = np.array(data.draw(st.permutations(range(n_x)), label="perm_x"))
    pa = np.array(data.draw(st.permutations(range(n_a)), label="perm_a"))
    pm = np.array(data.draw(st.permutations(range(n_m)), label="perm_m"))
    py = np.array(data.draw(st.permutations(range(n_y)), label="perm_y"))
    relabelled = joint[px][:, pa][:, :, pm][..., py]
    for variant, s in VARIANTS:
        original, permuted = fd(joint, beta, variant, s), fd(relabelled, beta, variant, s)
        if variant == "conditional":  # equivariant in x, a and y
            assert_close(permuted, original[px][:, pa][..., py], atol=1e-12)
        else:  # equivariant in x and y, invariant in a and m
            assert_close(permuted, original[px][:, py], atol=1e-12)


# ---------------------------------------------------------------------------
# 6. The estimator on sample rows equals the function on counts / N.
# ---------------------------------------------------------------------------


def _rows_from_counts(counts):
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    return np.unravel_index(cells, counts.shape)


@SLOWER
@given(
    counts=st.tuples(cardinality, cardinality, cardinality, cardinality).flatmap(
        lambda shape: hnp.arrays(np.int64, shape, elements=st.integers(1, 5))
    ),
    beta=betas,
    repeat=st.integers(1, 3),
    shuffle_seed=seeds,
    alpha=st.sampled_from([0.0, 0.5]),
)
def test_estimator_on_rows_equals_function_on_counts(counts, beta, repeat, shuffle_seed, alpha):
    x, a, m, y = _rows_from_counts(counts)
    labels = {
        "x": np.array([f"x{i}" for i in range(counts.shape[0])]),
        "a": np.array([f"a{i}" for i in range(counts.shape[1])]),
    }
    x, a = labels["x"][x], labels["a"][a]
    smoothed = (counts + alpha) / (counts.sum() + alpha * counts.size)
    for variant, s in VARIANTS:
        est = FrontDoorAdjustment(beta=beta, variant=variant, adjustment_set=s, alpha=alpha)
        est.fit(table(x, m, a), y)
        expected = fd(smoothed, beta, variant, s)
        if variant == "conditional":
            assert_close(est.conditional_proba_, expected, atol=1e-12)
        else:
            assert_close(est.interventional_proba_, expected, atol=1e-12)
        np.testing.assert_array_equal(est.treatment_values_, labels["x"])
    # shuffling and repeating the rows change nothing
    order = np.random.default_rng(shuffle_seed).permutation(len(x) * repeat) % len(x)
    est = FrontDoorAdjustment(beta=beta, alpha=alpha).fit(table(x, m, a), y)
    shuffled = FrontDoorAdjustment(beta=beta, alpha=alpha).fit(table(x[order], m[order], a[order]), y[order])
    if alpha == 0:
        assert_close(shuffled.interventional_proba_, est.interventional_proba_, atol=1e-12)
        assert_close(shuffled.conditional_proba_, est.conditional_proba_, atol=1e-12)
    np.testing.assert_array_equal(shuffled.counts_, repeat * est.counts_)


def _sort_based_counts(columns):
    """Reference: the previous counting (np.unique per column, ravel_multi_index, bincount)."""
    codes, labels = [], []
    for values in columns:
        try:
            lab, inverse = np.unique(values, return_inverse=True)
        except TypeError:  # unorderable labels: order of first appearance
            inverse, lab = pd.factorize(values, sort=False)
        codes.append(inverse.reshape(-1))
        labels.append(np.asarray(lab))
    shape = tuple(len(lab) for lab in labels)
    counts = np.bincount(np.ravel_multi_index(tuple(codes), shape), minlength=int(np.prod(shape)))
    return counts.reshape(shape), labels


def _as_kind(codes, kind):
    """Discrete values of one dtype family from integer codes 0..k-1."""
    if kind == "offset int":
        return codes.astype(np.int16) * 7 - 300
    if kind == "wide int":  # value range too wide for offsets: hashed
        return codes.astype(np.int64) * (2**61) - 2**62
    if kind == "uint64":
        return np.uint64(2**64 - 1) - codes.astype(np.uint64)
    if kind == "bool":
        return codes % 2 == 1
    if kind == "float":
        return codes * 0.5 - 1.0
    if kind == "str":
        return np.array(["b", "a", "ab", "0", "Z"])[codes]
    if kind == "mixed object":
        return np.array([3, "a", 1.5, "b", -1], dtype=object)[codes]
    return codes


@FAST
@given(
    kinds=st.lists(
        st.sampled_from(["int", "offset int", "wide int", "uint64", "bool", "float", "str", "mixed object"]),
        min_size=4,
        max_size=4,
    ),
    sizes=st.lists(st.integers(1, 5), min_size=4, max_size=4),
    n=st.integers(2, 80),
    seed=seeds,
)
def test_counting_equals_the_sort_based_reference(kinds, sizes, n, seed):
    rng = np.random.default_rng(seed)
    if kinds[3] == "float":  # the outcome holds class labels: discrete, not continuous floats
        kinds = [*kinds[:3], "int"]
    columns = [_as_kind(rng.integers(0, k, n), kind) for kind, k in zip(kinds, sizes)]
    counts, labels = _sort_based_counts(columns)  # axes x, a, m, y
    assume(len(labels[0]) >= 2)
    est = FrontDoorAdjustment(alpha=1.0, beta=0.5).fit(table(columns[0], columns[2], columns[1]), columns[3])
    np.testing.assert_array_equal(est.counts_, counts)
    fitted = [est.treatment_values_, est.auxiliary_values_, est.mediator_values_, est.outcome_values_]
    for got, expected in zip(fitted, labels):
        assert got.tolist() == expected.tolist()
    smoothed = (counts + 1.0) / (counts.sum() + counts.size)
    assert_close(est.interventional_proba_, fd(smoothed, 0.5, "covariate"), atol=1e-12)
    # an object array of the same columns counts the same table
    objects = np.empty((n, 3), dtype=object)
    for j, column in enumerate([columns[0], columns[2], columns[1]]):
        objects[:, j] = column
    est_objects = FrontDoorAdjustment(alpha=1.0, beta=0.5).fit(objects, np.asarray(columns[3], dtype=object))
    np.testing.assert_array_equal(est_objects.counts_, counts)


@FAST
@given(joint=positive_joint(), beta=betas, later=betas)
def test_beta_changed_after_fit_is_honoured(joint, beta, later):
    counts = np.rint(joint * 2000).astype(int) + 1
    x, a, m, y = _rows_from_counts(counts)
    est = FrontDoorAdjustment(beta=beta).fit(table(x, m, a), y)
    est.set_params(beta=later)
    smoothed = counts / counts.sum()
    assert_close(est.interventional_proba_, fd(smoothed, later, "covariate"), atol=1e-12)
    assert_close(est.conditional_proba_, fd(smoothed, later, "conditional"), atol=1e-12)


# ---------------------------------------------------------------------------
# 8. Independent brute-force enumeration of the full SCM under do(x).
# ---------------------------------------------------------------------------


def brute_force(nodes, do_x=None):
    """Enumerate every assignment of the SCM's variables.

    Returns a dict mapping assignments (name -> value) to probabilities of the
    observational model, or of the model mutilated by ``do(x = do_x)``.
    """
    names = [name for name, _, _ in nodes]
    sizes = {name: cpt.shape[-1] for name, _, cpt in nodes}
    out = {}
    for values in itertools.product(*(range(sizes[name]) for name in names)):
        assignment = dict(zip(names, values))
        if do_x is not None and assignment["x"] != do_x:
            continue
        probability = 1.0
        for name, parents, cpt in nodes:
            if name == "x" and do_x is not None:
                continue  # the intervention cuts X from its parents
            probability *= cpt[tuple(assignment[p] for p in parents) + (assignment[name],)]
        out[values] = (assignment, probability)
    return out


def brute_force_tables(nodes):
    sizes = {name: cpt.shape[-1] for name, _, cpt in nodes}
    joint = np.zeros((sizes["x"], sizes["a"], sizes["m"], sizes["y"]))
    for assignment, probability in brute_force(nodes).values():
        joint[assignment["x"], assignment["a"], assignment["m"], assignment["y"]] += probability
    do = np.zeros((sizes["x"], sizes["y"]))
    do_ay = np.zeros((sizes["x"], sizes["a"], sizes["y"]))
    for x in range(sizes["x"]):
        for assignment, probability in brute_force(nodes, do_x=x).values():
            do[x, assignment["y"]] += probability
            do_ay[x, assignment["a"], assignment["y"]] += probability
    do_a = do_ay / do_ay.sum(axis=-1, keepdims=True)
    return joint, do, do_a


@SLOWER
@given(
    data=st.data(),
    seed=seeds,
    family=st.sampled_from([scm_classic, scm_noisy_reading, scm_blocking, scm_a_confounds]),
)
def test_brute_force_cross_check(data, seed, family):
    scm = family(np.random.default_rng(seed), _sizes(data.draw))
    joint, do, do_a = brute_force_tables(scm["nodes"])
    assert_close(joint, observed(scm), atol=1e-12)
    assert_close(do, scm["do"])
    assert_close(do_a, scm["do_a"])
    # the estimator, fed the brute-force joint, against the brute-force truth
    assert_close(fd(joint, 0.0, "conditional"), do_a)
    assert_close(fd(joint, 0.0, "covariate"), do)
    if family is not scm_a_confounds:
        assert_close(fd(joint, 1.0, "covariate"), do)
