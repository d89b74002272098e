"""The scikit-learn side of the shared base: one estimator base, a classifier side and a transformer side.

:class:`BaseMultimodalEstimator` owns everything but the method: parameter
and input validation (once, at the door), missing modalities (an
availability mask), input standardisation, seeding, the device, the skorch
net, the validation split and early stopping, user callbacks, batched
inference and pickling. :class:`MultimodalClassifierMixin` adds labels,
class weights and ``predict``/``predict_proba``; :class:`MultimodalTransformerMixin`
trains without labels and adds ``transform``.

A method contributes a network and a loss (torch modules following the contract
written down, and checked when the net is built, in :mod:`skcausalmm.nn.contract`)
and a thin estimator that sets

* ``_module_class`` and ``_module_params(shapes, n_outputs)``: the network
  class and its constructor arguments (skorch builds it, so a fitted model
  pickles without its initial arguments holding device tensors);
* ``_criterion_class`` and ``_criterion_params(class_weight)``;
* optionally ``_net_class`` (a :class:`~skcausalmm._core.net.MultimodalNet`
  subclass with its own optimisation step) and ``_net_params()``;
* optionally ``_prepare(data, y)``, called once with the validated data
  before the network is built, and ``_after_fit(X, y, generator)``;
* ``_supports_missing``: whether the method accepts missing modalities (its
  network then gets the availability mask).

The skorch net is :mod:`skcausalmm._core.net`; the data, batching and callbacks
are beside it in :mod:`skcausalmm._core`.
"""

import copy
import itertools
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.helper import predefined_split
from skorch.utils import to_device

from .._compat import CallbackSupportMixin, Interval, StrOptions, _fit_context
from ..nn.contract import check_contract
from ..nn.encoders import EncoderFactory
from .batching import MappedRows, iter_batches
from .callbacks import EpochMetrics, EpochTasks, TrainingProgress, fitted_attributes
from .checks import (
    OPTIMIZERS,
    check_callbacks,
    check_optimizer,
    check_sample_weight,
    fused_optimizer_params,
    takes_weight_decay,
)
from .data import (
    AVAILABILITY_KEY,
    PREDICT_BATCH_SIZE,
    SAMPLE_WEIGHT_KEY,
    StandardizedInputs,
    TensorBatchIterator,
    TensorDictDataset,
    host_tensors,
)
from .device import resolve_device
from .distributed import (
    copy_training_state,
    data_fingerprint,
    data_parallel_accelerator,
    data_parallel_device,
    data_parallel_net,
    shared_seed,
)
from .net import MultimodalNet
from .rng import isolated, seeded
from .standardize import standardization_stats
from .threads import forward_flops, policy_threads, torch_threads
from .validation import check_modalities, split_missing

__all__ = ["BaseMultimodalEstimator", "MultimodalClassifierMixin", "MultimodalTransformerMixin"]


def _prefixed(prefix, params):
    return {f"{prefix}__{key}": value for key, value in params.items()}


