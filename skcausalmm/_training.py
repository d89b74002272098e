"""The skorch side of the package: the net, the batches, the callbacks and each method's step.

* :class:`MultimodalNet` is a skorch ``NeuralNet`` whose module takes and
  returns dicts. It owns the fixed input layer
  (:class:`~skcausalmm.modules.encoders.InputStandardizer`, ``standardizer_``)
  that standardises each modality and zeroes missing ones, and hands the
  availability mask to networks that take it.
* :func:`iter_batches` is the one helper that cuts data into mini-batches,
  for training (:class:`TensorBatchIterator`), for prediction (fixed-size
  padded batches) and for passes over the training data after fit.
* Methods that change the optimisation step subclass :class:`MultimodalNet`
  and override ``train_step_single`` or ``train_step`` (OGM-GE, MMPareto,
  MLA below); their parameters are constructor arguments of the net.

Nothing here knows about scikit-learn; the estimator layer is
:mod:`skcausalmm._base`.
"""

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator

from .modules._batching import MappedRows, iter_batches
from .modules.encoders import InputStandardizer
from .modules.imbalance import (
    GradientProjector,
    entropy_fusion,
    flatten,
    gradients,
    modulate_encoder_gradients,
    ogm_coefficients,
    pareto_gradients,
    pareto_weights,
    share_logits,
)

__all__ = [
    "AVAILABILITY_KEY",
    "SAMPLE_WEIGHT_KEY",
    "MLANet",
    "MMParetoNet",
    "MultimodalNet",
    "OGMGENet",
    "TensorBatchIterator",
    "TensorDictDataset",
    "iter_batches",
]

#: Key under which the availability mask travels with a batch's modality tensors.
AVAILABILITY_KEY = "__availability__"

#: Key under which per-sample weights travel with a batch (taken off before the network sees it).
SAMPLE_WEIGHT_KEY = "__sample_weight__"

#: Rows per batch for prediction-time passes.
PREDICT_BATCH_SIZE = 256


# --------------------------------------------------------------------------- data
class TensorDictDataset(torch.utils.data.Dataset):
    """Whole-tensor dataset: ``X`` a dict of tensors, ``y`` a tensor (or None).

    Parameters
    ----------
    X : dict of str to torch.Tensor or MappedRows
        One tensor per modality (and the availability mask under
        :data:`AVAILABILITY_KEY`), already on the training device; a
        memory-mapped modality is a :class:`~skcausalmm.modules._batching.MappedRows`,
        read batch by batch.
    y : torch.Tensor or None
        Encoded labels, on the same device.
    rows : torch.Tensor of int, default=None
        The rows of ``X`` and ``y`` that make the dataset (e.g. the training side
        of a validation split), so that a split does not copy the data; all rows
        when None. The batch iterators index the whole tensors with them; the
        attributes ``X`` and ``y`` then give the selected rows (a copy, made when
        read).
    device : str or torch.device, default=None
        Where the batches of memory-mapped modalities go (the training device).
    """

    def __init__(self, X, y=None, rows=None, device=None):
        self.rows = rows
        self.device = device
        self.X = X
        self.y = y

    def _take(self, value):
        if self.rows is None or value is None:
            return value
        rows = self.rows
        if isinstance(value, torch.Tensor) and rows.device != value.device:
            rows = rows.to(value.device)
        return value[rows]

    @property
    def X(self):
        """The modalities (the selected rows when ``rows`` is set)."""
        if self.rows is None:
            return self.all_X
        return {k: self._take(v) for k, v in self.all_X.items()}

    @X.setter
    def X(self, value):
        self.all_X = value

    @property
    def y(self):
        """The labels (the selected rows when ``rows`` is set)."""
        return self._take(self.all_y)

    @y.setter
    def y(self, value):
        self.all_y = value

    def __len__(self):
        if self.rows is not None:
            return int(self.rows.shape[0])
        return next(iter(self.all_X.values())).shape[0]

    def __getitem__(self, i):
        if self.rows is not None:
            i = self.rows[i]
            i = int(i) if i.ndim == 0 else i
        xi = {k: v[i] for k, v in self.all_X.items()}
        return xi, (self.all_y[i] if self.all_y is not None else torch.zeros(()))


