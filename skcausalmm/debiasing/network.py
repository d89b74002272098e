"""Torch pieces of causal information minimisation (Patil, Maharana and Bansal, EMNLP Findings 2023).

"Debiasing Multimodal Models via Causal Information Minimization" (arXiv 2311.16941) learns a
*confounder representation* as the simplest (lowest-information) features that still predict
the label, then removes it causally. Two methods, one network each:

* **TE-D** (total-effect debiasing), :class:`TotalEffectNetwork` and :class:`TotalEffectLoss`:
  a confounder code ``z_c = E(stopgrad z)`` of the fused feature ``z``, mapped back to
  ``z~_c``; a debiased feature ``phi(z - z~_c)`` feeds the main head, ``z~_c`` a bias head;
  the coding rate :func:`coding_rate` of ``z~_c`` is minimised with the dynamic weight
  :func:`dynamic_rate_weight`, and a one-positive one-negative InfoNCE
  (:func:`triplet_info_nce`) pulls ``z`` towards the debiased feature and away from ``z~_c``.
* **ATE-D** (average-treatment-effect debiasing), :class:`TiedLinearAutoencoder` and
  :class:`AverageTreatmentEffectNetwork`: a tied-weight linear autoencoder compresses the
  features of a plain (biased) model, k-means on its codes gives a dictionary of confounder
  prototypes, and the debiased network uses it either as a backdoor adjustment (the sample's
  own code in training, the prior-weighted average of the logits over the dictionary at
  prediction: the normalised weighted geometric mean, NWGM) or to recalibrate features by
  ``1 - sum_j pi_j cos(code, d_j)``, a weight in [0, 2].

Missing modalities (``handle_missing=True`` and an ``availability`` mask, 1 where a modality is
present): a missing modality's features are a learned "absent" embedding (one vector per
modality, initialised at zero) wherever features of several modalities are fused, and ATE-D's
code term of a row without its confounder is a learned "absent" term too. With every row
complete the mask path computes exactly what the network computes without a mask.

This module imports nothing from the estimator layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.layers import absent_embeddings, fill_absent
from ..nn.losses import cross_entropy, present_columns

__all__ = [
    "coding_rate",
    "dynamic_rate_weight",
    "triplet_info_nce",
    "classification_head",
    "WeightNormLinear",
    "TotalEffectNetwork",
    "TotalEffectLoss",
    "TiedLinearAutoencoder",
    "FrozenFeatures",
    "recalibration_weights",
    "AverageTreatmentEffectNetwork",
    "BackdoorLoss",
]


# ===================================================================== information terms
def coding_rate(Z, eps=0.01):
    """Coding rate ``R(Z) = 1/2 logdet(I + p / (m eps) Z^T Z)`` of a batch of features.

    The number of bits (in nats) needed to code the ``m`` rows of ``Z`` up to a distortion
    ``eps`` (Ma et al., 2007; Yu et al., "MCR2", 2020). It is zero for ``Z = 0``, non-negative,
    invariant under orthogonal transformations of the features and permutations of the
    samples, and grows with the scale of ``Z``. The determinant is taken on the smaller of the
    two Gram matrices (``logdet(I_p + c Z^T Z) = logdet(I_m + c Z Z^T)``).

    Parameters
    ----------
    Z : torch.Tensor of shape (m, p)
        One row per sample.
    eps : float, default=0.01
        Squared distortion ``eps`` (the paper and the official code use 0.01).

    Returns
    -------
    rate : torch.Tensor
        A scalar, differentiable in ``Z``.
    """
    if Z.dim() != 2:
        raise ValueError(f"coding_rate expects a 2-D tensor (samples, features), got shape {tuple(Z.shape)}.")
    m, p = Z.shape
    scale = p / (m * float(eps))
    gram = Z.T @ Z if p <= m else Z @ Z.T
    eye = torch.eye(gram.shape[0], dtype=Z.dtype, device=Z.device)
    return 0.5 * torch.linalg.slogdet(eye + scale * gram)[1]


def dynamic_rate_weight(bias_ce, rate, coefficient=0.25):
    """Dynamic weight ``alpha = min(1, coefficient * CE_bias / R)`` of the coding-rate term.

    Recomputed at every step from the current values and detached (a plain number in the
    graph), so that ``alpha * R`` never exceeds ``coefficient * CE_bias``: the information
    term cannot dominate the bias head's classification loss.

    Parameters
    ----------
    bias_ce : torch.Tensor
        Cross-entropy of the bias head (a scalar).
    rate : torch.Tensor
        Coding rate of the confounder features (a scalar, >= 0).
    coefficient : float, default=0.25
        The cap ratio (``--farm-coeff 0.25`` in the official TE-D script).

    Returns
    -------
    alpha : torch.Tensor
        A detached scalar in [0, 1].
    """
    bias_ce, rate = bias_ce.detach(), rate.detach()
    if float(rate) <= 0.0:
        return torch.ones((), dtype=rate.dtype, device=rate.device)
    return torch.clamp(coefficient * bias_ce / rate, max=1.0)


def triplet_info_nce(anchor, positive, negative, temperature=1.0):
    """InfoNCE with one positive and one negative per anchor, on cosine similarities.

    ``mean_i -log(exp(s+_i / tau) / (exp(s+_i / tau) + exp(s-_i / tau)))`` with ``s+`` the
    cosine similarity of the anchor and its positive and ``s-`` that of the anchor and its
    negative. As cosines lie in [-1, 1], each term lies in
    ``[log(1 + exp(-2 / tau)), log(1 + exp(2 / tau))]``; it is ``log 2`` when the positive
    equals the negative.

    Parameters
    ----------
    anchor, positive, negative : torch.Tensor of shape (n, d)
        Anchors and their positive and negative partners, row by row.
    temperature : float, default=1.0
        Temperature ``tau``.

    Returns
    -------
    loss : torch.Tensor
        A scalar.
    """
    pos = F.cosine_similarity(anchor, positive, dim=1)
    neg = F.cosine_similarity(anchor, negative, dim=1)
    # -log(e^a / (e^a + e^b)) = softplus(b - a), stable for any temperature
    return F.softplus((neg - pos) / temperature).mean()


def classification_head(in_features, n_classes, hidden_size=None):
    """Two-layer answer head: ``Linear(d, 2h) -> GELU -> LayerNorm -> Linear(2h, n_classes)``.

    The layout of the answer head of the official code (there on LXMERT's 768-d pooled
    output, ``h = d``).

    Parameters
    ----------
    in_features : int
        Input size ``d``.
    n_classes : int
        Number of classes.
    hidden_size : int or None, default=None
        ``h``; None means ``in_features``.

    Returns
    -------
    head : torch.nn.Sequential
    """
    h = 2 * int(hidden_size or in_features)
    return nn.Sequential(nn.Linear(in_features, h), nn.GELU(), nn.LayerNorm(h), nn.Linear(h, n_classes))


class WeightNormLinear(nn.Module):
    """Linear layer with weight normalisation (Salimans and Kingma, 2016): ``W = g v / ||v||`` row-wise.

    A picklable stand-in for ``torch.nn.utils.parametrizations.weight_norm`` (parametrised
    modules cannot be pickled whole, which scikit-learn estimators must be).

    Parameters
    ----------
    in_features, out_features : int
        Input and output sizes.
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        linear = nn.Linear(in_features, out_features)
        self.direction = nn.Parameter(linear.weight.detach().clone())
        self.magnitude = nn.Parameter(linear.weight.detach().norm(dim=1))
        self.bias = nn.Parameter(linear.bias.detach().clone())

    def forward(self, x):
        """Return ``x W^T + bias``."""
        weight = self.magnitude[:, None] * self.direction / self.direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return F.linear(x, weight, self.bias)


