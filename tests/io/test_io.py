"""Model files without pickle: skcausalmm.io.save / load.

Every public estimator on the shared base is discovered (as in ``tests/test_common.py``) and
round-tripped; tampered files must fail with a clear error and run nothing.
"""

import json
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from skorch.callbacks import EpochScoring

from skcausalmm import (
    CausalInfoMinClassifier,
    ContrastiveICA,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    RedCoreClassifier,
)
from skcausalmm.base import BaseMultimodalEstimator
from skcausalmm.io import FORMAT_VERSION, load, save
from skcausalmm.io.codec import SKLEARN_STATE, decode, encode

from ..helpers import all_estimators

torch.set_num_threads(1)

#: Small settings applied to every discovered estimator that has the parameter.
SMALL = dict(
    max_epochs=2,
    hidden_size=8,
    batch_size=32,
    random_state=0,
    device="cpu",
    mediator_size=8,
    context_size=8,
    auxiliary_size=8,
    projection_size=8,
    warmup_epochs=1,
    dictionary_size=16,
    latent_dim=8,
    imputer_layers=(8,),
    n_blocks=1,
)


def small(cls, **extra):
    params = cls().get_params()
    return cls(**{k: v for k, v in {**SMALL, **extra}.items() if k in params})


def make_data(n=48, missing=False, seed=0):
    rng = np.random.RandomState(seed)
    X = {"a": rng.randn(n, 4).astype(np.float32), "b": rng.randn(n, 3).astype(np.float32)}
    y = np.array(["low", "mid", "high"])[(X["a"][:, 0] > 0).astype(int) + (X["b"][:, 0] > 0.5).astype(int)]
    if missing:
        X["b"][::5] = np.nan
    return X, y


def output(est, X):
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.transform(X)


