"""The shared scikit-learn + skorch base of every classifier in the package.

A method contributes two torch modules and nothing else:

* a **network**: ``forward(X)`` takes ``{modality: tensor}`` and returns a
  dict of tensors that contains ``"logits"`` (what training accuracy is
  measured on) and whatever its loss needs; optionally
  ``predict_proba(X, **kwargs)`` for inference that differs from
  ``softmax(logits)`` and ``fit_dictionary(X, y, generator)``, called once
  after training;
* a **loss**: ``forward(outputs, y)`` returns a scalar; it may expose
  ``last_terms_`` (a dict of floats) which is logged per epoch.

Both may have a ``progress`` attribute: it is set to ``epoch / max_epochs``
at the start of every epoch (for ramps and modulation windows). Methods that
change the optimisation step itself (gradient modulation, Pareto merging,
alternating updates) subclass :class:`MultimodalNet` and override its
``train_step_single``; the loop, the batching, the validation split, early
stopping, seeding, the device and the callbacks stay here.
"""

import copy
import numbers
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, ProgressBar
from skorch.dataset import unpack_data
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from torch import nn

from ._validation import check_modalities
from .encoders import make_encoder, output_size

__all__ = ["MultimodalClassifierMixin", "MultimodalNet", "TensorBatchIterator"]

PREDICT_BATCH_SIZE = 256


def _padded_batches(data, device, batch_size=PREDICT_BATCH_SIZE):
    """Yield ``(batch, n_valid)`` with every batch padded to ``batch_size`` rows.

    float32 matrix products can differ in the last bits with the number of
    rows; a constant batch shape makes a sample's prediction independent of
    what else is predicted with it (scikit-learn's subset-invariance check).
    """
    n = next(iter(data.values())).shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch = {}
        for k, v in data.items():
            chunk = torch.from_numpy(v[start:stop])
            if stop - start < batch_size:
                pad = chunk.new_zeros((batch_size - (stop - start),) + tuple(chunk.shape[1:]))
                chunk = torch.cat([chunk, pad])
            batch[k] = chunk.to(device)
        yield batch, stop - start


# --------------------------------------------------------------------------- data
class TensorDictDataset(torch.utils.data.Dataset):
    """Whole-tensor dataset: ``X`` a dict of tensors, ``y`` a tensor (or None).

    Parameters
    ----------
    X : dict of str to torch.Tensor
        One tensor per modality, already on the training device.
    y : torch.Tensor or None
        Encoded labels, on the same device.
    """

    def __init__(self, X, y=None):
        self.X = X
        self.y = y

    def __len__(self):
        return next(iter(self.X.values())).shape[0]

    def __getitem__(self, i):
        xi = {k: v[i] for k, v in self.X.items()}
        return xi, (self.y[i] if self.y is not None else torch.zeros(()))