def _encode(encoders, names, X):
    return {m: encoders[m](X[m]) for m in names}


# ============================================================================ TE-D
class TotalEffectNetwork(nn.Module):
    """TE-D: fused feature, confounder code on its stop-gradient, debiased and bias heads.

    With ``z`` the concatenation of the modality encodings (width ``d``)::

        z_c  = E(stopgrad z)                 Linear(d, d), GELU, Linear(d, b), GELU, LayerNorm(b)
        z~_c = W z_c + c                     Linear(b, d)
        u    = phi(z - z~_c)                 weight-normalised Linear(d, d), ReLU
        logits      = head(u)                the debiased prediction
        bias_logits = bias_head(z~_c)

    The confounder branch sees ``z`` only through a stop-gradient, so the bias head's loss
    and the coding rate of ``z~_c`` train the confounder branch alone; the main loss reaches
    the encoders through ``z`` and the confounder branch through ``z~_c``.

    Parameters
    ----------
    encoder_factory : EncoderFactory
        Builds one encoder per modality (anything with ``build_all() -> (encoders, dims)``,
        e.g. :class:`skcausalmm.nn.encoders.EncoderFactory`).
    n_classes : int
        Number of classes.
    bias_size : int or None, default=None
        Width ``b`` of the confounder code; None means ``max(1, d // 4)`` (the official
        ``--bias-dim-factor 4``).
    inference : {"debiased", "tie"}, default="debiased"
        What :meth:`predict_proba` returns: the debiased head, or the softmax of
        ``logits - bias_logits`` (total indirect effect, the official ``--tie-inference``).
    handle_missing : bool, default=False
        Learn an "absent" embedding per modality and accept an ``availability`` mask
        (columns in the order of the encoders) in :meth:`forward` and :meth:`predict_proba`.

    Notes
    -----
    ``forward`` returns ``{"logits", "bias_logits", "features", "debiased", "bias", "code",
    "modality_features"}`` (``features`` is ``z``, ``bias`` is ``z~_c``, ``code`` is ``z_c``),
    and with an availability mask ``"present"``
    (:func:`~skcausalmm.nn.losses.present_columns`).

    Missing modalities: a missing modality's encoding is replaced by its learned "absent"
    embedding (initialised at zero) before the concatenation, so every row has a fused feature
    ``z`` and everything after it (the confounder code, both heads, the coding rate and the
    InfoNCE of :class:`TotalEffectLoss`) reads that feature: those terms count every row.
    """

    def __init__(self, encoder_factory, n_classes, bias_size=None, inference="debiased", handle_missing=False):
        super().__init__()
        encoders, dims = encoder_factory.build_all()
        self.encoders = encoders
        self.names = list(encoders.keys())
        self.dims = dict(dims)
        d = sum(self.dims[m] for m in self.names)
        b = int(bias_size) if bias_size else max(1, d // 4)
        self.width, self.bias_size = d, b
        self.confounder = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, b), nn.GELU(), nn.LayerNorm(b))
        self.remap = nn.Linear(b, d)
        self.debias = nn.Sequential(WeightNormLinear(d, d), nn.ReLU())
        self.head = classification_head(d, n_classes)
        self.bias_head = classification_head(d, n_classes)
        self.inference = inference
        self.absent = absent_embeddings(self.dims, self.names) if handle_missing else None

    def confounder_features(self, z):
        """Return ``(z_c, z~_c)`` for fused features ``z`` (through a stop-gradient)."""
        code = self.confounder(z.detach())
        return code, self.remap(code)

    def encode(self, X, availability=None):
        """Per-modality encodings (a missing modality's: its absent embedding) and the mask's columns (or None)."""
        present = None if availability is None else present_columns(availability, self.names)
        feats = fill_absent(_encode(self.encoders, self.names, X), self.absent, present, f"This {type(self).__name__}")
        return feats, present

    def forward(self, X, availability=None):
        """Debiased logits, bias logits and the intermediate features of a batch."""
        feats, present = self.encode(X, availability)
        z = torch.cat([feats[m] for m in self.names], dim=1)
        code, bias = self.confounder_features(z)
        debiased = self.debias(z - bias)
        out = {
            "logits": self.head(debiased),
            "bias_logits": self.bias_head(bias),
            "features": z,
            "debiased": debiased,
            "bias": bias,
            "code": code,
            "modality_features": feats,
        }
        if present is not None:
            out["present"] = present
        return out

    def predict_proba(self, X, availability=None, inference=None):
        """Class probabilities: the debiased head, or ``softmax(logits - bias_logits)`` for "tie"."""
        out = self.forward(X, availability)
        mode = inference or self.inference
        if mode == "tie":
            return torch.softmax(out["logits"] - out["bias_logits"], dim=1)
        if mode != "debiased":
            raise ValueError(f"inference must be 'debiased' or 'tie', got {mode!r}.")
        return torch.softmax(out["logits"], dim=1)


