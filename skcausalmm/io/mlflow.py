"""Log and serve fitted estimators with MLflow, without pickling them.

MLflow's scikit-learn flavour writes a model with pickle, cloudpickle or skops, and none of them
fits these estimators (see the user guide page "Saving and loading models"). :func:`save_model`
and :func:`log_model` write the estimator with :func:`skcausalmm.io.save` instead, and record it
as a generic ``python_function`` model whose loader module is this one: MLflow copies the model
file into the model directory (``data/``), and ``mlflow.pyfunc.load_model`` imports this module
and calls :func:`_load_pyfunc`, which reads the file with :func:`skcausalmm.io.load`. Nothing is
pickled: neither the estimator nor a wrapper object (there is no ``python_model.pkl``).

MLflow is imported inside the functions: the package imports without it. Install it with
``pip install skcausalmm[mlflow]``.
"""

import inspect
import os
import tempfile
from collections.abc import Mapping

import numpy as np

from .model_file import load, save

__all__ = ["METHODS", "MODEL_FILE_NAME", "log_model", "save_model"]

#: The prediction methods a logged model can run, for those the estimator has.
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")

#: The name of the model file in the MLflow model's ``data/`` folder.
MODEL_FILE_NAME = "skcausalmm_model.zip"

#: The keys of ``model_config`` the loader reads.
_CONFIG_KEYS = ("method", "device")

#: Arguments of ``mlflow.pyfunc.save_model`` / ``log_model`` that this module sets itself.
_RESERVED = ("loader_module", "data_path", "python_model", "artifacts", "code_paths", "infer_code_paths")


def _import_mlflow():
    """Import MLflow's pyfunc flavour, or raise an ImportError that says how to install it."""
    try:
        import mlflow
        import mlflow.pyfunc  # noqa: F401 - makes mlflow.pyfunc available as an attribute
    except ImportError as exc:
        raise ImportError(
            "Logging a model to MLflow requires mlflow (or mlflow-skinny): pip install skcausalmm[mlflow]"
        ) from exc
    return mlflow


def _check_method(estimator, method):
    """Refuse a method outside :data:`METHODS` or one the estimator lacks."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if not callable(getattr(estimator, method, None)):
        raise ValueError(f"{type(estimator).__name__} has no method {method!r}.")


def _to_estimator_input(data, estimator):
    """Turn what MLflow hands a ``python_function`` model into what the estimator accepts.

    A mapping (what MLflow passes for a dict input, or for a model signature of named tensors)
    becomes a dict of arrays. A DataFrame whose columns are exactly the estimator's modalities and
    hold one array (or nested list) per cell, as a request in ``dataframe_records`` or
    ``dataframe_split`` form gives them, becomes a dict of stacked arrays. Anything else (a table
    for an estimator fitted on a table, with ``modalities``) is passed on as it is.
    """
    if isinstance(data, Mapping):
        return {str(name): np.asarray(value) for name, value in data.items()}
    columns = getattr(data, "columns", None)
    modalities = getattr(estimator, "modality_shapes_", None)
    if columns is not None and modalities and set(map(str, columns)) == set(modalities):
        cells = [data[name].iloc[0] for name in columns] if len(data) else []
        if cells and all(isinstance(cell, (list, tuple, np.ndarray)) for cell in cells):
            return {str(name): np.stack([np.asarray(cell) for cell in data[name]]) for name in columns}
    return data


class _PyfuncEstimator:
    """The object ``mlflow.pyfunc.load_model`` wraps: a loaded estimator and its default method.

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator, as :func:`skcausalmm.io.load` returns it.
    method : str, default="predict"
        The method a call runs when its ``params`` name none.
    """

    def __init__(self, estimator, method="predict"):
        _check_method(estimator, method)
        self.estimator = estimator
        self.method = method

    def predict(self, data, params=None):
        """Run the estimator's prediction method on ``data``.

        Parameters
        ----------
        data : dict of str to array-like, DataFrame or array-like
            The input, as MLflow hands it over (see :func:`_to_estimator_input`).
        params : dict or None, default=None
            ``{"method": name}`` picks the method for this call; None (or a ``None`` value)
            runs the default one.

        Returns
        -------
        predictions : ndarray
            What the method returns, e.g. labels for ``"predict"`` or an array of shape
            ``(n_samples, n_classes)`` for ``"predict_proba"``.
        """
        params = dict(params or {})
        method = params.pop("method", None) or self.method
        if params:
            raise ValueError(f"Unknown params {sorted(params)}: the only parameter is 'method'.")
        _check_method(self.estimator, method)
        return np.asarray(getattr(self.estimator, method)(_to_estimator_input(data, self.estimator)))

    def get_raw_model(self):
        """Return the loaded estimator (``PyFuncModel.get_raw_model()`` calls this)."""
        return self.estimator


def _load_pyfunc(data_path, model_config=None):
    """Load a model written by :func:`save_model`; MLflow's ``load_model`` calls this.

    Parameters
    ----------
    data_path : str
        The model file in the model directory (``data/skcausalmm_model.zip``), or a folder that
        holds it.
    model_config : dict or None, default=None
        ``"method"`` (the default prediction method, written by :func:`save_model`) and
        ``"device"`` (passed to :func:`skcausalmm.io.load`, e.g. ``"cpu"``); give
        ``model_config={"device": "cpu"}`` to ``mlflow.pyfunc.load_model`` to choose the device.

    Returns
    -------
    model : object
        An object with ``predict(data, params=None)`` and ``get_raw_model()``.
    """
    config = dict(model_config or {})
    unknown = set(config) - set(_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"Unknown model_config keys {sorted(unknown)}; the loader reads {_CONFIG_KEYS}.")
    if os.path.isdir(data_path):
        data_path = os.path.join(data_path, MODEL_FILE_NAME)
    estimator = load(data_path, device=config.get("device"))
    return _PyfuncEstimator(estimator, config.get("method") or "predict")


def _signature(estimator, signature, input_example, method):
    """The model signature, declaring the ``method`` parameter with ``method`` as its default.

    Without a ``signature``, it is inferred from ``input_example`` and the estimator's output on
    it (or holds the parameter only, without an example); a given ``signature`` without a params
    schema gets the parameter added; one with a params schema is kept as it is.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ParamSchema, ParamSpec

    params = ParamSchema([ParamSpec("method", "string", method)])
    if signature is None:
        if input_example is None:
            return ModelSignature(params=params)
        output = getattr(estimator, method)(_to_estimator_input(input_example, estimator))
        return infer_signature(input_example, np.asarray(output), params={"method": method})
    if signature.params is None:
        return ModelSignature(inputs=signature.inputs, outputs=signature.outputs, params=params)
    return signature


