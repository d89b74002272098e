"""MLflow models without pickle: skcausalmm.io.mlflow.save_model / log_model.

The MLflow tests skip where mlflow is not installed (it is an optional extra); the error a user
gets without it is tested everywhere.
"""

import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from skcausalmm import LateFusionClassifier
from skcausalmm.io import load
from skcausalmm.io.mlflow import MODEL_FILE_NAME, log_model, save_model

from ..helpers import make_data

torch.set_num_threads(1)


@pytest.fixture
def mlflow(monkeypatch):
    """MLflow, refusing to unpickle any model (a cloudpickled ``python_model`` would not load)."""
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("mlflow.pyfunc")
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    return mlflow


pytestmark = [
    pytest.mark.filterwarnings("ignore:Environment variable MLFLOW_ALLOW_PICKLE_DESERIALIZATION:FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*An input example was not provided:UserWarning"),
]


@pytest.fixture(scope="module")
def fitted():
    X, y = make_data(60)
    return LateFusionClassifier(max_epochs=2, hidden_size=8, random_state=0).fit(X, y), X


def _estimator_of(model):
    """The estimator inside a loaded pyfunc model (``get_raw_model`` is missing from older MLflow)."""
    return model.get_raw_model() if hasattr(model, "get_raw_model") else model._model_impl.get_raw_model()


def _no_pickle_in(folder):
    """Every file of an MLflow model directory, with none that is a pickle."""
    files = [os.path.relpath(os.path.join(root, name), folder)
             for root, _, names in os.walk(folder) for name in names]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], files
    return files


def test_save_model_loads_and_predicts_without_pickle(mlflow, fitted, tmp_path):
    clf, X = fitted
    path = tmp_path / "model"
    save_model(clf, path, input_example={name: value[:2] for name, value in X.items()},
               pip_requirements=["skcausalmm"])  # no requirement inference (a subprocess loading the model)

    files = _no_pickle_in(path)
    assert os.path.join("data", MODEL_FILE_NAME) in files
    meta = (path / "MLmodel").read_text()
    assert "loader_module: skcausalmm.io.mlflow" in meta and "python_model" not in meta
    assert type(clf).__name__ not in meta
    assert (load(path / "data" / MODEL_FILE_NAME).predict(X) == clf.predict(X)).all()

    model = mlflow.pyfunc.load_model(str(path))
    assert model.metadata.get_params_schema().params[0].name == "method"
    assert (model.predict(X) == clf.predict(X)).all()
    proba = model.predict(X, params={"method": "predict_proba"})
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-6)
    assert type(_estimator_of(model)) is type(clf)


def test_default_method_dataframe_input_and_device(mlflow, fitted, tmp_path):
    clf, X = fitted
    path = tmp_path / "model"
    save_model(clf, path, method="predict_proba", pip_requirements=["skcausalmm"])
    model = mlflow.pyfunc.load_model(str(path), model_config={"device": "cpu"})
    assert _estimator_of(model).device_ == "cpu"

    np.testing.assert_allclose(model.predict(X), clf.predict_proba(X), atol=1e-6)
    assert (model.predict(X, params={"method": "predict"}) == clf.predict(X)).all()
    # a request in dataframe form: one column per modality, one array per cell
    frame = pd.DataFrame({name: list(value) for name, value in X.items()})
    np.testing.assert_allclose(model.predict(frame), clf.predict_proba(X), atol=1e-6)


def test_log_model_to_a_local_tracking_store(mlflow, fitted, tmp_path, monkeypatch):
    clf, X = fitted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 prefers a database store
    with mlflow.start_run():
        info = log_model(clf, "classifier", pip_requirements=["skcausalmm"])
    model = mlflow.pyfunc.load_model(info.model_uri)
    assert (model.predict(X) == clf.predict(X)).all()


def test_arguments_are_checked(mlflow, fitted, tmp_path):
    clf, X = fitted
    with pytest.raises(ValueError, match="method must be one of"):
        save_model(clf, tmp_path / "a", method="fit")
    with pytest.raises(ValueError, match="has no method 'transform'"):
        save_model(clf, tmp_path / "b", method="transform")
    with pytest.raises(TypeError, match="python_model"):
        save_model(clf, tmp_path / "c", python_model=object())
    with pytest.raises(ValueError, match="model_config"):
        save_model(clf, tmp_path / "d", model_config={"method": "predict_proba"})
    save_model(clf, tmp_path / "e", pip_requirements=["skcausalmm"])
    model = mlflow.pyfunc.load_model(str(tmp_path / "e"))
    with pytest.raises(ValueError, match="method must be one of"):
        model.predict(X, params={"method": "__class__"})


def test_clear_error_without_mlflow(fitted, tmp_path, monkeypatch):
    clf, _ = fitted
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now fails, as if not installed
    with pytest.raises(ImportError, match=r"pip install skcausalmm\[mlflow\]"):
        save_model(clf, tmp_path / "model")
    with pytest.raises(ImportError, match=r"pip install skcausalmm\[mlflow\]"):
        log_model(clf)