def fitted_attributes(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_") and k != "net_"}


def assert_same_value(a, b, where=""):
    if isinstance(a, BaseMultimodalEstimator):
        assert type(a) is type(b) and a is not b, where
        assert_same_value(a.get_params(deep=False), b.get_params(deep=False), f"{where}.params")
        expected, got = fitted_attributes(a), fitted_attributes(b)
        assert sorted(expected) == sorted(got), where
        for key in expected:
            if key != "history_":
                assert_same_value(expected[key], got[key], f"{where}.{key}")
        assert a.history_[:, "train_loss"] == b.history_[:, "train_loss"], where
        assert_same_state(a.net_.module_.state_dict(), b.net_.module_.state_dict(), f"{where}.module")
    elif isinstance(a, torch.nn.Module):
        assert type(a) is type(b) and a is not b, where
        assert_same_state(a.state_dict(), b.state_dict(), where)
    elif type(a).__name__ in SKLEARN_STATE and type(a).__module__.startswith("sklearn."):
        assert type(a) is type(b) and a is not b, where
        assert_same_value(a.get_params(deep=False), b.get_params(deep=False), f"{where}.params")
        for key in sum(SKLEARN_STATE[type(a).__name__], ()):
            assert hasattr(a, key) == hasattr(b, key), f"{where}.{key}"
            if hasattr(a, key):
                assert_same_value(getattr(a, key), getattr(b, key), f"{where}.{key}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_same_value(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same_value(u, v, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert type(a) is type(b) and a == b, where


def assert_same_state(a, b, where=""):
    assert list(a) == list(b), where
    for key in a:
        assert torch.equal(a[key].cpu(), b[key].cpu()), (where, key)


def assert_same_optimizer(a, b):
    """Two optimiser state dicts are equal: the param groups, and every state tensor exactly."""
    a, b = a.state_dict(), b.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert sorted(a["state"]) == sorted(b["state"])
    for index, entries in a["state"].items():
        assert sorted(entries) == sorted(b["state"][index]), index
        for key, value in entries.items():
            other = b["state"][index][key]
            if isinstance(value, torch.Tensor):
                assert isinstance(other, torch.Tensor) and value.dtype == other.dtype, (index, key)
                assert torch.equal(value.cpu(), other.cpu()), (index, key)
            else:
                assert value == other, (index, key)


@pytest.fixture(scope="module")
def fitted_late_fusion():
    X, y = make_data()
    return small(LateFusionClassifier).fit(X, y), X


@pytest.fixture()
def saved(tmp_path, fitted_late_fusion):
    est, X = fitted_late_fusion
    return save(est, tmp_path / "model.zip"), est, X


def rewrite(path, *, meta=None, weights=None, extra=None, drop=()):
    """Rewrite a model file with some members replaced (the tampering helper)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if meta is not None:
        members["estimator.json"] = meta(json.loads(members["estimator.json"])) if callable(meta) else meta
        if isinstance(members["estimator.json"], dict):
            members["estimator.json"] = json.dumps(members["estimator.json"]).encode()
    if weights is not None:
        members["weights.safetensors"] = (
            weights(st_load(members["weights.safetensors"])) if callable(weights) else weights
        )
        if isinstance(members["weights.safetensors"], dict):
            members["weights.safetensors"] = st_save(members["weights.safetensors"])
    for name in drop:
        members.pop(name)
    members.update(extra or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


class Payload:
    """A pickle that touches a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def no_unpickling(monkeypatch):
    """Make every unpickling entry point fail loudly for the duration of a test."""

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    class RefusingUnpickler(pickle.Unpickler):  # a class, so that modules may still subclass it
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)
    monkeypatch.setattr(torch, "load", refuse)


# ------------------------------------------------------------------------- round trips
def test_discovery_finds_the_known_estimators():
    names = {cls.__name__ for cls in all_estimators()}
    assert {
        "LateFusionClassifier",
        "OGMGEClassifier",
        "MMParetoClassifier",
        "MLAClassifier",
        "FrontDoorMultimodalClassifier",
        "RedCoreClassifier",
    } <= names


@pytest.mark.parametrize("cls", all_estimators(), ids=lambda c: c.__name__)
def test_round_trip_every_estimator(cls, tmp_path, no_unpickling):
    est = small(cls)
    X, y = make_data(missing=est._supports_missing)
    est.fit(X, y)
    path = tmp_path / f"{cls.__name__}.zip"
    save(est, path)
    loaded = load(path)
    assert type(loaded) is cls
    assert loaded is not est and loaded.net_ is not est.net_
    np.testing.assert_allclose(output(loaded, X), output(est, X), rtol=0, atol=1e-6)
    if hasattr(est, "predict"):
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert_same_value(loaded.get_params(deep=False), est.get_params(deep=False), "params")
    expected = fitted_attributes(est)
    got = fitted_attributes(loaded)
    assert sorted(got) == sorted(expected)
    for key in expected:
        if key != "history_":
            assert_same_value(got[key], expected[key], key)
    assert loaded.history_[:, "train_loss"] == est.history_[:, "train_loss"]
    # the weights themselves, not just the outputs
    for prefix in ("module_", "standardizer_", "criterion_"):
        assert_same_state(getattr(est.net_, prefix).state_dict(), getattr(loaded.net_, prefix).state_dict(), prefix)
    # and the optimiser state, so that training can go on
    assert est.net_.optimizer_.state_dict()["state"], "the fitted optimiser has a state to save"
    assert_same_optimizer(est.net_.optimizer_, loaded.net_.optimizer_)


@pytest.mark.parametrize("predominant", ["auto", "b"])
def test_front_door_round_trip_with_beta_after_load(predominant, tmp_path):
    X, y = make_data()
    est = small(FrontDoorMultimodalClassifier, predominant=predominant, auxiliary="confounder", dictionary="kmeans")
    est.fit(X, y)
    loaded = load(save(est, tmp_path / "fd.zip"))
    assert loaded.predominant_modality_ == est.predominant_modality_
    assert loaded.net_.module_.dictionary.contexts.shape == est.net_.module_.dictionary.contexts.shape
    assert torch.equal(loaded.net_.module_.dictionary.weights, est.net_.module_.dictionary.weights)
    for beta in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(
            loaded.set_params(beta=beta).predict_proba(X), est.set_params(beta=beta).predict_proba(X), rtol=0, atol=1e-6
        )
    pearl, conditional = loaded.front_door_terms(X)
    assert not np.allclose(pearl, conditional)  # the two endpoints differ, so the β check above can fail


def test_front_door_view_role_round_trips_without_a_dictionary(tmp_path):
    X, y = make_data()
    est = small(FrontDoorMultimodalClassifier, predominant="a").fit(X, y)
    assert est.auxiliary_role_ == "view" and not est.net_.module_.dictionary.built
    loaded = load(save(est, tmp_path / "fd.zip"))
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "cls, class_weight",
    [
        (LateFusionClassifier, "balanced"),
        (RedCoreClassifier, {"low": 2.0, "mid": 1.0, "high": 0.5}),
        (FrontDoorMultimodalClassifier, "balanced"),
    ],
    ids=["late-fusion-balanced", "redcore-dict", "front-door-balanced"],
)
def test_class_weights_survive(cls, class_weight, tmp_path):
    X, y = make_data()
    y = np.where(np.arange(len(y)) < 30, "low", y)  # imbalanced, so "balanced" is not uniform
    est = small(cls, class_weight=class_weight).fit(X, y)
    loaded = load(save(est, tmp_path / "cw.zip"))
    expected = est.net_.criterion_.class_weight
    assert expected is not None and not torch.allclose(expected, expected.mean())
    assert torch.equal(loaded.net_.criterion_.class_weight.cpu(), expected.cpu())
    assert loaded.class_weight == class_weight