def _prepare(estimator, method, signature, input_example, model_config, kwargs):
    """Check the arguments and build the keyword arguments shared by save_model and log_model."""
    mlflow = _import_mlflow()
    reserved = sorted(set(kwargs) & set(_RESERVED))
    if reserved:
        raise TypeError(f"{reserved} are set by skcausalmm.io.mlflow and cannot be passed.")
    _check_method(estimator, method)
    config = dict(model_config or {})
    unknown = set(config) - {"device"}
    if unknown:
        raise ValueError(f"Unknown model_config keys {sorted(unknown)}: only 'device' (method is an argument).")
    config = {"method": method, "device": config.get("device")}  # both keys written: load_model overrides only those
    signature = _signature(estimator, signature, input_example, method)
    return mlflow, dict(kwargs, loader_module=__name__, signature=signature, input_example=input_example,
                        model_config=config)


def save_model(estimator, path, *, method="predict", signature=None, input_example=None, model_config=None,
               **kwargs):
    """Save a fitted estimator as an MLflow ``python_function`` model, without pickle.

    The estimator is written with :func:`skcausalmm.io.save` (parameters as JSON, weights as
    safetensors) into ``path/data/skcausalmm_model.zip``; the ``MLmodel`` file names this module
    as the loader, so ``mlflow.pyfunc.load_model(path)`` reads the file with
    :func:`skcausalmm.io.load`. The estimator itself is never pickled, and no Python object is
    (MLflow's cloudpickled ``python_model`` is not used). Loading needs skcausalmm installed.

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator of the package (anything :func:`skcausalmm.io.save` accepts).
    path : str or os.PathLike
        The model directory to create (it must not exist or be empty).
    method : str, default="predict"
        The method the loaded model's ``predict`` runs by default, one of :data:`METHODS` that
        the estimator has (``"predict_proba"`` for probabilities); a call picks another one with
        ``params={"method": "predict_proba"}``.
    signature : mlflow.models.ModelSignature or None, default=None
        The model signature. None infers it from ``input_example`` (its inputs, and the output of
        ``method`` on it), with a params schema that declares ``method`` (a string whose default
        is ``method``); a signature without a params schema gets that one added (MLflow drops the
        ``params`` of a call that the signature does not declare).
    input_example : dict of str to ndarray, DataFrame or None, default=None
        A few samples of input, saved with the model (e.g. ``{"image": X_img[:2], "tabular":
        X_tab[:2]}``). An inferred signature then fixes each modality's dtype and per-sample
        shape, and MLflow checks the input of each call against them.
    model_config : dict or None, default=None
        ``{"device": "cpu"}`` sets the device the model loads on (default: as
        :func:`skcausalmm.io.load` resolves it). ``mlflow.pyfunc.load_model(path,
        model_config={"device": ...})`` overrides it at load time.
    **kwargs
        Passed on to ``mlflow.pyfunc.save_model`` (e.g. ``pip_requirements``,
        ``extra_pip_requirements``, ``metadata``); ``loader_module``, ``data_path``,
        ``python_model``, ``artifacts``, ``code_paths`` and ``infer_code_paths`` are set here
        and refused.

    Returns
    -------
    model : mlflow.models.Model
        What ``mlflow.pyfunc.save_model`` returns.

    Raises
    ------
    ImportError
        If MLflow is not installed.
    ValueError
        If ``method`` is not a method of the estimator listed in :data:`METHODS`, or
        ``model_config`` has keys other than ``"device"``.
    TypeError
        If the estimator cannot be saved (see :func:`skcausalmm.io.save`), or ``kwargs`` holds
        an argument set here.

    See Also
    --------
    log_model : Log the model to the active MLflow run.
    skcausalmm.io.save : The model file.

    Examples
    --------
    >>> import mlflow  # doctest: +SKIP
    >>> from skcausalmm.io.mlflow import save_model  # doctest: +SKIP
    >>> save_model(clf, "model_dir", input_example={"image": X_img[:2], "tabular": X_tab[:2]})  # doctest: +SKIP
    >>> model = mlflow.pyfunc.load_model("model_dir")  # doctest: +SKIP
    >>> model.predict({"image": X_img, "tabular": X_tab}, params={"method": "predict_proba"})  # doctest: +SKIP
    """
    mlflow, arguments = _prepare(estimator, method, signature, input_example, model_config, kwargs)
    with tempfile.TemporaryDirectory() as folder:
        data_path = save(estimator, os.path.join(folder, MODEL_FILE_NAME))
        return mlflow.pyfunc.save_model(os.fspath(path), data_path=data_path, **arguments)