class TotalEffectLoss(nn.Module):
    """TE-D objective: ``CE + CE_bias + alpha R(z~_c) + w_nce InfoNCE(z, u, z~_c)``.

    ``alpha = min(1, rate_coefficient * CE_bias / R)`` is recomputed each step and detached
    (:func:`dynamic_rate_weight`); with ``dynamic=False`` it is the constant
    ``rate_coefficient``.

    Parameters
    ----------
    class_weight : torch.Tensor or None, default=None
        Per-class weights of both cross-entropies.
    rate_coefficient : float, default=0.25
        Cap ratio of the dynamic weight (or the constant weight with ``dynamic=False``).
    eps : float, default=0.01
        Distortion of the coding rate.
    contrastive_weight : float, default=1.0
        Weight of the InfoNCE term (0 drops it).
    temperature : float, default=1.0
        InfoNCE temperature.
    dynamic : bool, default=True
        Use the dynamic weight.

    Notes
    -----
    Every term reads the fused feature ``z`` or what is computed from it, which every row has
    (with missing modalities, :class:`TotalEffectNetwork` puts absent embeddings in ``z``):
    the cross-entropies, the coding rate and the InfoNCE count every row of the batch.
    """

    def __init__(
        self, class_weight=None, rate_coefficient=0.25, eps=0.01, contrastive_weight=1.0, temperature=1.0, dynamic=True
    ):
        super().__init__()
        self.register_buffer("class_weight", class_weight)
        self.rate_coefficient = float(rate_coefficient)
        self.eps = float(eps)
        self.contrastive_weight = float(contrastive_weight)
        self.temperature = float(temperature)
        self.dynamic = bool(dynamic)
        self.last_terms_ = {}

    def confounder_loss(self, outputs, y, sample_weight=None):
        """``CE_bias + alpha R``: the part of the objective that trains the confounder branch only."""
        bias_ce = cross_entropy(outputs["bias_logits"], y, self.class_weight, sample_weight)
        rate = coding_rate(outputs["bias"], self.eps)
        if self.dynamic:
            alpha = dynamic_rate_weight(bias_ce, rate, self.rate_coefficient)
        else:
            alpha = torch.as_tensor(self.rate_coefficient, dtype=rate.dtype, device=rate.device)
        return bias_ce + alpha * rate, {"bias_ce": bias_ce.detach(), "rate": rate.detach(), "alpha": alpha.detach()}

    def forward(self, outputs, y, sample_weight=None):
        """Return the total loss and record its terms in ``last_terms_``."""
        ce = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)
        confounder, terms = self.confounder_loss(outputs, y, sample_weight)
        loss = ce + confounder
        terms = {"ce": ce.detach(), **terms}
        if self.contrastive_weight > 0:
            nce = triplet_info_nce(outputs["features"], outputs["debiased"], outputs["bias"], self.temperature)
            loss = loss + self.contrastive_weight * nce
            terms["info_nce"] = nce.detach()
        self.last_terms_ = terms
        return loss