def test_int_labels_and_dict_with_int_keys(tmp_path):
    X, y = make_data()
    y_int = np.unique(y, return_inverse=True)[1] * 10
    est = small(LateFusionClassifier, class_weight={0: 1.0, 10: 2.0, 20: 1.0}).fit(X, y_int)
    loaded = load(save(est, tmp_path / "m.zip"))
    assert loaded.class_weight == {0: 1.0, 10: 2.0, 20: 1.0}
    assert loaded.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_table_input_with_slice_and_column_selectors(tmp_path):
    X, y = make_data()
    table = pd.DataFrame(np.hstack([X["a"], X["b"]]), columns=[f"c{i}" for i in range(7)])
    est = small(LateFusionClassifier, modalities={"a": slice(0, 4), "b": ["c4", "c5", "c6"]}).fit(table, y)
    loaded = load(save(est, tmp_path / "table.zip"))
    assert loaded.modalities == {"a": slice(0, 4), "b": ["c4", "c5", "c6"]}
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    np.testing.assert_allclose(loaded.predict_proba(table), est.predict_proba(table), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(table.rename(columns={"c0": "zz"}))


def test_load_leaves_the_global_rng_alone(saved):
    path, _, _ = saved
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load(path)
    assert torch.equal(torch.rand(3), expected)


def test_save_replaces_an_existing_file_and_leaves_no_temporary(saved):
    path, est, X = saved
    save(est, path)
    assert sorted(os.listdir(os.path.dirname(path))) == ["model.zip"]
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["estimator.json", "history.json", "weights.safetensors"]


# ------------------------------------------------------------------------- devices
def test_cuda_saved_model_loads_on_cpu(saved):
    path, est, X = saved

    def as_if_cuda(meta):
        meta["params"]["device"] = "cuda"
        meta["fitted"]["device_"] = "cuda:0"
        meta["net"]["saved_device"] = "cuda:0"
        return meta

    rewrite(path, meta=as_if_cuda)
    if torch.cuda.is_available():  # pragma: no cover - exercised on GPU machines only
        loaded = load(path)
        assert loaded.device_ == "cuda"
        np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-5)
    else:
        with pytest.warns(UserWarning, match="loaded on the CPU"):
            loaded = load(path)
        assert loaded.device_ == "cpu" and loaded.device == "cuda"
        assert next(loaded.net_.module_.parameters()).device.type == "cpu"
        np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)
    cpu = load(path, device="cpu")
    assert cpu.device_ == "cpu"
    np.testing.assert_allclose(cpu.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)


def test_bad_device_argument(saved):
    path, _, _ = saved
    with pytest.raises(ValueError, match="device='tpu'"):
        load(path, device="tpu")


# ------------------------------------------------------------------------- refusals at save
@pytest.mark.parametrize(
    "params, named",
    [
        (dict(encoders={"a": torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())}), "'encoders'"),
        (dict(callbacks=[EpochScoring("accuracy", name="acc2")]), "'callbacks'"),
        (dict(optimizer=torch.optim.RMSprop), "'optimizer'"),
        (dict(random_state=np.random.RandomState(0)), "'random_state'"),
    ],
    ids=["user-module", "callbacks", "optimizer-class", "random-state-instance"],
)
def test_save_refuses_parameters_that_are_code(params, named, tmp_path):
    X, y = make_data()
    est = small(LateFusionClassifier, **params).fit(X, y)
    path = tmp_path / "m.zip"
    with pytest.raises(TypeError, match=f"parameter {named} is not JSON-representable"):
        save(est, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_save_refuses_an_unencodable_fitted_attribute(fitted_late_fusion, tmp_path):
    est, _ = fitted_late_fusion
    est.extra_ = object()
    try:
        with pytest.raises(TypeError, match="fitted attribute 'extra_'"):
            save(est, tmp_path / "m.zip")
    finally:
        del est.extra_


def test_save_refuses_foreign_and_unfitted_estimators(tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="package's own estimators"):
        save(LogisticRegression(), tmp_path / "m.zip")

    class Custom(LateFusionClassifier):
        pass

    with pytest.raises(TypeError, match="package's own estimators"):
        save(Custom(), tmp_path / "m.zip")
    with pytest.raises(NotFittedError):
        save(LateFusionClassifier(), tmp_path / "m.zip")


# ------------------------------------------------------------------------- tampered files
@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "builtins.eval",
        "sklearn.linear_model.LogisticRegression",
        "ModalityDict",
        "FrontDoorAdjustment",
        "BaseMultimodalEstimator",
        "__import__",
        None,
        42,
    ],
)
def test_class_outside_the_package_estimators_is_refused(name, saved, monkeypatch, no_unpickling):
    path, _, _ = saved
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))

    def rename(meta):
        meta["estimator"] = name
        return meta

    rewrite(path, meta=rename)
    with pytest.raises(ValueError, match="not one of the package's estimators"):
        load(path)
    assert calls == []