class TensorBatchIterator:
    """Mini-batches taken by indexing whole tensors (no per-sample collation).

    skorch's default ``DataLoader`` fetches and collates one sample at a
    time, which dominates the cost of small multimodal networks. This
    iterator draws one permutation per epoch and slices every tensor with it.

    A dataset with memory-mapped modalities (:class:`~skcausalmm.modules._batching.MappedRows`)
    is streamed instead: each batch reads its rows from the map and moves them to the
    dataset's ``device`` (the same rows, in the same order, as from tensors in memory).

    Parameters
    ----------
    dataset : TensorDictDataset
        The data, already on the device (but for memory-mapped modalities).
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
        rows = getattr(self.dataset, "rows", None)
        if rows is not None:  # the whole tensors, indexed by the dataset's rows
            X, y = self.dataset.all_X, self.dataset.all_y
        else:
            X, y = self.dataset.X, self.dataset.y
        data = dict(X) if y is None else {**X, "__y__": y}
        streamed = any(isinstance(v, MappedRows) for v in X.values())
        order = None
        if self.shuffle:
            order = torch.randperm(len(self.dataset), generator=self.generator)
            if rows is not None:
                order = rows.cpu()[order]
        elif rows is not None:
            order = rows.cpu()
        target = None
        if streamed:  # the order stays on the CPU (it reads the maps); the batches go to the device
            target = getattr(self.dataset, "device", None)
        elif order is not None:
            order = order.to(next(iter(X.values())).device)
        for batch, _ in iter_batches(data, self.batch_size, order=order, device=target):
            yield batch, batch.pop("__y__", None)


# ---------------------------------------------------------------------- callbacks
class TrainingProgress(Callback):
    """Set ``progress = epoch / max_epochs`` on the network and the loss."""

    def on_epoch_begin(self, net, **kwargs):
        progress = (len(net.history) - 1) / max(net.max_epochs, 1)
        for obj in (net.module_, net.criterion_):
            if hasattr(obj, "progress"):
                obj.progress = float(progress)


class EpochMetrics(Callback):
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
    (skorch's default would spread a dict into keyword arguments), after the
    fixed input layer ``standardizer_``; the loss gets the module's output
    dict. Subclasses change the optimisation step by overriding
    :meth:`train_step_single`; they may put per-epoch values into
    ``self.epoch_records_`` to have them logged in ``history``.

    Parameters
    ----------
    *args, **kwargs
        skorch ``NeuralNet`` arguments.
    input_stats : dict of str to (ndarray, ndarray) or None, default=None
        ``(mean, scale)`` of each modality to standardise (see
        :class:`~skcausalmm.modules.encoders.InputStandardizer`).
    modality_names : list of str or None, default=None
        The modalities, in the order of the availability mask's columns.
    pass_availability : bool, default=False
        Hand the availability mask to the module (``module(X, availability=mask)``).
    """

    def __init__(self, *args, input_stats=None, modality_names=None, pass_availability=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_stats = input_stats
        self.modality_names = modality_names
        self.pass_availability = pass_availability

    def initialize_module(self):
        """Build the network (skorch's way, from ``module`` and ``module__*``) and the input layer."""
        super().initialize_module()
        self.standardizer_ = InputStandardizer(self.input_stats, names=self.modality_names)
        return self

    def prepare_batch(self, X):
        """Split off the availability mask (and sample weights) and standardise: return ``(modalities, availability)``."""
        X = dict(X)
        availability = X.pop(AVAILABILITY_KEY, None)
        X.pop(SAMPLE_WEIGHT_KEY, None)
        return self.standardizer_(X, availability), availability

    @staticmethod
    def batch_sample_weight(X):
        """The batch's per-sample weights, or None when the fit is unweighted."""
        return X.get(SAMPLE_WEIGHT_KEY) if isinstance(X, dict) else None

    def forward_module(self, X):
        """Run the module on standardised modalities (and the mask, for networks that take it)."""
        X, availability = self.prepare_batch(X)
        if self.pass_availability:
            return self.module_(X, availability=availability)
        return self.module_(X)

    def infer(self, x, **fit_params):
        """Run the module on a dict batch already on the device."""
        return self.forward_module(x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Return the loss module's value for the batch (weighted when ``X`` carries sample weights)."""
        sample_weight = self.batch_sample_weight(X)
        if sample_weight is None:
            return self.criterion_(y_pred, y_true)
        return self.criterion_(y_pred, y_true, sample_weight=sample_weight)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Open the epoch's task for scikit-learn callbacks (when an estimator set ``epoch_listener_``)."""
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        listener = self.__dict__.get("epoch_listener_")
        if listener is not None:
            listener.begin()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Close the epoch's task; a scikit-learn callback asking to stop ends training (as skorch's early stopping does)."""
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        listener = self.__dict__.get("epoch_listener_")
        if listener is not None and listener.end():
            raise KeyboardInterrupt  # skorch's fit loop stops cleanly on it

    def predict_proba(self, X):
        """Softmax of the network's ``"logits"``, over encoded classes (what skorch's scoring callbacks use).

        The estimator's own ``predict_proba`` adds what a method computes after training (e.g. the
        front door's dictionary average); this one serves skorch's ``EpochScoring`` and friends
        during training, whose labels are the encoded classes too.
        """
        probas = []
        for yp in self.forward_iter(X, training=False):
            logits = yp["logits"] if isinstance(yp, dict) else yp
            probas.append(torch.softmax(logits.detach(), dim=1).float().cpu().numpy())
        return np.concatenate(probas, 0)

    def predict(self, X):
        """Encoded class of the largest probability (see :meth:`predict_proba`)."""
        return self.predict_proba(X).argmax(axis=1)


class _EpochMeans:
    """Accumulate per-batch scalars and hand back their epoch means."""

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, key, value):
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.counts[key] = self.counts.get(key, 0) + 1

    def means(self):
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


class _RecordingNet(MultimodalNet):
    """A ``MultimodalNet`` that logs epoch means of per-batch values in ``history``."""

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self._batch_values = _EpochMeans()
        self.epoch_records_ = {}
        n = len(dataset_train) if dataset_train is not None else 0
        self._n_batches = max(1, math.ceil(n / self.batch_size)) if n else 1
        self._batch_index = 0

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        values = getattr(self, "_batch_values", None)
        self.epoch_records_ = values.means() if values is not None else {}

    def _record(self, key, value):
        if getattr(self, "_batch_values", None) is None:
            self._batch_values = _EpochMeans()
        self._batch_values.add(key, value)

    def _current_epoch(self):
        """0-based index of the epoch being trained."""
        return max(len(self.history) - 1, 0)



class OGMGENet(_RecordingNet):
    """skorch net of OGM-GE: the fused cross-entropy step, then on-the-fly gradient modulation.

    Parameters
    ----------
    alpha : float
        Modulation strength.
    modulation_epochs : tuple of (int, int)
        Modulation during epochs ``start <= e < end``.
    gaussian_enhancement : bool
        Add Gaussian noise to the modulated gradients.
    *args, **kwargs
        Passed to :class:`MultimodalNet`.

    Notes
    -----
    With a single modality nothing is modulated.
    """

    def __init__(self, *args, alpha, modulation_epochs, gaussian_enhancement, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.modulation_epochs = modulation_epochs
        self.gaussian_enhancement = gaussian_enhancement

    def train_step_single(self, batch, **fit_params):
        """Forward, fused loss, backward; then modulate the encoders' weight gradients."""
        step = super().train_step_single(batch, **fit_params)
        Xi, yi = unpack_data(batch)
        module = self.module_
        names = list(module.names)
        if len(names) < 2:
            return step
        weight = self.batch_sample_weight(Xi)
        with torch.no_grad():
            feats = {m: f.detach() for m, f in step["y_pred"]["features"].items()}
            logits = share_logits(module.head, feats, names)
            hits = {m: torch.softmax(logits[m], 1).gather(1, yi.view(-1, 1))[:, 0] for m in names}
            scores = {m: float(h.sum() if weight is None else (weight * h).sum()) for m, h in hits.items()}
        ratios, coeffs = ogm_coefficients(scores, self.alpha)
        start, end = self.modulation_epochs
        epoch = self._current_epoch()
        active = start <= epoch < end
        for m in names:
            self._record(f"ratio_{m}", ratios[m])
            self._record(f"coeff_{m}", coeffs[m] if active else 1.0)
        if active:
            modulate_encoder_gradients(module.encoders, coeffs, self.gaussian_enhancement)
        return step