# ============================================================================ ATE-D
class TiedLinearAutoencoder(nn.Module):
    """Linear autoencoder with tied weights and no bias: ``code = x W^T``, ``x^ = code W``.

    The official ATE-D code compresses the biased model's features with this autoencoder
    (one weight matrix ``W`` of shape (code_size, in_features)). Its squared reconstruction
    error ``||X - X W^T W||^2`` is minimised exactly by ``W = Q V_k^T`` with ``V_k`` the top
    ``k`` right singular vectors of ``X`` (uncentred, as the autoencoder has no bias) and ``Q``
    any orthogonal matrix (Baldi and Hornik, 1989); :meth:`fit` sets that minimiser
    (``Q = I``), so no training loop is needed, and k-means on the codes does not depend on
    ``Q``.

    Parameters
    ----------
    in_features : int
        Input size.
    code_size : int
        Code size ``k`` (at most ``in_features``).
    """

    def __init__(self, in_features, code_size):
        super().__init__()
        if not 1 <= int(code_size) <= int(in_features):
            raise ValueError(f"code_size must be in [1, in_features={in_features}], got {code_size}.")
        self.weight = nn.Parameter(torch.randn(int(code_size), int(in_features)) / int(in_features) ** 0.5)

    @classmethod
    def from_state(cls, state):
        """A fresh autoencoder shaped for ``state`` (its ``"weight"``: an array of shape (code_size, in_features)).

        Parameters
        ----------
        state : dict of str to ndarray
            A state dict as arrays (from a model file).

        Returns
        -------
        autoencoder : TiedLinearAutoencoder
            Untrained; load ``state`` into it.
        """
        weight = state.get("weight")
        shape = getattr(weight, "shape", ())
        if len(shape) != 2 or not 1 <= shape[0] <= shape[1]:
            raise ValueError("a TiedLinearAutoencoder needs a 2-D 'weight' of shape (code_size, in_features).")
        return cls(int(shape[1]), int(shape[0]))

    def encode(self, x):
        """Return the code ``x W^T``."""
        return F.linear(x, self.weight)

    def decode(self, code):
        """Return the reconstruction ``code W``."""
        return F.linear(code, self.weight.t())

    def forward(self, x):
        """Return ``(code, reconstruction)``."""
        code = self.encode(x)
        return code, self.decode(code)

    @torch.no_grad()
    def fit(self, X):
        """Set ``W`` to the exact minimiser of the reconstruction error on ``X`` (n, in_features)."""
        k = self.weight.shape[0]
        _, _, vh = torch.linalg.svd(X.to(self.weight.dtype), full_matrices=False)
        weight = torch.zeros_like(self.weight)
        rows = min(k, vh.shape[0])
        weight[:rows] = vh[:rows]
        # fix the sign of each direction (largest entry positive) so that fits are reproducible
        signs = torch.sign(weight[torch.arange(k), weight.abs().argmax(dim=1)])
        signs[signs == 0] = 1.0
        self.weight.copy_(weight * signs[:, None])
        return self