def test_pickle_payloads_do_not_run(saved, tmp_path, no_unpickling):
    path, est, X = saved
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Payload(marker))

    # weights replaced by a pickle
    bad = rewrite(path, weights=payload)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load(bad)
    # an extra pickled member
    save(est, path)
    rewrite(path, extra={"payload.pkl": payload})
    with pytest.raises(ValueError, match="unexpected member 'payload.pkl'"):
        load(path)
    # the JSON replaced by a pickle
    save(est, path)
    rewrite(path, meta=payload)
    with pytest.raises(ValueError, match="not valid UTF-8 JSON"):
        load(path)
    # a torch.save file (a zip holding data.pkl) passed as a model file
    torch_file = tmp_path / "torch.pt"
    torch.save({"x": torch.zeros(2)}, torch_file)
    with pytest.raises(ValueError, match="unexpected member"):
        load(torch_file)
    # the raw pickle passed as the model file
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(payload)
    with pytest.raises(ValueError, match="not a zip archive"):
        load(raw)
    # pickle bytes as data inside the JSON (a string attribute) and in the safetensors metadata: plain data
    save(est, path)

    def smuggle(meta):
        meta["fitted"]["payload_"] = payload.decode("latin-1")
        return meta

    rewrite(path, meta=smuggle)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members["weights.safetensors"] = st_save(
        st_load(members["weights.safetensors"]), metadata={"payload": payload.decode("latin-1")}
    )
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in members.items():
            archive.writestr(n, data)
    loaded = load(path)
    assert loaded.payload_ == payload.decode("latin-1")
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)
    assert not marker.exists()


def test_the_payload_would_run_if_unpickled(tmp_path):
    # the payload above is live: the tests would notice if load() unpickled it
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda w: {k: v for k, v in w.items() if k != "module.head.weight"}, "module.head.weight is missing"),
        (lambda w: {**w, "module.evil": torch.zeros(2)}, "unexpected tensor 'module.evil'"),
        (lambda w: {**w, "evil.state": torch.zeros(2)}, "unexpected tensor 'evil.state'"),
        (lambda w: {**w, "optimizer.state": torch.zeros(2)}, "optimizer"),
        (lambda w: {**w, "fitted.classes_.module.x": torch.zeros(2)}, "unexpected tensors under fitted.classes_"),
        (lambda w: {**w, "module.head.weight": torch.zeros(2, 2)}, "has shape"),
        (lambda w: {**w, "module.head.weight": w["module.head.weight"].double()}, "has dtype"),
        (lambda w: {**w, "module.head.bias": torch.full_like(w["module.head.bias"], float("nan"))}, "NaN"),
        (lambda w: {**w, "standardizer.mean_0": torch.zeros(9)}, "standardizer.mean_0 has shape"),
    ],
    ids=[
        "missing",
        "extra",
        "unknown-prefix",
        "optimizer-prefix",
        "nested-prefix",
        "shape",
        "dtype",
        "nan",
        "standardizer",
    ],
)
def test_mismatched_weights_are_refused(tamper, message, saved):
    path, _, _ = saved
    rewrite(path, weights=tamper)
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", True, None, 1.5])
def test_unknown_format_version_is_refused(version, saved):
    path, _, _ = saved

    def set_version(meta):
        if version is None:
            del meta["format_version"]
        else:
            meta["format_version"] = version
        return meta

    rewrite(path, meta=set_version)
    with pytest.raises(ValueError, match="unknown format version"):
        load(path)


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda m: {**m, "format": "pickle"}, "not a skcausalmm model file"),
        (lambda m: {**m, "params": {**m["params"], "evil": 1}}, "no parameter 'evil'"),
        (lambda m: {**m, "params": {**m["params"], "hidden_size": -3}}, "invalid parameters"),
        (lambda m: {**m, "params": {**m["params"], "encoders": {"a": {"__class__": "os.system"}}}}, "unknown tag"),
        (lambda m: {**m, "fitted": {**m["fitted"], "__class__": "os.system"}}, "unknown tag '__class__'"),
        (lambda m: {**m, "fitted": {**m["fitted"], "_secret_": 1}}, "not a fitted attribute name"),
        (lambda m: {**m, "fitted": {**m["fitted"], "predict_proba": 1}}, "not a fitted attribute name"),
        (lambda m: {**m, "fitted": {k: v for k, v in m["fitted"].items() if k != "input_scaling_"}}, "missing"),
        (
            lambda m: {
                **m,
                "fitted": {**m["fitted"], "classes_": {"__ndarray__": {"dtype": "|V8", "shape": [1], "data": [0]}}},
            },
            "not an allowed numpy dtype",
        ),
        (
            lambda m: {
                **m,
                "fitted": {**m["fitted"], "classes_": {"__ndarray__": {"dtype": "<i8", "shape": [5], "data": [0]}}},
            },
            "flat list of 5",
        ),
        (lambda m: {**m, "fitted": {**m["fitted"], "modality_names_": ["b", "a"]}}, "do not agree"),
        (
            lambda m: {
                **m,
                "fitted": {**m["fitted"], "modality_shapes_": {"a": {"__tuple__": [5]}, "b": {"__tuple__": [3]}}},
            },
            "has shape",
        ),
        (lambda m: [m], "JSON object"),
    ],
    ids=[
        "format",
        "param-name",
        "param-value",
        "tag",
        "dunder-attr",
        "private-attr",
        "method-attr",
        "required-attr",
        "dtype",
        "array-size",
        "names",
        "shapes",
        "not-object",
    ],
)
def test_tampered_json_is_refused(tamper, message, saved, no_unpickling):
    path, _, _ = saved
    rewrite(path, meta=lambda m: json.dumps(tamper(m)).encode())
    with pytest.raises(ValueError, match=message):
        load(path)