class BaseMultimodalEstimator(CallbackSupportMixin, BaseEstimator):
    """Base class of every torch-trained estimator in skcausalmm (classifiers and transformers).

    Subclasses store their parameters in ``__init__`` (the shared ones are
    listed in :data:`skcausalmm._core.docstrings.SHARED_DEFAULTS`) and set the
    hooks described in the module docstring.
    """

    _parameter_constraints = {
        "modalities": [dict, None],
        "image_shapes": [dict, None],
        "encoders": [dict, None],
        "standardize": ["boolean"],
        # an upper bound: a width of 10**6 would try to allocate terabytes of weights
        "hidden_size": [Interval(numbers.Integral, 1, 16384, closed="both")],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    _net_class = MultimodalNet
    _module_class = None
    _criterion_class = None
    _supports_missing = False
    #: With missing modalities in the training data: the probability with which each present
    #: modality of a training row is dropped in a training step (a row keeps one), so that the
    #: network also learns the patterns with fewer modalities it will meet at prediction
    #: (:func:`~skcausalmm._core.net.drop_modalities`). Complete training data are never dropped.
    _modality_dropout = 0.0
    #: Whether the network predicts before ``_after_fit`` (scikit-learn callbacks then get a
    #: ready-to-predict estimator at the end of every epoch).
    _predicts_during_training = True
    #: torch module classes a fitted attribute may hold in a model file (each offers
    #: ``from_state(state)``: a fresh instance shaped for a state dict of arrays).
    _fitted_module_classes = ()
    #: Parameters under which scikit-learn's estimator checks (and the package's test suites)
    #: run this estimator on one table, e.g. a column selector for a method that needs
    #: several modalities; only the tests read it.
    _check_estimator_params = {}

    # ---------------------------------------------------------------- hooks
    def _module_params(self, shapes, n_outputs):  # pragma: no cover - abstract
        """Constructor arguments of ``_module_class``."""
        raise NotImplementedError

    def _criterion_params(self, class_weight):
        """Constructor arguments of ``_criterion_class``."""
        return {"class_weight": class_weight}

    def _net_params(self):
        """Constructor arguments of ``_net_class`` beyond skorch's own."""
        return {}

    def _optimization_params(self):
        """The learning rate and batch size the net trains with (a method may resolve values it leaves "auto")."""
        return {"lr": self.lr, "batch_size": self.batch_size}

    def _prepare(self, data, y, sample_weight=None):
        """Called once in ``fit`` with validated data (missing rows all-NaN), encoded ``y`` and weights.

        May set fitted attributes (e.g. resolved settings) and may return a
        new dict of modalities to train on; None keeps ``data``. When a
        warm start continues a fitted network (:meth:`_continues`), settings
        the network was built with must be kept.
        """

    def _after_fit(self, X, y, generator, sample_weight=None):
        """Called once after training with the standardised training tensors (eval mode, no grad).

        ``X`` also holds the availability mask under ``AVAILABILITY_KEY``
        when the estimator supports missing modalities; ``sample_weight`` is
        a tensor on the device, or None.
        """
        fit_dictionary = getattr(self.net_.module_, "fit_dictionary", None)
        if fit_dictionary is not None:
            inputs = {k: v for k, v in X.items() if k != AVAILABILITY_KEY}
            mask = {"availability": X[AVAILABILITY_KEY]} if self._supports_missing and AVAILABILITY_KEY in X else {}
            fit_dictionary(inputs, y, generator, sample_weight=sample_weight, **mask)

    def _expected_failed_checks(self):
        """scikit-learn estimator checks this estimator fails by design, with the reason (the tests read it).

        Returns
        -------
        checks : dict of str to str
        """
        return {}

    def _restore_fitted_state(self):
        """Rebuild private state from the fitted attributes of a loaded model, before its net is built.

        :func:`skcausalmm.load` sets the public fitted attributes (and nested fitted
        estimators) from the file, then calls this; a method that keeps private state
        derived from them (e.g. a frozen copy of a first-stage network) rebuilds it here.
        Raise ``ValueError`` when the attributes cannot make a working model.
        """

    def _continues(self):
        """Whether this ``fit`` continues the fitted network (``warm_start`` on a fitted estimator, or ``partial_fit``).

        Inside ``fit`` (e.g. in :meth:`_prepare`) it answers for the fit under way.
        """
        if "_continuing_fit" in self.__dict__:
            return self._continuing_fit
        return bool(getattr(self, "warm_start", False)) and "net_" in self.__dict__

    # --------------------------------------------------------------- helpers
    def _encoder_factory(self, shapes):
        """A picklable ``factory(name, out_features, project=True)`` honouring ``encoders``."""
        return EncoderFactory(shapes, self.hidden_size, self.encoders)

    def _validate_X(self, X, reset):
        """Validate X once; missing rows stay all-NaN (only where the estimator supports them)."""
        return check_modalities(
            X,
            estimator=self,
            modalities=self.modalities,
            image_shapes=self.image_shapes,
            reset=reset,
            allow_missing=self._supports_missing,
        )

    def _input_stats(self, data, availability, sample_weight=None):
        if not self.standardize:
            return None
        kinds = self.encoders or {}
        return {  # precomputed embeddings (an "identity" encoder) reach the network unchanged
            name: standardization_stats(array, availability[:, j], kind=kinds.get(name), sample_weight=sample_weight)
            for j, (name, array) in enumerate(data.items())
            if not (isinstance(kinds.get(name), str) and kinds.get(name) == "identity")
        }

    def _split(self, n, y, rng):
        """Train/validation indices for early stopping (not stratified; the classifier side stratifies)."""
        n_valid = int(np.ceil(self.validation_fraction * n))
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"early_stopping needs at least one sample on each side of the validation split; with {n} "
                f"samples and validation_fraction={self.validation_fraction} that is impossible."
            )
        split = ShuffleSplit(n_splits=1, test_size=n_valid, random_state=rng.randint(2**31 - 1))
        return next(split.split(np.zeros(n)))

    def _callbacks(self):
        cbs = [("training_progress", TrainingProgress()), ("epoch_metrics", EpochMetrics())]
        if self.early_stopping:
            cbs.append(
                ("early_stopping", EarlyStopping(monitor="valid_loss", patience=self.n_iter_no_change, load_best=True))
            )
        if self.verbose and self.verbose >= 2:
            cbs.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            cbs.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        return cbs

    def _to_tensors(self, data, availability, device, sample_weight=None):
        """The training data as tensors on ``device``; a memory-mapped modality stays mapped (:class:`MappedRows`).

        In-memory arrays become whole tensors on the device (on the CPU they share the
        arrays' memory); a memory map is read batch by batch during training, its
        missing rows (all NaN) zeroed as they are read.
        """
        tensors = host_tensors(data, availability, getattr(self, "modality_names_", None) or list(data))
        # (with the mask where some row misses a modality: the net hands it on to the networks that take one)
        tensors = {k: v if isinstance(v, MappedRows) else v.to(device) for k, v in tensors.items()}
        if sample_weight is not None:
            tensors[SAMPLE_WEIGHT_KEY] = torch.from_numpy(sample_weight.astype(np.float32)).to(device)
        return tensors

    def _class_weight_tensor(self, y):
        return None

    def _n_outputs(self):
        return None

    # ------------------------------------------------------------- training
    def _fit(self, data, y, sample_weight=None, *, continue_training=None, epochs=None):
        """Train on validated data: the template every estimator's ``fit`` calls.

        Parameters
        ----------
        data : dict of str to ndarray
            Output of :meth:`_validate_X` (missing rows all-NaN).
        y : ndarray of int or None
            Encoded labels (None for a transformer).
        sample_weight : ndarray of float64 or None, default=None
            Validated per-sample weights (see :func:`_check_sample_weight`).
        continue_training : bool or None, default=None
            Continue the fitted network instead of building a new one; None
            decides by ``warm_start`` (:meth:`_continues`). ``partial_fit``
            passes True once fitted.
        epochs : int or None, default=None
            Epochs to train (None: ``max_epochs``). ``partial_fit`` passes 1
            and trains without a validation split.
        """
        continues = self._continues() if continue_training is None else bool(continue_training)
        if continues:
            self._check_same_modalities(data)
        self._continuing_fit = continues
        try:
            return self._train(data, y, sample_weight, continues, epochs)
        finally:
            del self._continuing_fit

    def _fit_random_state(self):
        """The ``random_state`` this fit draws its seed from (a method that refits with other seeds overrides it)."""
        return self.random_state

    def _check_same_modalities(self, data):
        shapes = {k: tuple(v.shape[1:]) for k, v in data.items()}
        if list(data) != list(self.modality_names_) or shapes != dict(self.modality_shapes_):
            raise ValueError(
                f"{type(self).__name__} continues training the fitted network (warm_start or partial_fit), which "
                f"needs the modalities it was fitted on: {dict(self.modality_shapes_)}; got {shapes}. Fit a new "
                "estimator (warm_start=False) to change them."
            )

    def _train(self, data, y, sample_weight, continues, epochs):
        if not continues:
            self.modality_names_ = list(data)
            self.modality_shapes_ = {k: tuple(v.shape[1:]) for k, v in data.items()}
        prepared = self._prepare(data, y, sample_weight)
        if prepared is not None:
            data = prepared
        names = self.modality_names_
        data, availability = split_missing(data, names)
        never = [name for j, name in enumerate(names) if not availability[:, j].any()]
        if never:
            raise ValueError(
                f"Modality {never[0]!r} is missing (all NaN) in every training row; nothing can be learned "
                "from it. Drop it from X."
            )
        self.n_missing_ = {name: int((~availability[:, j]).sum()) for j, name in enumerate(names)}
        optimizer = check_optimizer(self.optimizer, self.weight_decay)
        self._check_closure_optimizer(optimizer)
        # None unless set_config(distributed="accelerate"): then every process of the run trains this network
        accelerator = data_parallel_accelerator(self, optimizer)
        if not continues:
            self.input_scaling_ = self._input_stats(data, availability, sample_weight)
            self.device_ = resolve_device(self.device) if accelerator is None else data_parallel_device(accelerator)
        check_callbacks(self.callbacks)
        n_epochs = self.max_epochs if epochs is None else int(epochs)
        if n_epochs == 0 and not continues:
            warnings.warn(
                f"{type(self).__name__}(max_epochs=0): the network is not trained; its predictions come "
                "from the initial weights.",
                UserWarning,
            )
        n = availability.shape[0]
        epoch_tasks = None
        if hasattr(self, "_init_callback_context"):  # scikit-learn >= 1.9: one task per fit, one subtask per epoch
            metadata = None if sample_weight is None else {"sample_weight": sample_weight}
            context = self._init_callback_context(max_subtasks=n_epochs)
            context.call_on_fit_task_begin(estimator=self, X=data, y=y, metadata=metadata)
            epoch_tasks = EpochTasks(self, context, data, y, metadata)

        rng = check_random_state(self._fit_random_state())
        seed = int(rng.randint(2**31 - 1))
        if accelerator is not None:  # every process draws the same batches, split and post-fit state
            seed, rng = shared_seed(accelerator, self, seed, rng, data_fingerprint(data, y, sample_weight))
        # A forked, seeded RNG state: the caller's global torch RNG is left as it was, and fits in
        # other threads wait (the global generator is shared by the process's threads).
        with seeded(seed, self.device_):
            generator = torch.Generator().manual_seed(seed)
            X_t = self._to_tensors(data, availability, self.device_, sample_weight)
            y_t = torch.from_numpy(y).to(self.device_) if y is not None else None
            if self.early_stopping and epochs is None:
                # both sides index the same tensors by row (no copy of the data)
                train_idx, valid_idx = self._split(n, y, rng)
                train_ds = TensorDictDataset(X_t, y_t, rows=torch.from_numpy(train_idx), device=self.device_)
                valid_ds = TensorDictDataset(X_t, y_t, rows=torch.from_numpy(valid_idx), device=self.device_)
                train_split = predefined_split(valid_ds)
            else:
                train_ds, train_split = TensorDictDataset(X_t, y_t, device=self.device_), None

            if continues:
                net = self.net_
                net.train_split = train_split
                net.modality_dropout = self._training_modality_dropout()  # follows the data of this fit
            else:
                net = self._make_net(
                    self._class_weight_tensor(y), train_split=train_split, seed=int(rng.randint(2**31 - 1))
                )
                self.net_ = net
                net.initialize()
            check_contract(
                net.module_,
                net.criterion_,
                self.modality_shapes_,
                pass_availability=net.pass_availability,
                n_classes=self._n_outputs(),
                weighted=sample_weight is not None,
                owner=type(self).__name__,
            )
            threads = policy_threads(
                self.device_,
                lambda: self._network_flops(net, self._first_batch(net, train_ds)),
                passes=3 * n_epochs * len(train_ds) + n_epochs * (n - len(train_ds)),  # forward + backward, validation
            )
            with torch_threads(threads):
                if n_epochs > 0:
                    trainer = net
                    if accelerator is not None:  # a data-parallel twin trains; its state then comes back into net
                        with isolated(self.device_):
                            trainer = data_parallel_net(net, accelerator)
                    trainer.epoch_listener_ = epoch_tasks
                    try:
                        trainer.partial_fit(train_ds, None, epochs=n_epochs)
                    finally:
                        del trainer.epoch_listener_
                    if trainer is not net:
                        copy_training_state(trainer, net)
                if train_split is not None:
                    # the fitted net keeps the validation rows only (as a copy), not all the training data;
                    # rows read from memory maps are not loaded into memory for that
                    streamed = any(isinstance(v, MappedRows) for v in X_t.values())
                    net.train_split = None if streamed else predefined_split(TensorDictDataset(valid_ds.X, valid_ds.y))
                self._check_finite(net, train_ds)
                net.module_.eval()
                with torch.no_grad():
                    # standardised on first use: nothing is computed for the modalities _after_fit does not read
                    modalities = StandardizedInputs(net, X_t)
                    self._after_fit(modalities, y_t, generator, sample_weight=X_t.get(SAMPLE_WEIGHT_KEY))
        self.history_ = net.history
        self.n_epochs_ = len(net.history)
        if epoch_tasks is not None:
            epoch_tasks.context.call_on_fit_task_end(
                estimator=self, **epoch_tasks.kwargs, reconstruction_attributes=lambda: fitted_attributes(self)
            )
        return self

    def _make_net(self, class_weight, train_split=None, seed=None):
        """The skorch net of this estimator (not initialised), from its parameters and fitted settings.

        Needs ``modality_names_``, ``modality_shapes_``, ``input_scaling_``,
        ``device_`` and whatever ``_module_params`` reads (e.g. ``classes_``);
        ``fit`` calls it, and so can code that rebuilds a fitted estimator
        from saved parameters and weights.
        """
        optimizer = check_optimizer(self.optimizer, self.weight_decay)
        return self._net_class(
            module=self._module_class,
            criterion=self._criterion_class,
            optimizer=optimizer,
            **({"optimizer__weight_decay": self.weight_decay} if takes_weight_decay(optimizer) else {}),
            **fused_optimizer_params(optimizer, self.device_),
            max_epochs=self.max_epochs,
            **self._optimization_params(),
            iterator_train=TensorBatchIterator,
            iterator_train__shuffle=True,
            iterator_train__seed=seed,
            iterator_valid=TensorBatchIterator,
            dataset=TensorDictDataset,
            train_split=train_split,
            callbacks=self._callbacks(),
            device=self.device_,
            verbose=int(self.verbose),
            input_stats=self.input_scaling_,
            modality_names=self.modality_names_,
            pass_availability=self._supports_missing,
            modality_dropout=self._training_modality_dropout(),
            **_prefixed("module", self._module_params(self.modality_shapes_, self._n_outputs())),
            **_prefixed("criterion", self._criterion_params(class_weight)),
            **self._net_params(),
        )

    def _training_modality_dropout(self):
        """``_modality_dropout`` when this fit's training data miss a modality somewhere, else 0."""
        return self._modality_dropout if any(getattr(self, "n_missing_", {}).values()) else 0.0

    def _check_closure_optimizer(self, optimizer):
        """A closure-based optimiser (LBFGS) needs skorch's training step, which re-evaluates the loss."""
        if not issubclass(optimizer, torch.optim.LBFGS):
            return
        own_step = [c.__name__ for c in self._net_class.__mro__ if c is not MultimodalNet and "train_step" in vars(c)]
        if own_step and own_step[0] != "NeuralNet":
            raise ValueError(
                f"{type(self).__name__} updates its network in several optimiser steps per batch (its net "
                f"{own_step[0]} has its own training step), which cannot re-evaluate the loss through a closure "
                f"as optimizer={optimizer.__name__} needs; use 'adam', 'adamw', 'sgd' or another first-order "
                "optimiser."
            )

    def _check_finite(self, net, dataset=None):
        """Refuse to return a model whose training diverged.

        Finite weights can still be large enough to overflow: the network is also run on the first
        batch of ``dataset`` and every output must be finite.
        """
        losses = net.history[:, "train_loss"] if len(net.history) and "train_loss" in net.history[-1] else []
        problem = None
        if any(not np.isfinite(v) for v in losses):
            problem = "non-finite training loss"
        elif any(not torch.isfinite(p).all() for p in net.module_.parameters()):
            problem = "non-finite network weights"
        elif dataset is not None and len(dataset) > 0:
            Xi = self._first_batch(net, dataset)
            was_training = net.module_.training
            net.module_.eval()
            with torch.no_grad():
                out = net.forward_module(Xi)
            net.module_.train(was_training)
            values = out.values() if isinstance(out, dict) else [out]
            if any(torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all() for v in values):
                problem = "non-finite network outputs on training rows"
        if problem:
            raise ValueError(
                f"{type(self).__name__}: training diverged ({problem}). Likely causes: a learning rate too large for the optimiser (lr="
                f"{self._optimization_params()['lr']!r}), inputs of extreme scale (use standardize=True), or extreme "
                "class weights."
            )

    @staticmethod
    def _first_batch(net, dataset):
        """The first inference batch of ``dataset`` (a dict of tensors on the net's device)."""
        Xi, _ = next(iter(net.get_iterator(dataset, training=False)))
        return to_device(Xi, net.device)

    @staticmethod
    def _network_flops(net, batch):
        """The network's forward floating-point operations per sample, counted on two rows of ``batch``.

        The count leaves torch's random state as it was: a fit draws the same numbers whether or
        not the thread policy needed to count.
        """
        rows = {k: v[:2] for k, v in batch.items()}
        with isolated(net.device):
            return forward_flops(net.module_, lambda: net.forward_module(rows), len(next(iter(rows.values()))))

    # ------------------------------------------------------------ inference
    @staticmethod
    def _call_module(fn, X, availability, **params):
        """Call ``fn`` (the network or one of its methods) on a standardised batch.

        ``availability`` is the mask where the network takes one, else None (what
        :meth:`~skcausalmm._core.net.MultimodalNet.prepare_batch` hands back).
        """
        if availability is not None:
            return fn(X, availability=availability, **params)
        return fn(X, **params)

    def _map_batches(self, X, fn):
        """Validate ``X`` once and apply ``fn(module, batch, availability)`` to fixed-size batches.

        The network is in eval mode and gradients are off; ``batch`` is
        standardised and ``availability`` is the mask where the network takes one,
        else None. ``fn`` returns a tensor or a dict of tensors with one
        row per sample; the padding rows are cut off and the results moved to
        numpy. Returns the list of per-batch results.
        """
        check_is_fitted(self, "net_")
        data = self._validate_X(X, reset=False)
        data, availability = split_missing(data, self.modality_names_)
        tensors = host_tensors(data, availability, self.modality_names_)  # memory maps are read batch by batch
        module = self.net_.module_
        module.eval()
        out = []

        def cut(t, n_valid):
            return t[:n_valid].float().cpu().numpy()

        batches = iter_batches(tensors, PREDICT_BATCH_SIZE, pad=True, device=self.device_)
        first = next(batches, None)
        if first is None:
            return out
        threads = policy_threads(self.device_, lambda: self._network_flops(self.net_, first[0]), passes=len(availability))
        with torch_threads(threads), torch.no_grad():
            for batch, n_valid in itertools.chain([first], batches):
                modalities, mask = self.net_.prepare_batch(batch)
                res = fn(module, modalities, mask)
                out.append({k: cut(v, n_valid) for k, v in res.items()} if isinstance(res, dict) else cut(res, n_valid))
        return out

    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        if net is not None:
            # skorch maps a CUDA-trained net to the CPU when CUDA is unavailable
            self.device_ = str(net.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.dict = True
        tags.input_tags.allow_nan = False  # only whole missing blocks, not NaN values in general
        return tags


class MultimodalClassifierMixin(ClassifierMixin, BaseMultimodalEstimator):
    """Classifier side of the base: labels, class weights, ``predict_proba`` and ``predict``.

    Subclass hooks (see :class:`BaseMultimodalEstimator`): a network whose
    output has ``"logits"``; optionally ``_predict_params()`` (prediction-time
    parameters, validated once per call and passed to the network's
    ``predict_proba``).
    """

    _parameter_constraints = {
        **BaseMultimodalEstimator._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }
    # a classifier meets every availability pattern at prediction (docs/reports/benchmarks.md, missing modalities)
    _modality_dropout = 0.3

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the classifier.

        Parameters
        ----------
        X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
            Training modalities: a mapping ``{name: array}`` whose arrays share
            the first dimension, or a table split by ``modalities``.
        y : array-like of shape (n_samples,)
            Class labels (any hashable type; at least two classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples in the supervised
            cross-entropies (multiplied by ``class_weight``) and in the input
            standardisation; each mini-batch's loss is the weighted mean over
            its samples. Terms that compare samples with each other
            (contrastive and adversarial ones) stay unweighted. None weighs
            every sample 1.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        continues = self._continues()
        data = self._validate_X(X, reset=not continues)
        n = next(iter(data.values())).shape[0]
        if continues:
            y_enc = self._encode_known_y(y, n, self.classes_, "warm_start=True")
        else:
            self.classes_, y_enc = self._encode_y(y, n)
        return self._fit(data, y_enc, check_sample_weight(sample_weight, n), continue_training=continues)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing the fitted network if there is one.

        The first call builds the network (its input standardisation is fitted
        on this first batch of data) and needs ``classes``; later calls train
        the same network one more epoch on the data they are given, with the
        optimiser's state kept. There is no validation split
        (``early_stopping`` does not apply); after every call the estimator is
        fitted and can predict.

        Parameters
        ----------
        X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
            Training modalities, with the same modalities and shapes on every call.
        y : array-like of shape (n_samples,)
            Class labels, all among ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class that can appear in ``y`` over all calls; required on the
            first call, ignored (if equal) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, as in :meth:`fit`.

        Returns
        -------
        self : object
            The estimator.
        """
        fitted = "net_" in self.__dict__
        data = self._validate_X(X, reset=not fitted)
        n = next(iter(data.values())).shape[0]
        if not fitted:
            if classes is None:
                raise ValueError(
                    f"{type(self).__name__}.partial_fit needs classes=... on its first call: every class that "
                    "y can take over all calls (the network's output layer is sized by it)."
                )
            known, _ = self._encode_y(np.asarray(classes), len(classes))
            self.classes_ = known
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(
                f"classes={list(np.unique(np.asarray(classes)))} differs from the classes of the first partial_fit "
                f"call, {list(self.classes_)}."
            )
        y_enc = self._encode_known_y(y, n, self.classes_, "partial_fit")
        return self._fit(data, y_enc, check_sample_weight(sample_weight, n), continue_training=fitted, epochs=1)

    def _expected_failed_checks(self):
        return {
            **super()._expected_failed_checks(),
            "check_sample_weight_equivalence_on_dense_data": (
                "float32 training: a weighted fit and the fit on repeated rows agree to about 1e-6 in "
                "predict_proba, not the check's 1e-7 (tests/_core/test_sample_weight.py checks it at 1e-5)"
            ),
        }

    def _encode_known_y(self, y, n_samples, classes, context):
        """Encode ``y`` against known classes (warm starts and partial fits; one class per call is fine)."""
        y = self._check_y(y, n_samples)
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"{context}: y has classes {list(unknown)} not seen when the network was built (classes_ = "
                f"{list(classes)}); fit a new estimator to add classes."
            )
        return np.searchsorted(classes, y).astype(np.int64)

    def _n_outputs(self):
        return len(self.classes_)

    def _encode_y(self, y, n_samples):
        y = self._check_y(y, n_samples)
        classes, y_enc = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"Classifier can't train when only one class is present: y has the single class {classes[0]!r}."
            )
        return classes, y_enc.astype(np.int64)

    def _check_y(self, y, n_samples):
        """Validate class labels: a 1-D array of ``n_samples`` finite, hashable labels."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        try:
            y = np.asarray(y)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise ValueError(f"y could not be converted to a 1-D array of class labels: {exc}") from None
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected.", DataConversionWarning)
        if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
            raise ValueError(f"y should be a 1d array of class labels, got an array of shape {y.shape} instead.")
        if y.dtype.kind == "c":
            raise ValueError(f"y has complex dtype {y.dtype}: complex data is not supported as class labels.")
        y = column_or_1d(y, warn=False)
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}.")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity.")
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValueError(f"y is not a valid classification target: {exc}") from None
        return y

    def _class_weight_tensor(self, y_enc):
        if self.class_weight is None:
            return None
        cw = self.class_weight
        if isinstance(cw, dict):
            unknown = set(cw) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names classes not in y: {sorted(map(str, unknown))}.")
            bad = {k: v for k, v in cw.items() if not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0}
            if bad:
                raise ValueError(f"class_weight values must be finite and non-negative, got {bad}.")
        weights = compute_class_weight(cw, classes=self.classes_, y=self.classes_[y_enc])
        if not (weights[np.unique(y_enc)] > 0).any():
            raise ValueError(
                f"class_weight={cw!r} gives weight 0 to every class in y, so the training loss is undefined; "
                "give at least one class a positive weight."
            )
        return torch.as_tensor(weights, dtype=torch.float32)

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

    def _predict_params(self):
        """Prediction-time parameters for the network's ``predict_proba`` (validated once per call)."""
        return {}

    def _predict_batch(self, module, X, availability, **params):
        """Class probabilities for one batch; networks may define ``predict_proba``."""
        predict = getattr(module, "predict_proba", None)
        if predict is not None:
            return self._call_module(predict, X, availability, **params)
        return torch.softmax(self._call_module(module, X, availability)["logits"], dim=1)

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
        params = self._predict_params()

        def batch_proba(module, X, availability):
            return self._predict_batch(module, X, availability, **params)

        proba = np.concatenate(self._map_batches(X, batch_proba)).astype(np.float64)
        bad = ~np.isfinite(proba).all(axis=1)
        if bad.any():
            raise ValueError(
                f"{type(self).__name__}: the network gives non-finite class scores for rows "
                f"{np.flatnonzero(bad)[:5].tolist()} (inputs far outside the training data's range overflow it, "
                "or its training diverged); check those rows' values."
            )
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

        def heads(module, batch, availability):
            logits = self._call_module(module, batch, availability).get("modality_logits")
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