class FrozenFeatures(nn.Module):
    """Features of a fitted (biased) model's encoders, frozen: no gradient, always in eval mode.

    Parameters
    ----------
    encoders : torch.nn.ModuleDict
        The fitted encoders (copied by the caller if they must stay independent).
    names : list of str
        The modalities whose encodings are concatenated, in this order (none: a constant zero
        feature, for a model with no confounder modality).
    """

    def __init__(self, encoders, names):
        super().__init__()
        self.encoders = encoders
        self.names = list(names)
        for p in self.encoders.parameters():
            p.requires_grad_(False)
        self.encoders.eval()

    def train(self, mode=True):
        """Stay in eval mode whatever the parent's mode."""
        super().train(False)
        return self

    def forward(self, X):
        """Concatenated frozen encodings ``(n, sum of dims)``; one zero column when ``names`` is empty."""
        with torch.no_grad():
            if not self.names:
                first = next(iter(X.values()))
                return torch.zeros(first.shape[0], 1, dtype=torch.float32, device=first.device)
            return torch.cat([self.encoders[m](X[m]) for m in self.names], dim=1)


def recalibration_weights(code, dictionary, prior):
    """Feature recalibration weights ``w = 1 - sum_j pi_j cos(code, d_j)``, in [0, 2].

    A sample whose confounder code resembles the dictionary's prototypes is down-weighted
    (the official ATE-D encoder multiplies the question features by this weight, with a
    uniform ``pi``).

    Parameters
    ----------
    code : torch.Tensor of shape (n, k)
        Confounder codes.
    dictionary : torch.Tensor of shape (n_entries, k)
        Confounder prototypes.
    prior : torch.Tensor of shape (n_entries,)
        Their prior weights (non-negative, summing to one).

    Returns
    -------
    weights : torch.Tensor of shape (n,)
    """
    cos = F.normalize(code, dim=1) @ F.normalize(dictionary, dim=1).T
    return 1.0 - cos @ prior