def test_deeply_nested_json_is_refused(saved):
    path, _, _ = saved
    deep = "[" * 100000 + "]" * 100000
    rewrite(path, meta=lambda m: json.dumps(m).replace('"verbose": 0', '"verbose": ' + deep).encode())
    with pytest.raises(ValueError, match="nested too deeply|not valid UTF-8 JSON"):
        load(path)


def test_not_a_model_file(tmp_path, saved):
    path, _, _ = saved
    text = tmp_path / "x.zip"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        load(text)
    rewrite(path, drop=["weights.safetensors"])
    with pytest.raises(ValueError, match="'weights.safetensors' is missing"):
        load(path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.zip")


# ------------------------------------------------------------------------- the JSON encoding
@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -2.5,
        float("nan"),
        float("inf"),
        "text",
        (1, (2, "x")),
        [1, (2,)],
        {"a": (1, 2)},
        {0: "zero", 10: (1,)},
        {"__tuple__": 1, "k": [1]},
        slice(None, 4),
        slice(1, None, 2),
        np.float32(1.5),
        np.int64(-3),
        np.bool_(True),
        np.str_("s"),
        np.arange(6, dtype=np.uint8).reshape(2, 3),
        np.array([1.0, np.nan, -np.inf], dtype=np.float64),
        np.array(["a", "bc"]),
        np.array(["a", 3, None], dtype=object),
        np.array([np.int64(3), np.str_("s"), np.float32(0.5), np.bool_(True)], dtype=object),
        np.zeros((0, 3), dtype=np.float32),
        np.array([True, False]),
    ],
    ids=repr,
)
def test_encoding_round_trip(value):
    text = json.dumps(encode(value, "v"), allow_nan=False)
    back = decode(json.loads(text), "v")
    if isinstance(value, np.generic):
        assert type(back) is type(value) and back == value
    elif isinstance(value, slice):
        assert back == value
    else:
        assert_same_value(back, value)


def nested_object_array():
    array = np.empty(1, dtype=object)
    array[0] = np.zeros(2)
    return array


@pytest.mark.parametrize(
    "value",
    [
        object(),
        torch.zeros(2),
        np.array([1 + 2j]),
        np.longdouble(1),
        np.zeros(2, dtype=np.longdouble),
        nested_object_array(),
        {(1, 2): 3},
        print,
        slice(0.5, 2),
        np.datetime64("2020-01-01"),
    ],
    ids=[
        "object",
        "tensor",
        "complex",
        "longdouble",
        "longdouble-array",
        "nested-object-array",
        "tuple-key",
        "function",
        "float-slice",
        "datetime",
    ],
)
def test_encoding_refuses_non_data(value):
    with pytest.raises(TypeError, match="holds"):
        encode(value, "v")


def test_front_door_dictionary_of_the_wrong_width_is_refused(tmp_path):
    X, y = make_data()
    est = small(FrontDoorMultimodalClassifier, predominant="a", auxiliary="confounder").fit(X, y)
    path = save(est, tmp_path / "fd.zip")
    key = "module.dictionary.contexts"
    rewrite(path, weights=lambda w: {**w, key: torch.zeros(w[key].shape[0], w[key].shape[1] + 3)})
    with pytest.raises(ValueError, match=r"contexts has shape .* this network's contexts have shape"):
        load(path)