def log_model(estimator, name="model", *, method="predict", signature=None, input_example=None,
              model_config=None, **kwargs):
    """Log a fitted estimator to MLflow as a ``python_function`` model, without pickle.

    As :func:`save_model`, but logged to the active run (or a new one) of the tracking server,
    like ``mlflow.pyfunc.log_model``; load it with ``mlflow.pyfunc.load_model(info.model_uri)``
    and serve it with ``mlflow models serve``. The estimator itself is never pickled.

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator of the package.
    name : str, default="model"
        The model's name (MLflow 3), or its ``artifact_path`` in the run (MLflow 2).
    method : str, default="predict"
        The default prediction method; see :func:`save_model`.
    signature : mlflow.models.ModelSignature or None, default=None
        The model signature; see :func:`save_model`.
    input_example : dict of str to ndarray, DataFrame or None, default=None
        A few samples of input; see :func:`save_model`.
    model_config : dict or None, default=None
        ``{"device": ...}``; see :func:`save_model`.
    **kwargs
        Passed on to ``mlflow.pyfunc.log_model`` (e.g. ``registered_model_name``,
        ``pip_requirements``), but for the arguments :func:`save_model` refuses.

    Returns
    -------
    info : mlflow.models.model.ModelInfo
        What ``mlflow.pyfunc.log_model`` returns; ``info.model_uri`` loads the model.

    Raises
    ------
    ImportError
        If MLflow is not installed.
    ValueError, TypeError
        As :func:`save_model`.

    See Also
    --------
    save_model : Save the model to a local directory.

    Examples
    --------
    >>> import mlflow  # doctest: +SKIP
    >>> from skcausalmm.io.mlflow import log_model  # doctest: +SKIP
    >>> with mlflow.start_run():  # doctest: +SKIP
    ...     info = log_model(clf, "model", input_example={"image": X_img[:2], "tabular": X_tab[:2]})
    >>> mlflow.pyfunc.load_model(info.model_uri).predict({"image": X_img, "tabular": X_tab})  # doctest: +SKIP
    """
    mlflow, arguments = _prepare(estimator, method, signature, input_example, model_config, kwargs)
    if "artifact_path" not in kwargs:
        accepts_name = "name" in inspect.signature(mlflow.pyfunc.log_model).parameters  # MLflow >= 3
        arguments["name" if accepts_name else "artifact_path"] = name
    with tempfile.TemporaryDirectory() as folder:
        data_path = save(estimator, os.path.join(folder, MODEL_FILE_NAME))
        return mlflow.pyfunc.log_model(data_path=data_path, **arguments)