class AverageTreatmentEffectNetwork(nn.Module):
    """ATE-D: the debiased network with a dictionary of confounder prototypes.

    The confounder code of a sample is ``c(x) = AE(f(x))``, with ``f`` the frozen features of
    the first-stage (biased) model and ``AE`` the fitted tied linear autoencoder; the
    dictionary ``{d_j}`` (k-means centroids of the training codes) has prior ``pi``.

    * ``variant="additive"``: ``logits(x, c) = head(z(x)) + g(c)``, with ``z`` the
      concatenated encodings of the ``treatment`` modalities, ``head`` linear and ``g`` a small
      MLP from the code to logits: the conditional model is log-additive in the treatment and
      the confounder (a product of experts). Training uses the sample's own code; the backdoor
      adjustment ``sum_j pi_j logits(x, d_j) = head(z(x)) + sum_j pi_j g(d_j)`` is then exact
      in logit space and needs one pass. Its argmax is that of ``head(z(x))``: the
      confounder's effect is averaged out, and, with the confounder modalities outside the
      treatment, it cannot be read back.
    * ``variant="backdoor"``: ``logits(x, c) = head([z(x), g(c)])`` with ``z`` the
      concatenated encodings and ``g`` a small MLP of the code. Training uses the sample's own
      code ``c(x)``; prediction is the backdoor adjustment ``sum_j pi_j logits(x, d_j)``, whose
      softmax is the normalised weighted geometric mean (NWGM) approximation of
      ``sum_j pi_j P(y | x, d_j)``.
    * ``variant="recalibrate"``: the encodings of ``recalibrated`` (the confounder modalities)
      are multiplied by :func:`recalibration_weights` of the sample's code, in training and
      prediction alike; ``logits = head(z)``.

    Parameters
    ----------
    encoder_factory : EncoderFactory
        Builds the (trainable) encoder of each modality (``build_all() -> (encoders, dims)``).
    n_classes : int
        Number of classes.
    confounder_features : FrozenFeatures
        Frozen features of the first-stage model that the autoencoder was fitted on.
    autoencoder : TiedLinearAutoencoder
        The fitted autoencoder (its weight is frozen here).
    dictionary : torch.Tensor of shape (n_entries, code_size)
        Confounder prototypes.
    prior : torch.Tensor of shape (n_entries,)
        Their prior (non-negative, normalised here).
    variant : {"additive", "backdoor", "recalibrate"}, default="backdoor"
    recalibrated : list of str or None, default=None
        Modalities whose encodings are recalibrated; None means all.
    treatment : list of str or None, default=None
        Backdoor variants: the modalities the head reads (the treatment ``x``); None means all. The
        confounder modalities left out of it reach the head only through the code, so the
        adjustment cannot be undone by reading them directly.
    hidden_size : int, default=64
        Width of ``g``'s hidden layer (and of its output, for ``"backdoor"``).
    chunk_size : int, default=16
        Dictionary entries evaluated at once at prediction.
    handle_missing : bool, default=False
        Learn "absent" embeddings (see the notes) and accept an ``availability`` mask, columns
        in the order of the encoder factory's modalities (:attr:`modality_names`).

    Notes
    -----
    ``forward`` returns ``{"logits", "code", "features", "modality_features"}``, and
    ``"treatment_logits"`` (``head(z)``) for the additive variant, ``"weights"`` for the
    recalibration variant; with an availability mask also ``"present"``
    (:func:`~skcausalmm.nn.losses.present_columns`) and ``"confounder_rows"`` (1 where every
    confounder modality is present).

    Missing modalities: a missing treatment modality's encoding is replaced by its learned
    "absent" embedding (initialised at zero) before the concatenation ``z``. The code of a row
    is known only when every confounder modality is present (:meth:`confounder_rows`); in a row
    without it, training replaces the code's term ``g(c)`` by a learned "absent" term
    (initialised at zero: for the additive variant, no confounder logits), and the
    recalibration weight is 1 (the features are not recalibrated: a missing recalibrated
    modality already has its absent embedding). The backdoor adjustment of the additive and
    backdoor variants averages over the dictionary and never reads the row's own code, so
    their prediction is the same whether the confounder modalities are present or missing.
    """

    def __init__(
        self,
        encoder_factory,
        n_classes,
        confounder_features,
        autoencoder,
        dictionary,
        prior,
        variant="backdoor",
        recalibrated=None,
        hidden_size=64,
        chunk_size=16,
        treatment=None,
        handle_missing=False,
    ):
        super().__init__()
        if variant not in ("additive", "backdoor", "recalibrate"):
            raise ValueError(f"variant must be 'additive', 'backdoor' or 'recalibrate', got {variant!r}.")
        encoders, dims = encoder_factory.build_all()
        self.modality_names = list(encoders.keys())  # the columns of an availability mask
        if treatment is not None:
            unknown = [m for m in treatment if m not in encoders]
            if unknown or not treatment:
                raise ValueError(f"treatment must name some of the modalities {list(encoders)}, got {treatment!r}.")
            if variant == "recalibrate":
                raise ValueError("treatment applies to the backdoor variants only.")
            encoders = nn.ModuleDict({m: encoders[m] for m in encoders if m in treatment})
        self.encoders = encoders
        self.names = list(encoders.keys())
        self.dims = {m: dims[m] for m in self.names}
        self.confounder_features = confounder_features
        self.autoencoder = autoencoder
        for p in self.autoencoder.parameters():
            p.requires_grad_(False)
        dictionary = torch.as_tensor(dictionary, dtype=torch.float32)
        prior = torch.as_tensor(prior, dtype=torch.float32)
        if dictionary.dim() != 2 or prior.shape != (dictionary.shape[0],):
            raise ValueError("dictionary must be (n_entries, code_size) and prior (n_entries,).")
        if bool((prior < 0).any()) or float(prior.sum()) <= 0:
            raise ValueError("prior must be non-negative with a positive sum.")
        self.register_buffer("dictionary", dictionary)
        self.register_buffer("prior", prior / prior.sum())
        self.variant = variant
        self.recalibrated = list(self.names if recalibrated is None else recalibrated)
        self.chunk_size = int(chunk_size)
        d = sum(self.dims[m] for m in self.names)
        code_size = dictionary.shape[1]
        if variant == "additive":
            self.code_map = nn.Sequential(nn.Linear(code_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, n_classes))
            self.head = nn.Linear(d, n_classes)
        elif variant == "backdoor":
            self.code_map = nn.Sequential(
                nn.Linear(code_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size)
            )
            self.head = classification_head(d + hidden_size, n_classes, hidden_size=d)
        else:
            self.code_map = None
            self.head = classification_head(d, n_classes)
        self.absent = absent_embeddings(self.dims, self.names) if handle_missing else None
        # the code term g(c) of a row without its confounder (zeros: no confounder logits)
        g_size = {"additive": n_classes, "backdoor": hidden_size}.get(variant)
        self.absent_code_term = nn.Parameter(torch.zeros(g_size)) if handle_missing and g_size else None

    def confounder_rows(self, availability):
        """``(n,)`` float mask: 1 where every confounder modality is present (None for no mask or no confounder).

        Parameters
        ----------
        availability : torch.Tensor of shape (n, n_modalities) or None
            The availability mask, columns in the order of :attr:`modality_names`.

        Returns
        -------
        rows : torch.Tensor of shape (n,) or None
        """
        names = self.confounder_features.names
        if availability is None or not names:
            return None
        present = present_columns(availability, self.modality_names)
        return torch.stack([present[m] for m in names], dim=1).amin(dim=1)

    def code(self, X, availability=None):
        """Confounder codes ``c(x)`` of a batch (no gradient); NaN in the rows without the confounder."""
        code = self._code(X)
        rows = self.confounder_rows(availability)
        if rows is not None:
            code = code.masked_fill((rows <= 0).unsqueeze(1), float("nan"))
        return code

    def _code(self, X):
        with torch.no_grad():
            return self.autoencoder.encode(self.confounder_features(X))

    def _encode(self, X, availability):
        """Treatment encodings (missing ones: their absent embedding) and the mask's columns (or None)."""
        present = None if availability is None else present_columns(availability, self.modality_names)
        feats = fill_absent(_encode(self.encoders, self.names, X), self.absent, present, f"This {type(self).__name__}")
        return feats, present

    def _fused(self, feats, weights=None):
        parts = []
        for m in self.names:
            f = feats[m]
            if weights is not None and m in self.recalibrated:
                f = f * weights[:, None]
            parts.append(f)
        return torch.cat(parts, dim=1)

    def _code_term(self, code, rows=None):
        """``g(code)``, or the absent term in the rows without the confounder (``rows`` 0)."""
        g = self.code_map(code)
        if rows is not None:
            r = rows.to(g.dtype).unsqueeze(1)
            g = r * g + (1.0 - r) * self.absent_code_term
        return g

    def _combine(self, z, g):
        if g.dim() == 1:
            g = g.expand(z.shape[0], -1)
        if self.variant == "additive":
            return self.head(z) + g
        return self.head(torch.cat([z, g], dim=1))

    def logits_given(self, z, code):
        """Backdoor logits ``head([z, g(code)])``; ``code`` is (n, k) or one (k,) entry for all."""
        return self._combine(z, self.code_map(code))

    def forward(self, X, availability=None):
        """Training-time logits (the sample's own code) and the intermediate features."""
        feats, present = self._encode(X, availability)
        code = self._code(X)
        rows = self.confounder_rows(availability)
        out = {"code": code, "modality_features": feats}
        if self.variant != "recalibrate":
            z = self._fused(feats)
            out["logits"] = self._combine(z, self._code_term(code, rows))
            if self.variant == "additive":
                out["treatment_logits"] = self.head(z)
        else:
            weights = recalibration_weights(code, self.dictionary, self.prior)
            if rows is not None:  # no code, no recalibration
                weights = rows * weights + (1.0 - rows)
            z = self._fused(feats, weights)
            out["logits"] = self.head(z)
            out["weights"] = weights
        out["features"] = z
        if present is not None:
            out["present"] = present
            out["confounder_rows"] = rows if rows is not None else torch.ones_like(code[:, 0])
        return out

    def adjusted_logits(self, X, availability=None):
        """Prediction logits: ``sum_j pi_j logits(x, d_j)`` (backdoor) or the forward logits (recalibrate)."""
        if self.variant == "recalibrate":
            return self.forward(X, availability)["logits"]
        feats, _ = self._encode(X, availability)
        z = self._fused(feats)
        if self.variant == "additive":
            # sum_j pi_j (head(z) + g(d_j)) = head(z) + sum_j pi_j g(d_j): exact, one pass
            return self.head(z) + self.prior @ self.code_map(self.dictionary)
        n, k = z.shape[0], self.dictionary.shape[0]
        total = None
        for start in range(0, k, self.chunk_size):
            entries = self.dictionary[start : start + self.chunk_size]  # (c, code)
            c = entries.shape[0]
            g = self.code_map(entries)  # (c, h)
            zz = z.unsqueeze(0).expand(c, n, z.shape[1])
            gg = g.unsqueeze(1).expand(c, n, g.shape[1])
            logits = self.head(torch.cat([zz, gg], dim=2))  # (c, n, classes)
            part = torch.einsum("c,cnk->nk", self.prior[start : start + c], logits)
            total = part if total is None else total + part
        return total

    def predict_proba(self, X, availability=None):
        """Class probabilities: softmax of :meth:`adjusted_logits` (NWGM of the backdoor adjustment)."""
        return torch.softmax(self.adjusted_logits(X, availability), dim=1)