def test_callbacks_in_the_json_are_refused(saved):
    path, _, _ = saved
    rewrite(path, meta=lambda m: {**m, "params": {**m["params"], "callbacks": ["os.system"]}})
    with pytest.raises(ValueError, match="callbacks must be null"):
        load(path)


def test_huge_numbers_in_the_json_are_refused(saved):
    path, est, _ = saved
    too_long = "9" * 5000
    rewrite(path, meta=lambda m: json.dumps(m).replace('"verbose": 0', '"verbose": ' + too_long).encode())
    with pytest.raises(ValueError, match="not valid UTF-8 JSON"):
        load(path)

    def overflow(m):
        m["fitted"]["classes_"] = {"__ndarray__": {"dtype": "<i8", "shape": [1], "data": [2**70]}}
        return m

    rewrite(save(est, path), meta=overflow)
    with pytest.raises(ValueError, match="cannot rebuild"):
        load(path)


@pytest.mark.parametrize("cls", [LateFusionClassifier, FrontDoorMultimodalClassifier], ids=lambda c: c.__name__)
def test_image_modality_round_trip(cls, tmp_path):
    X, y = make_data()
    X = {"img": np.random.RandomState(1).rand(len(y), 1, 6, 5).astype(np.float32), "b": X["b"]}
    est = small(cls, predominant="img").fit(X, y)
    loaded = load(save(est, tmp_path / "img.zip"))
    assert loaded.modality_shapes_ == {"img": (1, 6, 5), "b": (3,)}
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------- fitted objects: ContrastiveICA, ATE-D
@pytest.mark.parametrize(
    "params",
    [dict(), dict(pca_components=2, modality="all"), dict(geometry="box", ica=False)],
    ids=["ica", "pca-all", "box-no-ica"],
)
def test_contrastive_ica_round_trip(params, tmp_path, no_unpickling):
    X, _ = make_data()
    est = small(ContrastiveICA, n_components=3, **params).fit(X)
    loaded = load(save(est, tmp_path / "cica.zip"))
    # same arrays; only the BLAS summation order may differ (the rebuilt arrays are C-contiguous)
    np.testing.assert_allclose(loaded.transform(X), est.transform(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(loaded.get_feature_names_out(), est.get_feature_names_out())
    assert_same_value(est.ica_, loaded.ica_, "ica_")
    assert_same_value(est.pca_, loaded.pca_, "pca_")
    sources = est.ica_["a"].transform(np.random.RandomState(1).randn(5, est.ica_["a"].n_features_in_))
    np.testing.assert_allclose(
        loaded.ica_["a"].inverse_transform(sources), est.ica_["a"].inverse_transform(sources), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("variant", ["backdoor", "recalibrate"])
def test_ate_round_trip_with_its_first_stage(variant, tmp_path, no_unpickling):
    X, y = make_data()
    est = small(
        CausalInfoMinClassifier,
        method="ate",
        ate_variant=variant,
        confounder_modality="b",
        n_confounders=3,
        code_size=2,
    ).fit(X, y)
    path = save(est, tmp_path / "ate.zip")
    loaded = load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_allclose(loaded.confounder_transform(X), est.confounder_transform(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.confounder_assignments(X), est.confounder_assignments(X))
    for key in ("biased_estimator_", "confounder_kmeans_", "confounder_autoencoder_", "confounder_dictionary_"):
        assert_same_value(getattr(est, key), getattr(loaded, key), key)
    biased, reloaded = est.biased_estimator_, loaded.biased_estimator_
    np.testing.assert_allclose(reloaded.predict_proba(X), biased.predict_proba(X), rtol=0, atol=1e-6)
    assert_same_optimizer(biased.net_.optimizer_, reloaded.net_.optimizer_)
    assert_same_optimizer(est.net_.optimizer_, loaded.net_.optimizer_)
    with zipfile.ZipFile(path) as archive:
        keys = list(st_load(archive.read("weights.safetensors")))
    assert any(k.startswith("fitted.biased_estimator_.module.") for k in keys)
    assert any(k.startswith("fitted.biased_estimator_.optimizer.") for k in keys)


def test_fitted_sklearn_objects_that_are_not_data_are_refused(tmp_path):
    from sklearn.preprocessing import StandardScaler

    X, _ = make_data()
    est = small(ContrastiveICA, n_components=3).fit(X)
    est.ica_["a"].set_params(fun=np.tanh)  # a callable is code
    with pytest.raises(TypeError, match=r"fitted attribute 'ica_'.*ica_\['a'\]\.fun"):
        save(est, tmp_path / "m.zip")
    est.ica_["a"].set_params(fun="logcosh")
    est.scaler_ = StandardScaler().fit(X["a"])  # not on the allow-list
    with pytest.raises(TypeError, match="fitted attribute 'scaler_'.*StandardScaler"):
        save(est, tmp_path / "m.zip")
    del est.scaler_
    save(est, tmp_path / "m.zip")
    assert sorted(os.listdir(tmp_path)) == ["m.zip"]


@pytest.fixture(scope="module")
def fitted_cica():
    X, _ = make_data()
    return small(ContrastiveICA, n_components=3, pca_components=2).fit(X), X


def _ica(meta):
    return meta["fitted"]["ica_"]["a"]["__sklearn__"]


def _set(body, key, value):
    body[key] = value
    return body


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda m: _set(_ica(m), "class", "os.system") and m, "scikit-learn class 'os.system' is not one of"),
        (lambda m: _set(_ica(m), "class", "LogisticRegression") and m, "is not one of those a model file may hold"),
        (lambda m: _set(_ica(m)["params"], "evil", 1) and m, "FastICA has no parameter 'evil'"),
        (lambda m: _set(_ica(m)["params"], "max_iter", -1) and m, "invalid FastICA parameters"),
        (lambda m: _set(_ica(m)["fitted"], "evil_", 1) and m, "'evil_' is not a fitted attribute a FastICA"),
        (lambda m: _ica(m)["fitted"].pop("components_") and m, "'components_' of the FastICA is missing"),
        (
            lambda m: _set(_ica(m)["fitted"], "components_", encode(np.zeros((2, 7)), "c")) and m,
            "does not have n_features_in_",
        ),
        (
            lambda m: _set(_ica(m)["fitted"], "mean_", encode(np.full(2, np.nan), "c")) and m,
            "NaN or infinite",
        ),
        (lambda m: _set(m["params"], "n_components", m["fitted"]["ica_"]["a"]) and m, "not allowed here"),
        (lambda m: _set(m["fitted"], "n_components_", [{"__estimator__": {}}]) and m, "not allowed here"),
        (lambda m: _set(m["fitted"], "extra_", {"__estimator__": {"estimator": "os.system"}}) and m, "'os.system'"),
    ],
    ids=[
        "os-system",
        "foreign-class",
        "param-name",
        "param-value",
        "attribute-name",
        "attribute-missing",
        "shape",
        "nan",
        "object-in-params",
        "estimator-in-list",
        "nested-class",
    ],
)
def test_tampered_fitted_objects_are_refused(tamper, message, fitted_cica, tmp_path, no_unpickling):
    est, _ = fitted_cica
    path = save(est, tmp_path / "cica.zip")
    rewrite(path, meta=tamper)
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda b: _set(b, "class", "Linear"), "module class 'Linear' is not one of"),
        (lambda b: _set(b["state"], "weight", encode(np.zeros((3, 2, 1), np.float32), "w")), "TiedLinear"),
        (lambda b: _set(b["state"], "bias", encode(np.zeros(2, np.float32), "w")), "has keys"),
        (lambda b: _set(b["state"], "weight", encode(np.zeros((2, 8)), "w")), "shape and dtype"),
    ],
    ids=["class", "shape", "extra-key", "width"],
)
def test_tampered_fitted_module_is_refused(tamper, message, tmp_path):
    X, y = make_data()
    est = small(CausalInfoMinClassifier, method="ate", n_confounders=2, code_size=2, max_epochs=1).fit(X, y)
    path = save(est, tmp_path / "ate.zip")

    def edit(meta):
        tamper(meta["fitted"]["confounder_autoencoder_"]["__module__"])
        return meta

    rewrite(path, meta=edit)
    with pytest.raises(ValueError, match=message):
        load(path)