class TensorBatchIterator:
    """Mini-batches taken by indexing whole tensors (no per-sample collation).

    skorch's default ``DataLoader`` fetches and collates one sample at a
    time, which dominates the cost of small multimodal networks. This
    iterator draws one permutation per epoch and slices every tensor with it.

    Parameters
    ----------
    dataset : TensorDictDataset
        The data, already on the device.
    batch_size : int, default=128
        Samples per batch.
    shuffle : bool, default=False
        Draw a new permutation each epoch.
    seed : int or None, default=None
        Seed of the permutation generator.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, seed=None):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(int(seed))

    def __len__(self):
        n = len(self.dataset)
        return (n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n = len(self.dataset)
        if self.shuffle:
            device = next(iter(X.values())).device
            order = torch.randperm(n, generator=self.generator).to(device)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                yield {k: v[idx] for k, v in X.items()}, (y[idx] if y is not None else None)
        else:
            for start in range(0, n, self.batch_size):
                sl = slice(start, start + self.batch_size)
                yield {k: v[sl] for k, v in X.items()}, (y[sl] if y is not None else None)


# ---------------------------------------------------------------------- callbacks
class _TrainingProgress(Callback):
    """Set ``progress = epoch / max_epochs`` on the network and the loss."""

    def on_epoch_begin(self, net, **kwargs):
        progress = (len(net.history) - 1) / max(net.max_epochs, 1)
        for obj in (net.module_, net.criterion_):
            if hasattr(obj, "progress"):
                obj.progress = float(progress)


class _EpochMetrics(Callback):
    """Record accuracy and the loss's named terms per epoch, from the batches' outputs."""

    def on_epoch_begin(self, net, **kwargs):
        self._correct = {"train": 0, "valid": 0}
        self._count = {"train": 0, "valid": 0}
        self._terms = {}

    def on_batch_end(self, net, batch, training, y_pred=None, **kwargs):
        prefix = "train" if training else "valid"
        _, yi = unpack_data(batch)
        if isinstance(y_pred, dict) and "logits" in y_pred and yi is not None:
            self._correct[prefix] += int((y_pred["logits"].argmax(1) == yi).sum())
            self._count[prefix] += int(yi.shape[0])
        terms = getattr(net.criterion_, "last_terms_", None)
        if training and terms:
            n = int(yi.shape[0]) if yi is not None else 1
            for key, value in terms.items():
                total, count = self._terms.get(key, (0.0, 0))
                self._terms[key] = (total + float(value) * n, count + n)

    def on_epoch_end(self, net, **kwargs):
        for prefix in ("train", "valid"):
            if self._count[prefix]:
                net.history.record(f"{prefix}_acc", self._correct[prefix] / self._count[prefix])
        for key, (total, count) in self._terms.items():
            net.history.record(key, total / count)
        for extra in getattr(net, "epoch_records_", {}).items():
            net.history.record(*extra)


# ----------------------------------------------------------------------- the net
class MultimodalNet(NeuralNet):
    """skorch ``NeuralNet`` whose module takes and returns dicts.

    The module gets the whole ``{modality: tensor}`` batch as one argument
    (skorch's default would spread a dict into keyword arguments), and the
    loss gets the module's output dict. Subclasses change the optimisation
    step by overriding :meth:`train_step_single`; they may put per-epoch
    values into ``self.epoch_records_`` to have them logged in ``history``.
    """

    def infer(self, x, **fit_params):
        """Run the module on a dict batch already on the device."""
        return self.module_(x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Return the loss module's value for the batch."""
        return self.criterion_(y_pred, y_true)

    def __getstate__(self):
        state = super().__getstate__()
        # ``module``/``criterion`` hold the same instances as ``module_``/``criterion_``,
        # which skorch stores device-independently; keep only the latter so that a
        # model trained on a GPU unpickles on a CPU-only machine.
        for name in ("module", "criterion"):
            if isinstance(state.get(name), nn.Module):
                state[name] = type(state[name])
        return state


# --------------------------------------------------------------- the estimator
def resolve_device(device):
    """Resolve ``"auto"`` to ``"cuda"`` when available, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use device='auto' or 'cpu'.")
    return str(device)


_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class MultimodalClassifierMixin(ClassifierMixin, BaseEstimator):
    """Base class of every multimodal classifier in skcausalmm.

    It owns everything but the method: input validation, label encoding,
    seeding, the device, the skorch net with whole-tensor batches, the
    stratified validation split and early stopping, callbacks, batched
    prediction and pickling. A subclass defines ``__init__`` (storing its own
    parameters and the shared ones that ``LateFusionClassifier`` documents:
    ``modalities``, ``image_shapes``, ``encoders``, ``hidden_size``,
    ``max_epochs``, ``lr``, ``batch_size``, ``optimizer``, ``weight_decay``,
    ``class_weight``, ``early_stopping``, ``validation_fraction``,
    ``n_iter_no_change``, ``callbacks``, ``device``, ``random_state``,
    ``verbose``), ``_build_network(shapes, n_classes)`` and
    ``_build_loss(class_weight)``; it may override ``_net_class`` (a
    :class:`MultimodalNet` subclass with its own optimisation step),
    ``_configure_net``, ``_after_fit``, ``_predict_batch`` and
    ``_predict_kwargs``.
    """

    _parameter_constraints = {
        "modalities": [dict, None],
        "image_shapes": [dict, None],
        "encoders": [dict, None],
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _net_class = MultimodalNet

    # ---------------------------------------------------------------- hooks
    def _build_network(self, shapes, n_classes):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_loss(self, class_weight):  # pragma: no cover - abstract
        raise NotImplementedError

    def _after_fit(self, X, y, generator):
        """Called once after training with the training tensors (eval mode, no grad)."""
        fit_dictionary = getattr(self.net_.module_, "fit_dictionary", None)
        if fit_dictionary is not None:
            fit_dictionary(X, y, generator)

    def _predict_batch(self, module, X):
        """Class probabilities for one batch; networks may define ``predict_proba``."""
        predict = getattr(module, "predict_proba", None)
        if predict is not None:
            return predict(X, **self._predict_kwargs())
        return torch.softmax(module(X)["logits"], dim=1)

    def _predict_kwargs(self):
        return {}

    # --------------------------------------------------------------- helpers
    def _encoder_factory(self, shapes):
        """Return ``make(name, out_features)`` building the encoder of one modality.

        It honours ``encoders`` (a kind, a module or a callable per modality)
        and otherwise picks by shape; a user module whose output size differs
        from ``out_features`` gets a linear projection appended.
        """
        specs = self.encoders or {}
        unknown = set(specs) - set(shapes)
        if unknown:
            raise ValueError(f"`encoders` names unknown modalities {sorted(unknown)}; the data has {sorted(shapes)}.")

        def make(name, out_features, project=True):
            encoder = make_encoder(shapes[name], out_features, self.hidden_size, kind=specs.get(name))
            size = output_size(encoder, shapes[name])
            if project and size != out_features:
                encoder = nn.Sequential(encoder, nn.Linear(size, out_features))
            return encoder

        return make

    def _make_encoders(self, shapes):
        """Build one encoder per modality (``hidden_size`` outputs, or a user module's own) and their sizes."""
        make = self._encoder_factory(shapes)
        encoders, dims = nn.ModuleDict(), {}
        for name, shape in shapes.items():
            encoders[name] = make(name, self.hidden_size, project=False)
            dims[name] = output_size(encoders[name], shape)
        return encoders, dims

    def _check_X(self, X, reset):
        return check_modalities(
            X,
            estimator=self,
            modalities=self.modalities,
            image_shapes=self.image_shapes,
            reset=reset,
        )

    def _encode_y(self, y, n_samples):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected.",
                DataConversionWarning,
            )
        y = column_or_1d(y, warn=False)
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}.")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity.")
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                "Classifier can't train when only one class is present: y has the "
                f"single class {classes[0]!r}."
            )
        return classes, y_enc.astype(np.int64)

    def _class_weight_tensor(self, y_enc):
        if self.class_weight is None:
            return None
        cw = self.class_weight
        if isinstance(cw, dict):
            unknown = set(cw) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names classes not in y: {sorted(map(str, unknown))}.")
        weights = compute_class_weight(cw, classes=self.classes_, y=self.classes_[y_enc])
        return torch.as_tensor(weights, dtype=torch.float32)

    def _to_tensors(self, data, device):
        return {k: torch.from_numpy(v).to(device) for k, v in data.items()}

    def _split(self, n, y_enc, rng):
        """Stratified train/validation indices for early stopping."""
        n_valid = int(np.ceil(self.validation_fraction * n))
        counts = np.bincount(y_enc)
        if n_valid < len(counts) or n - n_valid < len(counts) or counts.min() < 2:
            raise ValueError(
                f"early_stopping needs a validation split with every class on both sides; "
                f"with {n} samples, validation_fraction={self.validation_fraction} and "
                f"smallest class count {counts.min()} that is impossible."
            )
        sss = StratifiedShuffleSplit(n_splits=1, test_size=n_valid, random_state=rng.randint(2**31 - 1))
        return next(sss.split(np.zeros(n), y_enc))

    def _callbacks(self):
        cbs = [("training_progress", _TrainingProgress()), ("epoch_metrics", _EpochMetrics())]
        if self.early_stopping:
            cbs.append(
                (
                    "early_stopping",
                    EarlyStopping(monitor="valid_loss", patience=self.n_iter_no_change, load_best=True),
                )
            )
        if self.verbose and self.verbose >= 2:
            cbs.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            cbs.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        return cbs

    # ------------------------------------------------------------------- API
    def fit(self, X, y):
        """Fit the classifier.

        Parameters
        ----------
        X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
            Training modalities: a mapping ``{name: array}`` whose arrays share
            the first dimension, or a table split by ``modalities``.
        y : array-like of shape (n_samples,)
            Class labels (any hashable type; at least two classes).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y)

    def _fit(self, X, y):
        data = self._check_X(X, reset=True)
        n = next(iter(data.values())).shape[0]
        self.classes_, y_enc = self._encode_y(y, n)
        self.modality_shapes_ = {k: tuple(v.shape[1:]) for k, v in data.items()}
        self.modality_names_ = list(data)
        self.device_ = resolve_device(self.device)

        rng = check_random_state(self.random_state)
        seed = rng.randint(2**31 - 1)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)

        module = self._build_network(self.modality_shapes_, len(self.classes_))
        criterion = self._build_loss(self._class_weight_tensor(y_enc))

        X_t = self._to_tensors(data, self.device_)
        y_t = torch.from_numpy(y_enc).to(self.device_)
        if self.early_stopping:
            train_idx, valid_idx = self._split(n, y_enc, rng)
            ti = torch.from_numpy(train_idx).to(self.device_)
            vi = torch.from_numpy(valid_idx).to(self.device_)
            train_ds = TensorDictDataset({k: v[ti] for k, v in X_t.items()}, y_t[ti])
            valid_ds = TensorDictDataset({k: v[vi] for k, v in X_t.items()}, y_t[vi])
            train_split = predefined_split(valid_ds)
        else:
            train_ds, train_split = TensorDictDataset(X_t, y_t), None

        optimizer = _OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer
        net = self._net_class(
            module=module,
            criterion=criterion,
            optimizer=optimizer,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=TensorBatchIterator,
            iterator_train__shuffle=True,
            iterator_train__seed=int(rng.randint(2**31 - 1)),
            iterator_valid=TensorBatchIterator,
            dataset=TensorDictDataset,
            train_split=train_split,
            callbacks=self._callbacks(),
            device=self.device_,
            verbose=int(self.verbose),
        )
        self.net_ = net
        net.initialize()
        self._configure_net(net)
        if self.max_epochs > 0:
            net.partial_fit(train_ds, None)
        net.module_.eval()
        with torch.no_grad():
            self._after_fit(X_t, y_t, generator)
        self.history_ = net.history
        self.n_epochs_ = len(net.history)
        return self

    def _configure_net(self, net):
        """Hook to pass method parameters to a net subclass after initialisation."""

    def _map_batches(self, X, fn):
        """Validate ``X`` and apply ``fn(module, batch)`` to fixed-size batches in eval mode.

        ``fn`` returns a tensor or a dict of tensors with one row per sample;
        the padding rows are cut off and the results moved to numpy. Returns
        the list of per-batch results.
        """
        check_is_fitted(self, "net_")
        data = self._check_X(X, reset=False)
        module = self.net_.module_
        module.eval()
        out = []

        def cut(t, n_valid):
            return t[:n_valid].float().cpu().numpy()

        with torch.no_grad():
            for batch, n_valid in _padded_batches(data, self.device_):
                res = fn(module, batch)
                out.append({k: cut(v, n_valid) for k, v in res.items()} if isinstance(res, dict) else cut(res, n_valid))
        return out

    def predict_proba(self, X):
        """Predict class probabilities.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        proba = np.concatenate(self._map_batches(X, self._predict_batch)).astype(np.float64)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def modality_proba(self, X):
        """Per-modality class probabilities of the network's per-modality heads.

        The heads are linear classifiers on each modality's representation
        (trained on detached features unless the method says otherwise), so
        they measure what each modality's encoder knows on its own.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        proba : dict of str to ndarray of shape (n_samples, n_classes)
        """
        def heads(module, batch):
            logits = module(batch).get("modality_logits")
            if logits is None:
                raise AttributeError(f"{type(self).__name__}'s network has no per-modality heads.")
            return {name: torch.softmax(value, 1) for name, value in logits.items()}

        parts = self._map_batches(X, heads)
        return {name: np.concatenate([p[name] for p in parts]).astype(np.float64) for name in parts[0]}

    def predict_log_proba(self, X):
        """Predict the logarithm of class probabilities.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self, "net_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        if net is not None:
            # skorch maps a CUDA-trained net to the CPU when CUDA is unavailable
            self.device_ = str(net.device)
