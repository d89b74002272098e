"""Fuzzed bad input for every public estimator on the shared base (issue 15).

Every estimator the package knows is discovered (:func:`skcausalmm.base.all_estimators`,
as in ``tests/test_common.py``: the public classes, then the registered plug-ins) and fed generated malformed and
edge-case inputs: lengths, keys, ndim, shapes at predict, NaN/inf, partly-NaN
and all-NaN blocks (missing modalities), empty input, one class and other label
problems, dtypes, containers, extreme scales and bad values of every
hyperparameter. Each case must end in one of two outcomes:

* a ``ValueError`` or ``TypeError`` whose message names the modality (or the
  parameter) and matches the problem, or
* a correct result: ``fit`` succeeds and ``predict_proba`` is finite, in
  [0, 1], with rows summing to 1 (``transform`` finite for a transformer);
  where the input is the reference data in another form, the probabilities
  equal those of the reference fit.

Any other exception (a bare torch/numpy error) fails the test. The cases are
counted per estimator and outcome; the last test checks the counts. ``./dev test``
distributes whole files over the pytest-xdist workers (``--dist loadfile``), so this
module runs in one worker, in file order, and the count check runs under xdist too.
"""

import json
import re
import warnings
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import EpochTimer
from skorch.helper import SliceDict

import skcausalmm
from skcausalmm import ModalityDict
from skcausalmm.base import MultimodalClassifierMixin, all_estimators

ESTIMATORS = all_estimators()
IDS = [cls.__name__ for cls in ESTIMATORS]

#: Tiny settings applied to every estimator that has the parameter.
SMALL = dict(
    max_epochs=1, hidden_size=4, random_state=0, device="cpu", batch_size=8, mediator_size=4, context_size=4,
    auxiliary_size=4, projection_size=4, dictionary_size=8, latent_dim=4, imputer_layers=(4,), warmup_epochs=1,
)

N = 12
MODS = ("tab", "img")

#: Case counts per estimator and outcome (checked by the last test).
COUNTS = defaultdict(Counter)

FUZZ = dict(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)


#: The fuzz tests that ran in this process, as (test name, estimator name).
RAN = set()
FUZZ_TESTS = ("test_fit_input_faults", "test_fit_containers", "test_label_faults", "test_predict_input_faults",
              "test_predict_table_faults", "test_bad_hyperparameters")


@pytest.fixture(autouse=True)
def _record_run(request):
    yield
    cls = getattr(request.node, "callspec", None) and request.node.callspec.params.get("cls")
    if cls is not None:
        RAN.add((request.node.originalname, cls.__name__))


def make(cls, **params):
    known = cls().get_params()
    return cls(**{**{k: v for k, v in SMALL.items() if k in known}, **params})


def base_data():
    """Reference data: a 3-feature table and a 1x4x4 image, 12 samples, two balanced classes."""
    rng = np.random.default_rng(0)
    y = np.arange(N) % 2
    X = {
        "tab": rng.normal(size=(N, 3)) + y[:, None],
        "img": rng.normal(size=(N, 1, 4, 4)) + y[:, None, None, None],
    }
    return X, y


def is_classifier(cls):
    return issubclass(cls, MultimodalClassifierMixin)


def output(est, X):
    """predict_proba (classifier) or transform (transformer), checked for a correct result."""
    if isinstance(est, MultimodalClassifierMixin):
        proba = est.predict_proba(X)
        assert proba.ndim == 2 and proba.shape[1] == len(est.classes_), proba.shape
        assert np.isfinite(proba).all(), "predict_proba is not finite"
        assert (proba >= 0).all() and (proba <= 1 + 1e-6).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert set(est.predict(X).tolist()) <= set(est.classes_.tolist())
        return proba
    features = est.transform(X)
    # a transformer's output is NaN exactly in the rows where the modality it encodes is missing
    encoded = np.asarray(X[est.modality_names_[0]], dtype=np.float64) if isinstance(X, dict) else None
    missing = np.isnan(encoded.reshape(len(encoded), -1)).all(axis=1) if encoded is not None else False
    assert np.isfinite(features[~missing]).all(), "transform is not finite"
    assert np.isnan(features[missing]).all(), "transform of a missing modality is not NaN"
    return features


_FITTED = {}


def fitted(cls, kind="dict"):
    """A fitted estimator on the reference data (cached) and its reference output."""
    key = (cls, kind)
    if key not in _FITTED:
        X, y = base_data()
        params = {}
        if kind == "table":
            X, params = np.hstack([X["tab"], X["img"].reshape(N, -1)]), {"modalities": TABLE_SEL}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make(cls, **params).fit(X, y)
            _FITTED[key] = (est, output(est, X))
    return _FITTED[key]


_REFS = {}


def reference_fit(cls, X, y, params=()):
    """Output of a fit on plain float64 dict data (cached by content)."""
    key = (cls, tuple(sorted(params)), tuple((k, v.dtype.str, v.shape, v.tobytes()) for k, v in X.items()),
           np.asarray(y).tobytes())
    if key not in _REFS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make(cls, **dict(params)).fit(X, y)
            _REFS[key] = output(est, X)
    return _REFS[key]


#: Known unclear errors per estimator (a regular expression for the bare message): accepted, but counted as
#: "known_unclear" so that they show in the counts. Remove an entry when the estimator is fixed.
KNOWN_UNCLEAR = {}