# ------------------------------------------------------------------------- the optimiser state
def _training_data(est, X, y):
    from skcausalmm._core.data import TensorDictDataset
    from skcausalmm._core.validation import split_missing

    data, availability = split_missing(est._validate_X(X, reset=False), est.modality_names_)
    y_enc = torch.from_numpy(np.searchsorted(est.classes_, y))
    return TensorDictDataset(est._to_tensors(data, availability, "cpu"), y_enc)


def test_training_continues_after_load(tmp_path):
    X, y = make_data()
    est = small(LateFusionClassifier, batch_size=64).fit(X, y)  # one batch per epoch
    loaded = load(save(est, tmp_path / "m.zip"))
    fresh = load(tmp_path / "m.zip")
    fresh.net_.initialize_optimizer()  # the same weights, a new optimiser: what a file without the state gives
    assert not fresh.net_.optimizer_.state_dict()["state"]
    for model in (est, loaded, fresh):
        model.net_.partial_fit(_training_data(model, X, y), None, epochs=1)
    after = {name: m.net_.module_.state_dict() for name, m in [("est", est), ("loaded", loaded), ("fresh", fresh)]}
    for key in after["est"]:
        torch.testing.assert_close(after["loaded"][key], after["est"][key], rtol=0, atol=1e-6)
    assert any(not torch.allclose(after["fresh"][k], after["est"][k], atol=1e-6) for k in after["est"])


