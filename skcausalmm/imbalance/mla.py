"""MLA: multimodal learning by alternating unimodal adaptation (Zhang et al., CVPR 2024).

Three layers in one file: the torch pieces (:class:`GradientProjector`,
:func:`entropy_weights`, :func:`entropy_fusion`, :class:`MLANetwork`, :class:`UnimodalLoss`),
the training step (:class:`MLANet`: one optimiser step per modality per batch, in turn) and the
estimator (:class:`MLAClassifier`).
"""

import numpy as np
import torch
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn

from .._core.base import MultimodalClassifierMixin
from .._core.docstrings import fill_shared_docs
from .._core.net import RecordingNet
from ..nn.losses import cross_entropy, present_columns

__all__ = [
    "GradientProjector",
    "MLAClassifier",
    "MLANet",
    "MLANetwork",
    "UnimodalLoss",
    "entropy_fusion",
    "entropy_weights",
]


class GradientProjector:
    """MLA's gradient projection on the shared head (a recursive-least-squares projector).

    One projection matrix ``P`` (``d x d``, initially the identity) is shared
    by all modalities, as in the official code. Before every optimiser step but
    the first, with ``r`` the batch mean of the head's input features (a row)::

        k = P r^T;  P <- P - k k^T / (alpha + r k);  P <- P / ||P||_F
        grad_W <- grad_W P^T

    so that the head's weight moves in directions (approximately) orthogonal to
    the features of earlier updates, i.e. of the other modalities. ``alpha =
    0.1 ** (batch_index / n_batches + 1)``.

    Parameters
    ----------
    dim : int
        Input size of the shared head.
    """

    def __init__(self, dim):
        self.dim = int(dim)
        self.P = None
        self.count = 0

    def step(self, weight_grad, features, alpha):
        """Update ``P`` with the batch's features and project ``weight_grad`` in place.

        Parameters
        ----------
        weight_grad : torch.Tensor of shape (n_classes, dim)
        features : torch.Tensor of shape (n, dim)
            The head's input for this update (detached).
        alpha : float
        """
        if self.P is None or self.P.device != weight_grad.device:
            self.P = torch.eye(self.dim, dtype=weight_grad.dtype, device=weight_grad.device)
        if self.count > 0:
            r = features.mean(0, keepdim=True)  # (1, d)
            k = self.P @ r.T  # (d, 1)
            self.P = self.P - (k @ k.T) / (alpha + float(r @ k))
            self.P = self.P / torch.linalg.norm(self.P)
            weight_grad.copy_(weight_grad @ self.P.T)
        self.count += 1

    def __getstate__(self):
        # P as a numpy array: serialisers that rebuild objects from their state (skops) cannot
        # construct a bare torch tensor outside a module
        state = dict(self.__dict__)
        if state["P"] is not None:
            state["P_device"] = str(state["P"].device)
            state["P"] = state["P"].detach().cpu().numpy()
        return state

    def __setstate__(self, state):
        state = dict(state)
        device = state.pop("P_device", "cpu")
        if state.get("P") is not None:
            P = torch.from_numpy(np.asarray(state["P"]))
            state["P"] = P.to(device) if torch.device(device).type != "cuda" or torch.cuda.is_available() else P
        self.__dict__.update(state)


def entropy_weights(logits, present=None):
    """Per-sample fusion weights: softmax over modalities of the negative prediction entropy.

    Parameters
    ----------
    logits : dict of str to torch.Tensor of shape (n, n_classes)
    present : dict of str to torch.Tensor of shape (n,) or None, default=None
        Availability of each modality (:func:`~skcausalmm.nn.losses.present_columns`): a
        missing modality gets weight 0 and the softmax runs over the present ones. None:
        every modality is present.

    Returns
    -------
    weights : torch.Tensor of shape (n, n_modalities)
        Rows sum to one; columns in the order of ``logits``.
    """
    ent = []
    for v in logits.values():
        logp = torch.log_softmax(v, dim=1)
        ent.append(-(logp.exp() * logp).sum(1))
    scores = -torch.stack(ent, dim=1)
    if present is not None:
        mask = torch.stack([present[m] for m in logits], dim=1) > 0
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=1)