class MultimodalTransformerMixin(TransformerMixin, BaseMultimodalEstimator):
    """Transformer side of the base: trained without labels, ``transform`` returns features.

    The network's loss gets ``y=None``. Subclasses implement
    ``_transform_batch(module, X, availability)`` returning one tensor of
    features per row (the default calls the network's ``transform`` method),
    and may post-process the stacked result in ``_finish_transform``.
    ``get_feature_names_out`` names the columns ``<classname><i>``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the transformer.

        Parameters
        ----------
        X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
            Training modalities.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        continues = self._continues()
        data = self._validate_X(X, reset=not continues)
        return self._fit(data, None, continue_training=continues)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch on ``X``, continuing the fitted network if there is one.

        The first call builds the network (its input standardisation is fitted on this first
        batch of data); later calls train the same network one more epoch on the data they are
        given, with the optimiser's state kept, so that a stream of fresh samples (e.g. from a
        simulator) trains one model. There is no validation split (``early_stopping`` does not
        apply); what a method fits after training (e.g. ContrastiveICA's ICA) is refitted on
        each call's data, and after every call the transformer is fitted.

        Parameters
        ----------
        X : dict, ModalityDict, array-like of shape (n_samples, n_features) or DataFrame
            Training modalities, with the same modalities and shapes on every call.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer.
        """
        fitted = "net_" in self.__dict__
        data = self._validate_X(X, reset=not fitted)
        return self._fit(data, None, continue_training=fitted, epochs=1)

    def _transform_batch(self, module, X, availability):
        return self._call_module(module.transform, X, availability)

    def _finish_transform(self, features):
        return features

    def transform(self, X):
        """Transform X into the learned features.

        Parameters
        ----------
        X : dict, ModalityDict, array-like or DataFrame
            Samples with the modalities seen in ``fit``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
        """
        features = np.concatenate(self._map_batches(X, self._transform_batch)).astype(np.float64)
        return self._finish_transform(features)

    @property
    def _n_features_out(self):
        """Number of columns ``transform`` returns, from the fitted state (a subclass defines it)."""
        raise AttributeError(f"{type(self).__name__} does not say how many features transform returns.")

    def get_feature_names_out(self, input_features=None):
        """Output feature names ``<classname><i>``.

        Parameters
        ----------
        input_features : None
            Ignored (the outputs are learned features, not input columns).

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "net_")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)