class MMParetoNet(_RecordingNet):
    """skorch net of MMPareto: per-encoder Pareto merging of multimodal and unimodal gradients.

    Heads (fused and unimodal) keep the gradient of the summed loss.

    Parameters
    ----------
    gamma : float
        Scale of the merged encoder gradients.
    *args, **kwargs
        Passed to :class:`MultimodalNet`.
    """

    def __init__(self, *args, gamma, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma = gamma

    def train_step_single(self, batch, **fit_params):
        """Forward, the per-encoder gradients of both losses, summed backward, Pareto merge."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        module = self.module_
        fused, uni = self.criterion_.terms(y_pred, yi, self.batch_sample_weight(Xi))
        loss = fused + sum(uni.values())
        self.criterion_.last_terms_ = {"fused_ce": fused.detach(), **{f"ce_{m}": v.detach() for m, v in uni.items()}}

        # Two backward passes: one per loss. The unimodal losses of different modalities
        # touch disjoint encoders, so the gradient of their sum restricted to encoder m is
        # the gradient of L_m alone.
        params = [p for p in module.parameters() if p.requires_grad]
        g_mm = gradients(fused, params, retain_graph=True)
        g_uni = gradients(sum(uni.values()), params, retain_graph=False)
        position = {id(p): i for i, p in enumerate(params)}
        with torch.no_grad():
            for p, a, b in zip(params, g_mm, g_uni):
                p.grad = a + b  # heads (and anything else) keep the summed gradient
            for m in module.names:
                idx = [position[id(p)] for p in module.encoders[m].parameters() if id(p) in position]
                if not idx:
                    continue
                a, b = [g_mm[i] for i in idx], [g_uni[i] for i in idx]
                cos, weights = pareto_weights(flatten(a), flatten(b))
                new = pareto_gradients(a, b, [params[i].grad for i in idx], weights, self.gamma)
                for i, g in zip(idx, new):
                    params[i].grad = g
                self._record(f"cos_{m}", cos)
                self._record(f"weight_mm_{m}", weights[0])
        return {"loss": loss, "y_pred": y_pred}



class MLANet(_RecordingNet):
    """skorch net of MLA: one optimiser step per modality per batch, in turn.

    Parameters
    ----------
    projection : bool
        Apply :class:`~skcausalmm.modules.imbalance.GradientProjector` to the
        shared head's weight gradient.
    *args, **kwargs
        Passed to :class:`MultimodalNet`.
    """

    def __init__(self, *args, projection, **kwargs):
        super().__init__(*args, **kwargs)
        self.projection = projection

    def _projector(self):
        proj = getattr(self, "projector_", None)
        if proj is None:
            proj = self.projector_ = GradientProjector(self.module_.hidden_size)
        return proj

    def train_step(self, batch, **fit_params):
        """Alternating unimodal updates through the shared head; return the fused step."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        raw = Xi
        Xi, _ = self.prepare_batch(Xi)
        module = self.module_
        n_batches = getattr(self, "_n_batches", 1)
        alpha = 0.1 ** (getattr(self, "_batch_index", 0) / n_batches + 1.0)
        losses, logits, terms = [], {}, {}
        for m in module.names:
            self._zero_grad_optimizer(set_to_none=True)
            z = module.encode_one(m, Xi[m])
            out = module.head(z)
            loss = self.get_loss({"logits": out}, yi, X=raw, training=True)
            loss.backward()
            if self.projection and module.head.weight.grad is not None:
                self._projector().step(module.head.weight.grad, z.detach(), alpha)
            self.notify(
                "on_grad_computed",
                named_parameters=TeeGenerator(self.get_all_learnable_params()),
                batch=batch,
                training=True,
            )
            for name in self._optimizers:
                getattr(self, name + "_").step()
            losses.append(loss.detach())
            logits[m] = out.detach()
            terms[f"ce_{m}"] = loss.detach()
        self._batch_index = getattr(self, "_batch_index", 0) + 1
        self.criterion_.last_terms_ = terms
        y_pred = {"logits": entropy_fusion(logits), "modality_logits": logits}
        return {"loss": torch.stack(losses).mean(), "y_pred": y_pred}