def entropy_fusion(logits, present=None):
    """Entropy-weighted sum of per-modality logits (MLA's dynamic fusion) over the present modalities."""
    w = entropy_weights(logits, present)
    stacked = torch.stack(list(logits.values()), dim=1)  # (n, M, C)
    return (w.unsqueeze(-1) * stacked).sum(1)


class MLANetwork(nn.Module):
    """Per-modality encoders with a common output size and one shared linear head.

    Parameters
    ----------
    encoder_factory : EncoderFactory
        Builds one encoder per modality (:class:`skcausalmm.nn.encoders.EncoderFactory`);
        its ``hidden_size`` is the common representation size (the head's
        input), and a linear projection to it is added after an encoder whose
        output size differs.
    n_classes : int

    Notes
    -----
    ``forward`` returns ``"modality_logits"`` (each modality through the shared
    head: each modality's own prediction), ``"logits"`` (their per-sample
    entropy-weighted fusion) and ``"features"``.
    """

    def __init__(self, encoder_factory, n_classes):
        super().__init__()
        encoders, dims = encoder_factory.build_all()
        self.encoders = encoders
        self.names = list(encoders.keys())
        self.hidden_size = int(encoder_factory.hidden_size)
        self.projections = nn.ModuleDict(
            {m: nn.Linear(dims[m], self.hidden_size) for m in self.names if dims[m] != self.hidden_size}
        )
        self.head = nn.Linear(self.hidden_size, n_classes)

    def encode_one(self, name, x):
        """Common-size representation of one modality."""
        z = self.encoders[name](x)
        if name in self.projections:
            z = self.projections[name](z)
        return z

    def forward(self, X, availability=None):
        """Fused logits (over the present modalities), per-modality logits through the shared head, features."""
        feats = {m: self.encode_one(m, X[m]) for m in self.names}
        logits = {m: self.head(feats[m]) for m in self.names}
        present = None if availability is None else present_columns(availability, self.names)
        out = {"logits": entropy_fusion(logits, present), "modality_logits": logits, "features": feats}
        if present is not None:
            out["present"] = present
        return out

    def predict_proba(self, X, availability=None):
        """Class probabilities of the entropy-weighted fusion."""
        return torch.softmax(self.forward(X, availability)["logits"], dim=1)


class UnimodalLoss(nn.Module):
    """Cross-entropy on ``outputs["logits"]`` (one modality's logits during MLA's steps)."""

    def __init__(self, class_weight=None):
        super().__init__()
        self.register_buffer("class_weight", class_weight)
        self.last_terms_ = {}

    def forward(self, outputs, y, sample_weight=None):
        """Return the cross-entropy (over the rows of the ``(n,)`` mask ``outputs["rows"]`` when it is there)."""
        return cross_entropy(outputs["logits"], y, self.class_weight, sample_weight, outputs.get("rows"))