#: Valid-looking inputs an estimator may refuse with this clear message (ContrastiveICA cannot unmix a degenerate
#: representation: a constant modality, two samples, a collapsed network).
DEGENERATE_REFUSAL = {"ContrastiveICA": r"ContrastiveICA: the learned representation of modality '.+' is degenerate"}


def check(cls, run, expect="either", names=(), problem=None, ref=None):
    """Run one case and assert a clear error or a correct result; count the outcome.

    ``run()`` fits and returns ``(estimator, X_to_predict)``. ``names`` are
    regular expressions, one of which the error message must match (the
    modality or parameter); ``problem`` a regular expression for the problem.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est, X_pred = run()
            out = output(est, X_pred)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        clear = expect != "ok" and any(re.search(n, msg) for n in names) and (
            problem is None or re.search(problem, msg, re.IGNORECASE))
        known = KNOWN_UNCLEAR.get(cls.__name__)
        if known and not clear and re.search(known, msg):
            COUNTS[cls.__name__]["known_unclear"] += 1
            return None
        refusal = DEGENERATE_REFUSAL.get(cls.__name__)
        if refusal and re.search(refusal, msg):
            COUNTS[cls.__name__]["clear_error"] += 1
            return None
        assert expect != "ok", f"valid input rejected: {type(exc).__name__}: {msg}"
        assert any(re.search(n, msg) for n in names), f"error names none of {names}: {type(exc).__name__}: {msg}"
        if problem is not None:
            assert re.search(problem, msg, re.IGNORECASE), f"error does not say {problem!r}: {msg}"
        COUNTS[cls.__name__]["clear_error"] += 1
        return None
    assert expect != "error", f"bad input accepted (expected an error naming {names}, {problem})"
    if ref is not None:
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    COUNTS[cls.__name__]["correct_result"] += 1
    return out


def q(name):
    """Regex for a modality as error messages write it ('tab' or tab=12)."""
    return rf"'{name}'|\b{name}="


# =============================================================== fit-time X faults
def _rows(draw, n=N, min_size=1, max_size=None):
    return sorted(draw(st.sets(st.integers(0, n - 1), min_size=min_size, max_size=max_size or n)))


def fault_length(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    d = draw(st.sampled_from([-3, -2, -1, 1, 2, 5]))
    X[m] = X[m][: N + d] if d < 0 else np.concatenate([X[m], X[m][:d]])
    return dict(expect="error", names=[q(m)], problem="same number of samples")


def fault_y_length(draw, cls, X, y):
    d = draw(st.sampled_from([-5, -1, 1, 3]))
    y = y[: N + d] if d < 0 else np.concatenate([y, y[:d]])
    if not is_classifier(cls):  # a transformer ignores y
        return dict(y=y, expect="either", names=[r"\by\b"], problem="samples")
    return dict(y=y, expect="error", names=[r"\by\b"], problem="samples")


def fault_ndim_low(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    X[m] = draw(st.sampled_from([X[m].reshape(N, -1)[:, 0], np.float64(1.0), list(X[m].reshape(N, -1)[:, 0])]))
    return dict(expect="error", names=[q(m)], problem=r"\d-D|sample axis")


def fault_ndim_high(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    extra = draw(st.integers(1, 3))
    X[m] = X[m].reshape((N,) + (1,) * (4 - X[m].ndim + extra) + X[m].shape[1:])
    return dict(expect="error", names=[q(m)], problem="dimensions")


def fault_empty(draw, cls, X, y):
    kind = draw(st.sampled_from(["samples", "features"]))
    if kind == "samples":
        X = {k: v[:0] for k, v in X.items()}
        return dict(X=X, y=y[:0], expect="error", names=[q(m) for m in MODS], problem="empty|0 samples")
    m = draw(st.sampled_from(MODS))
    X[m] = np.zeros((N, 0)) if m == "tab" else np.zeros((N, 1, draw(st.sampled_from([0, 4])), 0))
    return dict(expect="error", names=[q(m)], problem="empty")


def fault_inf(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    flat = X[m].reshape(N, -1)
    for r in _rows(draw, max_size=3):
        flat[r, draw(st.integers(0, flat.shape[1] - 1))] = draw(st.sampled_from([np.inf, -np.inf, 1e39, -3.5e38]))
    return dict(expect="error", names=[q(m)], problem="infinity|too large")


def fault_partial_nan(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    flat = X[m].reshape(N, -1)
    r = draw(st.integers(0, N - 1))
    cols = _rows(draw, n=flat.shape[1], max_size=flat.shape[1] - 1)
    flat[r, cols] = np.nan
    return dict(expect="error", names=[q(m)], problem="part")


def fault_missing(draw, cls, X, y):
    """All-NaN blocks: missing modalities (supported by some estimators, a clear error elsewhere)."""
    missing = {m: _rows(draw, min_size=0) for m in MODS}
    missing = {m: r for m, r in missing.items() if r}
    if not missing:
        missing = {"tab": [0]}
    for m, rows in missing.items():
        X[m][rows] = np.nan
    both = set(missing.get("tab", [])) & set(missing.get("img", []))
    if not cls._supports_missing:
        return dict(expect="error", names=[q(m) for m in missing], problem="NaN|missing")
    if both:
        return dict(expect="error", names=[r"[Ee]very modality"], problem=r"missing.*rows")
    never = [m for m, rows in missing.items() if len(rows) == N]
    if never:
        return dict(expect="error", names=[q(m) for m in never], problem="every training row")
    return dict(expect="ok")


def fault_scale(draw, cls, X, y):
    """Extreme scales: one value or a whole modality (finite in float32: a correct result or a clear error)."""
    m = draw(st.sampled_from(MODS))
    k = draw(st.integers(-45, 38))
    if draw(st.booleans()):
        X[m] = X[m] * 10.0**k
    else:
        X[m].reshape(N, -1)[draw(st.integers(0, N - 1)), 0] = draw(st.sampled_from([1, -1])) * 10.0**k
    params = {"standardize": draw(st.booleans())}
    if np.abs(X[m]).max() > np.finfo(np.float32).max:
        return dict(params=params, expect="error", names=[q(m)], problem="too large|infinity")
    return dict(params=params, expect="either", names=[q(m), "diverged"], problem="diverged|scale|standardi|degenerate")


def fault_constant(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    X[m] = np.full_like(X[m], draw(st.sampled_from([0.0, 1.0, -7.5, 1e6])))
    if cls.__name__ == "ContrastiveICA":  # nothing to align or unmix in a constant modality: a clear error
        return dict(expect="either", names=[q(m)], problem="degenerate")
    return dict(expect="ok")


def fault_subset(draw, cls, X, y):
    """Few samples (both classes present) and duplicated rows."""
    rows = _rows(draw, min_size=2, max_size=6)
    if len(set(y[rows])) < 2:
        rows = sorted(set(rows) | {0, 1})
    if draw(st.booleans()):
        rows = rows + rows
    return dict(X={k: v[rows] for k, v in X.items()}, y=y[rows], expect="ok")


NUMERIC_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "bool", "float16", "float32", "object"]


def fault_dtype(draw, cls, X, y):
    m = draw(st.sampled_from(MODS))
    kind = draw(st.sampled_from(NUMERIC_DTYPES + ["str", "numstr", "bytes", "complex64", "complex128",
                                                 "datetime64[s]", "timedelta64[s]", "object-none", "object-mixed"]))
    if kind in NUMERIC_DTYPES:
        values = np.round(X[m] * 3) if kind != "bool" else X[m] > 0
        if kind == "uint8":
            values = np.abs(values)
        X[m] = values.astype(kind)
        ref = reference_fit(cls, {k: np.asarray(v, dtype=np.float64) for k, v in X.items()}, y)
        return dict(expect="ok", ref=ref)
    if kind == "str":
        X[m] = np.full(X[m].shape, "a")
    elif kind == "numstr":
        X[m] = X[m].astype(str)
    elif kind == "bytes":
        X[m] = X[m].astype("S8")
    elif kind.startswith("complex"):
        X[m] = X[m].astype(kind)
    elif kind.startswith(("datetime", "timedelta")):
        X[m] = np.zeros(X[m].shape, dtype=kind)
    elif kind == "object-none":
        X[m] = X[m].astype(object)
        X[m].reshape(N, -1)[draw(st.integers(0, N - 1)), 0] = None
        return dict(expect="error", names=[q(m)], problem="NaN")
    else:
        X[m] = X[m].astype(object)
        X[m].reshape(N, -1)[draw(st.integers(0, N - 1)), 0] = "x"
    return dict(expect="error", names=[q(m)], problem="numeric|complex|real")


def fault_keys(draw, cls, X, y):
    kind = draw(st.sampled_from(["int-key", "dunder", "empty", "tuple-key", "modalities", "image_shapes"]))
    if kind == "int-key":
        X[0] = X.pop("tab")
        return dict(expect="error", names=["names must be strings"], problem="0")
    if kind == "tuple-key":
        X[("a", 1)] = X.pop("tab")
        return dict(expect="error", names=["names must be strings"], problem="a")
    if kind == "dunder":
        X["__tab"] = X.pop("tab")
        return dict(expect="error", names=["'__tab'"], problem="reserved")
    if kind == "empty":
        return dict(X={}, expect="error", names=[r"\bX\b"], problem="empty")
    if kind == "modalities":
        return dict(params={"modalities": {"tab": [0, 1]}}, expect="error", names=["modalities"], problem="dict")
    return dict(params={"image_shapes": {"img": (1, 4, 4)}}, expect="error", names=["image_shapes"], problem="dict")


FIT_FAULTS = {
    f.__name__[6:]: f
    for f in [fault_length, fault_y_length, fault_ndim_low, fault_ndim_high, fault_empty, fault_inf,
              fault_partial_nan, fault_missing, fault_scale, fault_constant, fault_subset, fault_dtype, fault_keys]
}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@settings(max_examples=220, **FUZZ)
@given(data=st.data())
def test_fit_input_faults(cls, data):
    X, y = base_data()
    kind = data.draw(st.sampled_from(sorted(FIT_FAULTS)), label="fault")
    case = FIT_FAULTS[kind](data.draw, cls, X, y)
    X, y = case.pop("X", X), case.pop("y", y)
    params = case.pop("params", {})
    check(cls, lambda: (make(cls, **params).fit(X, y), X), **case)


# =============================================================== containers
def _table(X):
    return np.hstack([np.asarray(X["tab"]), np.asarray(X["img"]).reshape(N, -1)])


TABLE_SEL = {"tab": slice(0, 3), "img": (slice(3, 19), (1, 4, 4))}


def container_cases(X):
    """(name, X in that container, fit params, expectation) for the reference data."""
    cols = [f"c{i}" for i in range(19)]
    df = pd.DataFrame(_table(X), columns=cols)
    ro = {k: v.copy() for k, v in X.items()}
    for v in ro.values():
        v.setflags(write=False)
    big = {k: np.repeat(v, 2, axis=-1) for k, v in X.items()}
    ok = [
        ("ModalityDict", ModalityDict(X), {}),
        ("SliceDict", SliceDict(**X), {}),
        ("dict-of-DataFrame", {"tab": pd.DataFrame(X["tab"]), "img": X["img"]}, {}),
        ("ModalityDict-of-DataFrame", ModalityDict({"tab": pd.DataFrame(X["tab"]), "img": X["img"]}), {}),
        ("torch-float32", {k: torch.as_tensor(v, dtype=torch.float32) for k, v in X.items()}, {}),
        ("torch-float64", {k: torch.as_tensor(v) for k, v in X.items()}, {}),
        ("nested-lists", {k: v.tolist() for k, v in X.items()}, {}),
        ("tuples", {"tab": tuple(tuple(r) for r in X["tab"]), "img": X["img"]}, {}),
        ("read-only", ro, {}),
        ("fortran", {k: np.asfortranarray(v) for k, v in X.items()}, {}),
        ("strided", {k: v[..., ::2] for k, v in big.items()}, {}),
        ("table-slices", _table(X), {"modalities": TABLE_SEL}),
        ("table-indices", _table(X), {"modalities": {"tab": [0, 1, 2], "img": list(range(3, 19))},
                                      "image_shapes": {"img": (1, 4, 4)}}),
        ("table-mask", _table(X), {"modalities": {"tab": np.arange(19) < 3, "img": (np.arange(19) >= 3, (1, 4, 4))}}),
        ("DataFrame-names", df, {"modalities": {"tab": cols[:3], "img": (cols[3:], (1, 4, 4))}}),
        ("DataFrame-slices", df, {"modalities": TABLE_SEL}),
    ]
    bad = [
        ("list-of-arrays", [X["tab"], X["img"]], {}, [r"\bX\b"], "dict"),
        ("tuple-of-arrays", (X["tab"], X["img"]), {}, [r"\bX\b"], "dict"),
        ("sparse-modality", {"tab": sp.csr_matrix(X["tab"]), "img": X["img"]}, {}, [q("tab")], "sparse"),
        ("sparse-table", sp.csr_matrix(_table(X)), {}, [r"\bX\b"], "sparse"),
        ("None", None, {}, [r"\bX\b"], "dict"),
        ("string", "tab", {}, [r"\bX\b"], "dict"),
        ("ragged", {"tab": [[1.0, 2.0], [1.0]] * 6, "img": X["img"]}, {}, [q("tab")], "convert|shape"),
        ("selector-out-of-range", _table(X), {"modalities": {"tab": [0, 40], "img": TABLE_SEL["img"]}},
         [q("tab")], "out of range"),
        ("selector-bad-mask", _table(X), {"modalities": {"tab": [True, False], "img": TABLE_SEL["img"]}},
         [q("tab")], "length"),
        ("selector-empty", _table(X), {"modalities": {"tab": [], "img": TABLE_SEL["img"]}}, [q("tab")], "no column"),
        ("selector-names-on-array", _table(X), {"modalities": {"tab": ["a"], "img": TABLE_SEL["img"]}},
         [q("tab")], "DataFrame|names"),
        ("selector-unknown-names", df, {"modalities": {"tab": ["zz"], "img": TABLE_SEL["img"]}}, [q("tab")], "unknown"),
        ("selector-float", _table(X), {"modalities": {"tab": [0.5], "img": TABLE_SEL["img"]}}, [q("tab")], "selector"),
        ("image-shape-mismatch", _table(X), {"modalities": {"tab": slice(0, 3), "img": (slice(3, 19), (2, 4, 4))}},
         [q("img")], "reshape"),
        ("image-shapes-unknown", _table(X), {"modalities": TABLE_SEL, "image_shapes": {"zz": (1, 4, 4)}},
         [q("zz")], "not one of the modalities"),
        ("modalities-not-dict", _table(X), {"modalities": [slice(0, 3)]}, [r"modalities"], "dict"),
    ]
    return ok, bad


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@settings(max_examples=40, **FUZZ)
@given(data=st.data())
def test_fit_containers(cls, data):
    X, y = base_data()
    ok, bad = container_cases(X)
    ref = reference_fit(cls, X, y)
    i = data.draw(st.integers(0, len(ok) + len(bad) - 1), label="case")
    if i < len(ok):
        name, Xc, params = ok[i]
        check(cls, lambda: (make(cls, **params).fit(Xc, y), Xc), expect="ok", ref=ref)
    else:
        name, Xc, params, names, problem = bad[i - len(ok)]
        check(cls, lambda: (make(cls, **params).fit(Xc, y), Xc), expect="error", names=names, problem=problem)


# =============================================================== labels
def y_cases(y):
    labels = np.array(["neg", "pos"])
    return [
        ("strings", labels[y], "ok", True),
        ("bool", y.astype(bool), "ok", True),
        ("float-integral", y.astype(float), "ok", True),
        ("list", y.tolist(), "ok", True),
        ("Series", pd.Series(labels[y]), "ok", True),
        ("Categorical", pd.Categorical(labels[y]), "ok", True),
        ("column", y[:, None], "ok", True),
        ("shifted", y * 7 - 3, "ok", True),
        ("three-classes-singleton", np.where(np.arange(N) == 0, 2, y), "ok", False),
        ("one-per-class", np.arange(N), "ok", False),
        ("None", None, "error", r"\by\b|target"),
        ("one-class", np.zeros(N, dtype=int), "error", "one class"),
        ("nan", np.where(np.arange(N) == 3, np.nan, y), "error", "NaN"),
        ("inf", np.where(np.arange(N) == 3, np.inf, y), "error", "infinity"),
        ("continuous", np.linspace(0, 1, N), "error", "continuous"),
        ("two-columns", np.c_[y, y], "error", "1d|shape"),
        ("complex", y.astype(complex), "error", "complex"),
        ("mixed-types", np.array([0, "a"] * (N // 2), dtype=object), "error", "type"),
        ("object-None", np.array([None, 1] * (N // 2), dtype=object), "error", "type|None"),
        ("ragged", [[0], [1, 2]] * (N // 2), "error", "shape|1d|sequence"),
        ("3-D", y.reshape(N, 1, 1), "error", "1d|shape"),
    ]


@pytest.mark.parametrize("cls", [c for c in ESTIMATORS if is_classifier(c)], ids=[c.__name__ for c in ESTIMATORS
                                                                                  if is_classifier(c)])
@settings(max_examples=60, **FUZZ)
@given(data=st.data())
def test_label_faults(cls, data):
    X, y = base_data()
    cases = y_cases(y)
    name, yc, expect, extra = data.draw(st.sampled_from(cases), label="labels")
    if data.draw(st.booleans(), label="ModalityDict"):
        X = ModalityDict(X)
    if expect == "ok":
        ref = fitted(cls)[1] if extra is True else None
        check(cls, lambda: (make(cls).fit(X, yc), X), expect="ok", ref=ref)
    else:
        check(cls, lambda: (make(cls).fit(X, yc), X), expect="error", names=[r"\by\b", "label", "target"],
              problem=extra)


# =============================================================== predict-time faults
def predict_fault(draw, cls, X, ref):
    kind = draw(st.sampled_from(["missing-key", "extra-key", "shape", "length", "nan-rows", "all-missing",
                                 "partial-nan", "inf", "strings", "subset", "empty", "container", "table",
                                 "dtype", "ndim"]))
    m = draw(st.sampled_from(MODS))
    if kind == "missing-key":
        del X[m]
        # a transformer may document that transform needs only the modalities it encodes
        return X, dict(expect="error" if is_classifier(cls) else "either", names=[q(m)], problem="missing modalities")
    if kind == "extra-key":
        X["zz"] = X["tab"].copy()
        return X, dict(expect="error", names=[q("zz")], problem="unexpected")
    if kind == "shape":
        X[m] = draw(st.sampled_from([np.zeros((N, 4)), np.zeros((N, 2))] if m == "tab" else
                                    [np.zeros((N, 1, 5, 4)), np.zeros((N, 2, 4, 4)), np.zeros((N, 4, 4))]))
        return X, dict(expect="error", names=[q(m)], problem="per-sample shape|fitted")
    if kind == "ndim":
        X[m] = X[m].reshape(N, 1, 1, -1) if m == "tab" else X[m].reshape(N, -1)
        return X, dict(expect="error", names=[q(m)], problem="per-sample shape|fitted")
    if kind == "length":
        X[m] = X[m][: draw(st.integers(1, N - 1))]
        return X, dict(expect="error", names=[q(m)], problem="same number of samples")
    if kind == "nan-rows":
        rows = _rows(draw, max_size=N)
        X[m][rows] = np.nan
        if cls._supports_missing:
            return X, dict(expect="ok")
        return X, dict(expect="error", names=[q(m)], problem="NaN|missing")
    if kind == "all-missing":
        rows = _rows(draw, max_size=4)
        for k in MODS:
            X[k][rows] = np.nan
        if cls._supports_missing:
            return X, dict(expect="error", names=[r"[Ee]very modality"], problem="missing")
        return X, dict(expect="error", names=[q(k) for k in MODS], problem="NaN|missing")
    if kind == "partial-nan":
        X[m].reshape(N, -1)[draw(st.integers(0, N - 1)), 0] = np.nan
        return X, dict(expect="error", names=[q(m)], problem="part")
    if kind == "inf":
        X[m].reshape(N, -1)[draw(st.integers(0, N - 1)), -1] = draw(st.sampled_from([np.inf, -np.inf, 1e40]))
        return X, dict(expect="error", names=[q(m)], problem="infinity|too large")
    if kind == "strings":
        X[m] = X[m].astype(str)
        return X, dict(expect="error", names=[q(m)], problem="numeric")
    if kind == "subset":
        rows = draw(st.lists(st.integers(0, N - 1), min_size=1, max_size=2 * N))
        return {k: v[rows] for k, v in X.items()}, dict(expect="ok", ref=ref[rows])
    if kind == "empty":
        return {k: v[:0] for k, v in X.items()}, dict(expect="error", names=[q(k) for k in MODS], problem="empty")
    if kind == "table":
        return _table(X), dict(expect="error", names=[q(k) for k in MODS] + [q("X")], problem="modalities")
    if kind == "dtype":
        X[m] = X[m].astype(draw(st.sampled_from(["float32", "float64", "object"])))
        return X, dict(expect="ok", ref=ref)
    ok, _ = container_cases(X)
    name, Xc, params = draw(st.sampled_from([c for c in ok if not c[2]]))
    return Xc, dict(expect="ok", ref=ref)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@settings(max_examples=150, **FUZZ)
@given(data=st.data())
def test_predict_input_faults(cls, data):
    est, ref = fitted(cls)
    X, _ = base_data()
    Xp, case = predict_fault(data.draw, cls, X, ref)
    check(cls, lambda: (est, Xp), **case)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@settings(max_examples=30, **FUZZ)
@given(data=st.data())
def test_predict_table_faults(cls, data):
    est, ref = fitted(cls, "table")
    X, _ = base_data()
    table = _table(X)
    kind = data.draw(st.sampled_from(["ok", "subset", "features", "dict", "frame", "1d", "nan", "inf"]))
    if kind == "ok":
        check(cls, lambda: (est, table), expect="ok", ref=ref)
    elif kind == "subset":
        rows = data.draw(st.lists(st.integers(0, N - 1), min_size=1, max_size=N))
        check(cls, lambda: (est, table[rows]), expect="ok", ref=ref[rows])
    elif kind == "features":
        k = data.draw(st.sampled_from([1, 18, 20, 40]))
        check(cls, lambda: (est, np.zeros((N, k))), expect="error", names=[r"\bX\b", "features"], problem="features")
    elif kind == "dict":
        check(cls, lambda: (est, X), expect="error", names=[r"modalities"], problem="dict")
    elif kind == "frame":
        check(cls, lambda: (est, pd.DataFrame(table, columns=[f"c{i}" for i in range(19)])), expect="either",
              names=["feature names"], problem="feature")
    elif kind == "1d":
        check(cls, lambda: (est, table[0]), expect="error", names=[r"\bX\b", "2D", "1D"], problem="2D|reshape")
    else:
        table = table.copy()
        table[data.draw(st.integers(0, N - 1)), data.draw(st.integers(0, 18))] = np.nan if kind == "nan" else np.inf
        check(cls, lambda: (est, table), expect="error", names=[q("tab"), q("img")], problem="NaN|infinity")


def test_predict_before_fit():
    X, _ = base_data()
    for cls in ESTIMATORS:
        method = make(cls).predict_proba if is_classifier(cls) else make(cls).transform
        with pytest.raises(ValueError, match=rf"{cls.__name__}.*not fitted"):
            method(X)


# =============================================================== hyperparameters
def _bad_for_constraint(c):
    """Bad values for one scikit-learn parameter constraint."""
    if isinstance(c, Interval):
        out = ["3", [1], None]
        integral = c.type is not float and issubclass(c.type, int) if isinstance(c.type, type) else False
        integral = integral or c.type.__name__ == "Integral"
        if c.left is not None:
            out += [c.left - 1, c.left - 1e-3] if not integral else [c.left - 1, -(10**6)]
            if c.closed in ("right", "neither"):
                out.append(c.left)
        if c.right is not None:
            out += [c.right + 1, c.right + 1e-3]
            if c.closed in ("left", "neither"):
                out.append(c.right)
        out += [np.nan, np.inf, -np.inf]
        if integral:
            out += [1.5, np.float64(2.0)]
        return out
    if isinstance(c, StrOptions):
        return ["bogus", "", next(iter(sorted(c.options))).upper(), 42]
    if c == "boolean":
        return ["yes", 2, None, 0.5]
    if c is dict or c is list or c is tuple or c is type:
        return [42, "x", object()]
    if c is str:
        return [42, b"cpu", None]
    if c in ("random_state",):
        return [-1, 2**40, 1.5, "seed"]
    if c in ("verbose",):
        return [-1, "loud", 1.5]
    return [42, "x"]


def _special_cases(cls):
    """Hand-written bad values for parameters whose constraints are loose (dicts, types, strings)."""
    p = cls().get_params()
    cases = {
        "class_weight": [{0: np.nan}, {0: np.inf}, {0: -1.0}, {0: "a"}, {5: 1.0}, {0: 0.0, 1: 0.0}, {0: None},
                         {0: [1.0]}, {"0": 1.0}, {0: 1e38, 1: 1e38}, "balanced", {0: 2.0, 1: 1.0}, {0: True, 1: 1}],
        "device": ["tpu", "mps", "meta", "", "cuda", "cuda:99", "CPU", " cpu", "xla", "vulkan", "cpu:0", "auto",
                   "cpu", "gpu"],
        "callbacks": [[42], ["x"], [("a", 42)], [EpochTimer], [None], (EpochTimer(),),
                      [("a", EpochTimer()), ("a", EpochTimer())], [("epoch_metrics", EpochTimer())], [EpochTimer()],
                      [("timer", EpochTimer())]],
        "optimizer": [dict, torch.nn.Linear, torch.optim.LBFGS, "rmsprop", "Adam", torch.optim.SparseAdam,
                      torch.optim.Optimizer, torch.optim.RMSprop, torch.optim.SGD, lambda params: None, int],
        "encoders": [{"tab": "bogus"}, {"zz": "mlp"}, {"tab": 42}, {"tab": "cnn"}, {"img": "rnn"},
                     {"tab": torch.nn.Linear(5, 2)}, {"tab": torch.nn.Linear(3, 2)}, {1: "mlp"}, {"tab": "mlp"},
                     {"img": "mlp"}],
        "modalities": [{"tab": [0]}, {}],
        "image_shapes": [{"img": (1, 4, 4)}, {"img": (16,)}, {}],
        "max_epochs": [0, 2],
        "batch_size": [1, 10**6],
        "lr": [1e8, 1e30, 1e-30],
        "weight_decay": [1e30, 1e8],
        "hidden_size": [1, 2],
        "early_stopping": [True],
        "validation_fraction": [0.99, 1e-9],
    }
    out = [(k, v) for k, vals in cases.items() if k in p for v in vals]
    if "modulation_epochs" in p:
        out += [("modulation_epochs", v) for v in [(5, 1), (-1, 2), (0,), ("a", "b"), (0, np.nan), (0, 1.5), [0, 1]]]
    if "imputer_layers" in p:
        out += [("imputer_layers", v) for v in [(0,), (-1, 4), ("a",), (), (4.5,), [4]]]
    if "train_missing_rates" in p:
        out += [("train_missing_rates", v) for v in [{"zz": 0.5}, {"tab": 1.5}, {"tab": np.nan}, {"tab": -0.1}, 0.5,
                                                     1.0, {"tab": 0.5, "img": 0.5}]]
    if "predominant" in p:
        out += [("predominant", v) for v in ["zz", "", "tab", "img", "auto"]]
    if "dictionary_size" in p:
        out += [("dictionary_size", v) for v in [1, 10**9]]
    return out


def hyperparameter_cases(cls):
    cases = []
    for param, constraints in cls._parameter_constraints.items():
        seen = []
        for c in constraints:
            for v in _bad_for_constraint(c):
                if not any(v is s or (type(v) is type(s) and isinstance(v, (int, str)) and v == s) for s in seen):
                    seen.append(v)
        cases += [(param, v) for v in seen]
    return cases + _special_cases(cls)


_NAMES = {"encoders": [r"encoder", q("tab"), q("img"), q("zz")], "callbacks": [r"callback"],
          "optimizer": [r"optimi[sz]er"], "device": [r"device"], "train_missing_rates": [r"missing_rates"],
          "modalities": [r"modalities"], "image_shapes": [r"image_shapes"]}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_hyperparameter_case_list_is_broad(cls):
    cases = hyperparameter_cases(cls)
    assert {p for p, _ in cases} >= set(cls._parameter_constraints)  # every constrained parameter has bad values
    assert len(cases) >= 100


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@settings(max_examples=260, **FUZZ)
@given(data=st.data())
def test_bad_hyperparameters(cls, data):
    cases = hyperparameter_cases(cls)
    param, value = cases[data.draw(st.integers(0, len(cases) - 1), label="case")]
    X, y = base_data()
    if data.draw(st.booleans(), label="ModalityDict"):
        X = ModalityDict(X)
    names = _NAMES.get(param, []) + [rf"\b{re.escape(param)}\b"]
    if param in ("lr", "weight_decay", "class_weight"):
        names.append(r"diverged")  # the divergence guard names the likely causes (lr, input scale, class weights)
    check(cls, lambda: (make(cls, **{param: value}).fit(X, y), X), expect="either", names=names)


# =============================================================== ModalityDict slicing
@settings(max_examples=60, **FUZZ)
@given(data=st.data())
def test_modality_dict_slices_rows_of_every_value(data):
    rng = np.random.default_rng(0)
    n = data.draw(st.integers(1, 8))
    arrays = {"a": rng.normal(size=(n, 5)), "b": rng.normal(size=(n, 1, 2, 2)), "c": rng.normal(size=(n, 2))}
    X = ModalityDict({"a": pd.DataFrame(arrays["a"], index=np.arange(n)[::-1] + 10), "b": arrays["b"],
                      "c": torch.as_tensor(arrays["c"])})
    kind = data.draw(st.sampled_from(["list", "mask", "slice", "array"]))
    if kind == "list":
        index = data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n))
        rows = np.asarray(index, dtype=int)
    elif kind == "mask":
        index = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        rows = np.flatnonzero(index)
    elif kind == "array":
        index = np.asarray(data.draw(st.lists(st.integers(-n, n - 1), max_size=n)), dtype=int)
        rows = np.arange(n)[index]
    else:
        index = slice(data.draw(st.integers(-n, n)), data.draw(st.integers(-n, n)), data.draw(st.sampled_from([1, 2, -1])))
        rows = np.arange(n)[index]
    part = X[index]
    assert len(part) == rows.size
    for k, v in arrays.items():
        np.testing.assert_array_equal(np.asarray(part[k]), v[rows])


@settings(max_examples=30, **FUZZ)
@given(data=st.data())
def test_modality_dict_bad_construction_names_the_key(data):
    kind = data.draw(st.sampled_from(["ragged", "setitem", "update", "scalar", "int-key", "int-index"]))
    X = ModalityDict({"a": np.zeros((4, 2)), "b": np.zeros((4, 3))})
    if kind == "ragged":
        with pytest.raises(ValueError, match=r"a=4.*b=5|'b'"):
            ModalityDict({"a": np.zeros((4, 2)), "b": np.zeros((5, 3))})
    elif kind == "setitem":
        with pytest.raises(ValueError, match="'c' has 3 samples"):
            X["c"] = np.zeros((3, 1))
    elif kind == "update":
        with pytest.raises(ValueError, match="'c' has 6 samples"):
            X.update({"c": np.zeros((6, 1))})
    elif kind == "scalar":
        with pytest.raises(ValueError, match="'c'.*sample axis"):
            ModalityDict({"c": np.float64(1.0)})
    elif kind == "int-key":
        with pytest.raises(TypeError, match="must be strings"):
            ModalityDict({1: np.zeros((4, 2))})
    else:
        with pytest.raises(ValueError, match="cannot be indexed by integers"):
            X[data.draw(st.integers(0, 3))]


# =============================================================== case count
def test_case_counts_reach_500_per_estimator():
    """Runs after the fuzz tests of this module (pytest keeps file order) when they all ran in this process."""
    expected = {(t, cls.__name__) for t in FUZZ_TESTS for cls in ESTIMATORS
                if t != "test_label_faults" or is_classifier(cls)}
    if not expected <= RAN:
        pytest.skip("the fuzz tests did not all run in this process (a -k selection, or xdist without --dist loadfile)")
    counts = {name: dict(c, total=sum(c.values())) for name, c in sorted(COUNTS.items())}
    print("fuzz case counts:", json.dumps(counts, sort_keys=True))
    for cls in ESTIMATORS:
        total = sum(COUNTS[cls.__name__].values())
        assert total >= 500, f"{cls.__name__}: only {total} fuzz cases ran"


# =============================================================== focused tests for the fixes the fuzzing found
def _lf():
    return make(skcausalmm.LateFusionClassifier)


def test_image_shapes_with_dict_input_is_an_error_not_ignored():
    X, y = base_data()
    with pytest.raises(ValueError, match="`image_shapes` reshapes columns.*already a dict"):
        make(skcausalmm.LateFusionClassifier, image_shapes={"img": (1, 4, 4)}).fit(X, y)


def test_empty_column_selector_says_it_selects_no_column():
    X, y = base_data()
    with pytest.raises(ValueError, match="modality 'tab' is empty: it selects no column"):
        make(skcausalmm.LateFusionClassifier, modalities={"tab": [], "img": TABLE_SEL["img"]}).fit(_table(X), y)


@pytest.mark.parametrize(
    "labels, error, match",
    [
        ([[0], [1, 2]] * (N // 2), ValueError, "y could not be converted"),
        (np.zeros((N, 1, 1)), ValueError, r"y should be a 1d array .*\(12, 1, 1\)"),
        ((np.arange(N) % 2).astype(complex), ValueError, "y has complex dtype"),
        (np.linspace(0, 1, N), ValueError, "y is not a valid classification target.*continuous"),
        (np.array([None, 1] * (N // 2), dtype=object), ValueError, "y is not a valid classification target"),
        (np.array([0, "a"] * (N // 2), dtype=object), ValueError, "y is not a valid classification target"),
    ],
    ids=["ragged", "3-D", "complex", "continuous", "object-None", "mixed"],
)
def test_label_errors_name_y(labels, error, match):
    X, _ = base_data()
    with pytest.raises(error, match=match):
        _lf().fit(X, labels)


@pytest.mark.parametrize(
    "optimizer, weight_decay, match",
    [
        (torch.optim.SparseAdam, 0.0, "SparseAdam needs sparse gradients"),
        (torch.optim.Rprop, 1e-3, "Rprop does not take weight_decay"),
        (torch.optim.Optimizer, 0.0, "does not implement step"),
    ],
)
def test_optimizers_the_training_step_cannot_drive(optimizer, weight_decay, match):
    X, y = base_data()
    with pytest.raises(TypeError, match=match):
        make(skcausalmm.LateFusionClassifier, optimizer=optimizer, weight_decay=weight_decay).fit(X, y)


@pytest.mark.parametrize(
    "optimizer", [torch.optim.RMSprop, torch.optim.Adagrad, torch.optim.NAdam, torch.optim.Rprop, torch.optim.LBFGS]
)
def test_other_first_order_optimizers_still_work(optimizer):
    X, y = base_data()
    clf = make(skcausalmm.LateFusionClassifier, optimizer=optimizer).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_all_zero_class_weights_are_rejected_before_training():
    X, y = base_data()
    with pytest.raises(ValueError, match="gives weight 0 to every class"):
        make(skcausalmm.LateFusionClassifier, class_weight={0: 0.0, 1: 0.0}).fit(X, y)
    clf = make(skcausalmm.LateFusionClassifier, class_weight={0: 0.0, 1: 1.0}).fit(X, y)  # one zero is fine
    assert np.isfinite(clf.predict_proba(X)).all()


def test_modality_dict_reverses_torch_values():
    X = ModalityDict({"t": torch.arange(6.0).reshape(3, 2), "a": np.arange(3)})
    part = X[::-1]
    np.testing.assert_array_equal(part["t"].numpy(), [[4, 5], [2, 3], [0, 1]])
    np.testing.assert_array_equal(part["a"], [2, 1, 0])