def test_the_loading_machine_chooses_the_optimiser_step(tmp_path, monkeypatch):
    # a file saved where Adam's step is fused loads where it is not (an older torch), and the other way round
    import skcausalmm._core.base as base

    X, y = make_data()
    est = small(LateFusionClassifier, batch_size=64).fit(X, y)
    path = save(est, tmp_path / "m.zip")
    saved_fused = est.net_.optimizer_.param_groups[0].get("fused")
    monkeypatch.setattr(base, "fused_optimizer_params", lambda optimizer, device: {})
    plain = load(path)
    assert plain.net_.optimizer_.param_groups[0].get("fused") in (None, False)
    plain.net_.partial_fit(_training_data(plain, X, y), None, epochs=1)  # the default step runs
    monkeypatch.undo()
    if saved_fused:  # and back: a file of the default step loads with this machine's fused step
        again = load(save(plain, tmp_path / "plain.zip"))
        assert again.net_.optimizer_.param_groups[0]["fused"] is True
        assert all(state["step"].dtype == torch.float32 for state in again.net_.optimizer_.state.values())
        again.net_.partial_fit(_training_data(again, X, y), None, epochs=1)
        for a, b in zip(again.net_.module_.parameters(), plain.net_.module_.parameters()):
            assert torch.isfinite(a).all() and a.shape == b.shape


def test_sgd_with_momentum_round_trip(tmp_path):
    X, y = make_data()
    est = small(LateFusionClassifier, optimizer="sgd").fit(X, y)
    loaded = load(save(est, tmp_path / "m.zip"))
    assert_same_optimizer(est.net_.optimizer_, loaded.net_.optimizer_)


def test_version_1_file_without_optimizer_state_loads(saved):
    path, est, X = saved

    def as_version_1(meta):
        meta["format_version"] = 1
        del meta["net"]["optimizers"]
        return meta

    rewrite(path, meta=as_version_1, weights=lambda w: {k: v for k, v in w.items() if not k.startswith("optimizer.")})
    loaded = load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-6)
    assert loaded.net_.optimizer_.state_dict()["state"] == {}


def _optimizer(meta):
    return meta["net"]["optimizers"]["optimizer"]


def _first_group(meta):
    return _optimizer(meta)["param_groups"][0]


@pytest.mark.parametrize(
    "meta, weights, message",
    [
        (None, lambda w: {k: v for k, v in w.items() if k != "optimizer.optimizer.0.exp_avg"}, "do not match the JSON"),
        (None, lambda w: {**w, "optimizer.optimizer.0.exp_avg": torch.zeros(3)}, "has shape"),
        (
            None,
            lambda w: {**w, "optimizer.optimizer.0.exp_avg": torch.full_like(w["optimizer.optimizer.0.exp_avg"], np.inf)},
            "NaN or infinite",
        ),
        (lambda m: _set(m["net"], "optimizers", None) and m, None, "describes no optimiser state"),
        (lambda m: _set(m["net"], "optimizers", {"evil": {}}) and m, None, "must map the net's optimisers"),
        (lambda m: _set(_first_group(m), "lr", "fast") and m, None, "'lr' has the wrong kind"),
        (lambda m: _set(_first_group(m), "betas", {"__tuple__": [0.9]}) and m, None, "'betas' has the wrong kind"),
        (lambda m: _set(_first_group(m), "evil", 1) and m, None, "unknown optimiser setting 'evil'"),
        (lambda m: _set(_first_group(m), "params", [0, 1]) and m, None, "must list"),
        (lambda m: _set(_first_group(m), "params", [0] * len(_first_group(m)["params"])) and m, None, "twice"),
        (lambda m: _set(_optimizer(m), "param_groups", []) and m, None, "param_groups must be a list of 1"),
        (lambda m: _set(_optimizer(m), "state", {"__items__": [[10**6, {}]]}) and m, None, "state must map"),
    ],
    ids=[
        "tensor-dropped",
        "tensor-shape",
        "tensor-inf",
        "no-json",
        "unknown-optimizer",
        "lr-kind",
        "betas-length",
        "unknown-setting",
        "params-length",
        "params-repeated",
        "groups",
        "state-index",
    ],
)
def test_tampered_optimizer_state_is_refused(meta, weights, message, saved):
    path, _, _ = saved
    rewrite(path, meta=meta, weights=weights)
    with pytest.raises(ValueError, match=message):
        load(path)