class MLANet(RecordingNet):
    """skorch net of MLA: one optimiser step per modality per batch, in turn.

    Parameters
    ----------
    projection : bool
        Apply :class:`GradientProjector` to the
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
        Xi, availability = self.prepare_batch(Xi)
        module = self.module_
        present = {} if availability is None else present_columns(availability, module.names)
        n_batches = getattr(self, "_n_batches", 1)
        alpha = 0.1 ** (getattr(self, "_batch_index", 0) / n_batches + 1.0)
        losses, logits, terms = [], {}, {}
        for m in module.names:
            z = module.encode_one(m, Xi[m])
            out = module.head(z)
            logits[m] = out.detach()
            rows = present.get(m)
            if rows is not None and not bool(rows.any()):
                continue  # the modality is missing from the whole batch: no step for it
            self._zero_grad_optimizer(set_to_none=True)
            step_outputs = {"logits": out} if rows is None else {"logits": out, "rows": rows}
            loss = self.get_loss(step_outputs, yi, X=raw, training=True)
            loss.backward()
            if self.projection and module.head.weight.grad is not None:
                seen = z.detach() if rows is None else z.detach()[rows > 0]
                self._projector().step(module.head.weight.grad, seen, alpha)
            self.notify(
                "on_grad_computed",
                named_parameters=TeeGenerator(self.get_all_learnable_params()),
                batch=batch,
                training=True,
            )
            for name in self._optimizers:
                getattr(self, name + "_").step()
            losses.append(loss.detach())
            terms[f"ce_{m}"] = loss.detach()
        self._batch_index = getattr(self, "_batch_index", 0) + 1
        self.criterion_.last_terms_ = terms
        y_pred = {"logits": entropy_fusion(logits, present or None), "modality_logits": logits}
        return {"loss": torch.stack(losses).mean(), "y_pred": y_pred}


@fill_shared_docs
class MLAClassifier(MultimodalClassifierMixin):
    """Alternating unimodal training through one shared head, entropy-weighted fusion (MLA).

    Every modality has an encoder with the common output size
    ``hidden_size`` (an encoder of another size gets a linear projection) and
    all share one linear head. Each batch makes one optimiser step per
    modality, in turn: the modality's encoder and the shared head are updated
    by that modality's cross-entropy alone. Before each step but the very
    first, the head's weight gradient is projected by a running
    recursive-least-squares projector built from the features of the earlier
    updates, so that learning one modality disturbs less what the head
    learned from the others (see
    :class:`GradientProjector`). At prediction,
    the unimodal logits are fused per sample with weights
    ``softmax_m(-H_m)``, ``H_m`` the entropy of modality m's prediction.

    Differences from the official code, as we read it: (i) its projection is
    applied only to a parameter named ``"module.weight"``, which a plain
    ``nn.Linear`` head (named ``"weight"``) does not have, so as released the
    projection may not take effect; we apply it, as the paper describes; (ii)
    its fusion entropy is computed over the whole evaluation batch (softmax
    over the batch axis), one weight per modality and batch; we use the
    paper's per-sample entropy, which also makes a sample's prediction
    independent of the batch it comes in. Like the official code we keep one
    projection matrix shared by all modalities. With a single modality it is
    plain training with the projection.

    Parameters
    ----------
    projection : bool, default=True
        Apply the gradient projection to the shared head.
    %(shared_parameters)s

    Attributes
    ----------
    %(shared_attributes)s
    history_ : skorch.History
        Per-epoch ``train_loss`` (mean of the unimodal losses), ``train_acc``
        (of the fused prediction) and ``ce_<m>`` per modality. With early
        stopping also ``valid_*`` (the validation loss is the cross-entropy of
        the fused prediction).

    See Also
    --------
    LateFusionClassifier : Plain concat fusion.
    OGMGEClassifier : On-the-fly gradient modulation.
    MMParetoClassifier : Pareto merging of multimodal and unimodal gradients.

    Notes
    -----
    Missing modalities (a row's block all NaN) are accepted at fit and at predict: a
    modality's alternating step uses the rows where it is present (none when it is missing
    from the whole batch), and the entropy-weighted fusion runs over each row's present
    modalities.

    References
    ----------
    .. [1] X. Zhang, J. Yoon, M. Bansal and H. Yao, "Multimodal
       Representation Learning by Alternating Unimodal Adaptation", CVPR
       2024. Official code:
       https://github.com/Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation

    Examples
    --------
    >>> from skcausalmm import MLAClassifier
    >>> from skcausalmm.datasets import load_multiple_features
    >>> X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    >>> X, y = X[::5], y[::5]  # every fifth digit keeps the example quick
    >>> clf = MLAClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **MultimodalClassifierMixin._parameter_constraints,
        "projection": ["boolean"],
    }

    _net_class = MLANet

    def __init__(
        self,
        *,
        projection=True,
        modalities=None,
        image_shapes=None,
        encoders=None,
        standardize=True,
        hidden_size=64,
        max_epochs=30,
        lr=3e-3,
        batch_size=128,
        optimizer="adam",
        weight_decay=0.0,
        class_weight=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        callbacks=None,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.projection = projection
        self.modalities = modalities
        self.image_shapes = image_shapes
        self.encoders = encoders
        self.standardize = standardize
        self.hidden_size = hidden_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    _module_class = MLANetwork
    _supports_missing = True
    _criterion_class = UnimodalLoss

    def _module_params(self, shapes, n_classes):
        return {"encoder_factory": self._encoder_factory(shapes), "n_classes": n_classes}

    def _net_params(self):
        return {"projection": bool(self.projection)}