class BackdoorLoss(nn.Module):
    """Cross-entropy of the ATE-D network's training-time logits (and, additive variant, of the treatment head alone).

    With the additive variant the network also returns ``treatment_logits = head(z)``; their
    cross-entropy, weighted by ``treatment_weight``, is added. The additive model identifies
    ``head(z)`` only up to what the code's logits already explain, and where the code is
    confident the joint loss hardly trains the treatment head; its own loss keeps it a
    predictor of the label by itself, which is what the adjustment predicts with.

    Parameters
    ----------
    class_weight : torch.Tensor or None, default=None
        Per-class weights.
    treatment_weight : float, default=1.0
        Weight of the treatment head's own cross-entropy (additive variant; 0 drops it).

    Notes
    -----
    Both cross-entropies count every row, missing modalities or not: the fused treatment
    feature and the code term exist in every row (absent embeddings standing in, see
    :class:`AverageTreatmentEffectNetwork`).
    """

    def __init__(self, class_weight=None, treatment_weight=1.0):
        super().__init__()
        self.register_buffer("class_weight", class_weight)
        self.treatment_weight = float(treatment_weight)
        self.last_terms_ = {}

    def forward(self, outputs, y, sample_weight=None):
        """Return the cross-entropy and record it in ``last_terms_``."""
        loss = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)
        self.last_terms_ = {"ce": loss.detach()}
        if self.treatment_weight > 0 and "treatment_logits" in outputs:
            treatment = cross_entropy(outputs["treatment_logits"], y, self.class_weight, sample_weight)
            loss = loss + self.treatment_weight * treatment
            self.last_terms_["treatment_ce"] = treatment.detach()
        if "weights" in outputs:
            self.last_terms_["mean_weight"] = outputs["weights"].detach().mean()
        return loss
