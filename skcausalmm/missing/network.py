"""Torch pieces of RedCore (Sun et al., AAAI 2024, arXiv 2312.10386).

RedCore learns from multimodal data in which modalities are missing at
different rates:

* a **variational information bottleneck** (VIB) head per modality turns the
  modality's encoder features into a Gaussian ``(mu_m, log sigma^2_m)``; the
  latent ``z_m`` is a reparameterised sample while training and ``mu_m`` at
  prediction (:class:`VIBHead`);
* a **cross-modal imputer** ``G_m`` per modality, a stack of residual
  autoencoder blocks, predicts ``z_m`` from the other modalities' latents
  (:class:`ResidualImputer`); the fused latent is
  ``z~_m = a_m z_m + (1 - a_m) G_m(z_-m)`` with ``a_m`` the availability;
* a fusion classifier on ``[z~_1, ..., z~_M]`` and one classifier per
  ``z~_m`` (:class:`RedCoreNetwork`);
* the loss (:class:`RedCoreLoss`) adds to the cross-entropies the KL terms of
  the available samples and the imputers' reconstruction errors, each
  weighted by a **supervision weight** ``beta_m`` that the loss itself updates
  from the modalities' *relative advantage* (the bi-level step of the paper):
  :func:`update_ema`, :func:`relative_advantage`, :func:`eta_schedule` and
  :func:`update_supervision_weights` hold the formulas.

Nothing here imports the estimator layer; the loss keeps its state in
buffers, so the update happens in skorch's ordinary training step (the loss is
in training mode exactly when skorch takes a training step).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.losses import cross_entropy

__all__ = [
    "VIBHead",
    "ResidualImputer",
    "RedCoreNetwork",
    "RedCoreLoss",
    "gaussian_kl_terms",
    "masked_reconstruction_error",
    "update_ema",
    "relative_advantage",
    "eta_schedule",
    "update_supervision_weights",
]

#: ``log sigma^2`` is clipped to this range before it is exponentiated.
LOGVAR_RANGE = (-10.0, 10.0)


# ============================================================== pure formulas
def update_ema(ema, losses, present, weight=0.7):
    """Exponential moving average of the per-modality reconstruction losses.

    ``L_m <- (1 - weight) L_m + weight * loss_m`` for every modality with at
    least one available sample in the batch; the others keep their average.

    Parameters
    ----------
    ema : torch.Tensor of shape (n_modalities,)
        Current averages ``L_m``.
    losses : torch.Tensor of shape (n_modalities,)
        This batch's reconstruction losses.
    present : torch.Tensor of shape (n_modalities,), bool
        Whether the batch has an available sample of each modality.
    weight : float, default=0.7
        Weight of the newest loss.

    Returns
    -------
    ema : torch.Tensor of shape (n_modalities,)
        The updated averages (a new tensor).

    Examples
    --------
    >>> import torch
    >>> update_ema(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 5.0]), torch.tensor([True, False]))
    tensor([1.7000, 1.0000])
    """
    new = (1.0 - weight) * ema + weight * losses
    return torch.where(present, new, ema)


def relative_advantage(ema):
    """Relative advantage ``ra_m = (mean_k L_k - L_m) / mean_k L_k``.

    A modality whose imputer reconstructs it worse than average (large
    ``L_m``) has a negative advantage. The advantages sum to zero; they are
    all zero when the average is not positive (nothing measured yet).

    Parameters
    ----------
    ema : torch.Tensor of shape (n_modalities,)
        Moving averages of the reconstruction losses (non-negative).

    Returns
    -------
    ra : torch.Tensor of shape (n_modalities,)

    Examples
    --------
    >>> import torch
    >>> relative_advantage(torch.tensor([1.0, 3.0]))
    tensor([ 0.5000, -0.5000])
    """
    mean = ema.mean()
    if not bool(mean > 0) or bool(torch.all(ema == ema[0])):
        return torch.zeros_like(ema)
    return (mean - ema) / mean


def eta_schedule(iteration, eta=0.1, growth=1.5, every=500):
    """Step size of the supervision-weight update at a training iteration.

    The official code multiplies ``eta`` by ``growth`` whenever the iteration
    counter (starting at 0) is a multiple of ``every``, *before* using it, so
    the very first update already uses ``eta * growth``:
    ``eta_t = eta * growth ** (t // every + 1)``.

    Parameters
    ----------
    iteration : int
        Training iteration (optimiser steps so far), from 0.
    eta : float, default=0.1
        Initial step size.
    growth : float, default=1.5
        Factor applied every ``every`` iterations.
    every : int, default=500
        Growth period in iterations.

    Returns
    -------
    eta_t : float

    Examples
    --------
    >>> eta_schedule(0), eta_schedule(499), eta_schedule(500)
    (0.15000000000000002, 0.15000000000000002, 0.225)
    """
    return float(eta) * float(growth) ** (int(iteration) // int(every) + 1)


def update_supervision_weights(beta, ra, eta, beta_min=0.1):
    """One relative-advantage-aware update of the supervision weights.

    ``beta <- max(beta - eta * ra, beta_min)``, then renormalised to unit
    Euclidean norm: modalities with a negative advantage (poorly
    reconstructed, typically the ones missing most often) get more weight on
    their reconstruction loss.

    Parameters
    ----------
    beta : torch.Tensor of shape (n_modalities,)
        Current weights.
    ra : torch.Tensor of shape (n_modalities,)
        Relative advantages (:func:`relative_advantage`).
    eta : float
        Step size (:func:`eta_schedule`).
    beta_min : float, default=0.1
        Floor applied before the renormalisation (so after it every weight is
        at least ``beta_min / norm``).

    Returns
    -------
    beta : torch.Tensor of shape (n_modalities,)
        New weights, unit norm.

    Examples
    --------
    >>> import torch
    >>> beta = torch.full((2,), 2 ** -0.5)
    >>> b = update_supervision_weights(beta, torch.tensor([0.5, -0.5]), eta=0.1)
    >>> bool(b[1] > b[0]), round(float(b.norm()), 6)
    (True, 1.0)
    """
    raw = torch.clamp(beta - float(eta) * ra, min=float(beta_min))
    return raw / raw.norm()


def gaussian_kl_terms(mu, logvar, availability):
    """Per-modality VIB penalty over the available samples, as in the official code.

    For each modality, ``-sum_i a_i sum_d (1 + log s^2 - mu^2 - s^2) / n``:
    twice the KL divergence of ``N(mu, s^2)`` from ``N(0, I)``, summed over
    the latent dimensions, over the available samples only, divided by the
    batch size ``n`` (so a modality missing from the whole batch contributes
    exactly zero).

    Parameters
    ----------
    mu, logvar : dict of str to torch.Tensor of shape (n, latent_dim)
    availability : torch.Tensor of shape (n, n_modalities)
        Columns in the order of ``mu``'s keys.

    Returns
    -------
    kl : dict of str to torch.Tensor (scalars)
    """
    n = availability.shape[0]
    out = {}
    for j, m in enumerate(mu):
        lv = logvar[m].clamp(*LOGVAR_RANGE)
        per_sample = -(1.0 + lv - mu[m].pow(2) - lv.exp()).sum(dim=1)
        out[m] = (per_sample * availability[:, j]).sum() / max(n, 1)
    return out


def masked_reconstruction_error(imputed, target, present):
    """Squared error of an imputer over the samples where its modality is present.

    ``sum_i a_i ||imputed_i - target_i||^2 / sum_i a_i``, and exactly zero
    (with a zero gradient) when no sample of the batch has the modality.

    Parameters
    ----------
    imputed, target : torch.Tensor of shape (n, latent_dim)
    present : torch.Tensor of shape (n,)
        1 where the modality is available.

    Returns
    -------
    error : torch.Tensor (scalar)
    """
    count = present.sum()
    sq = ((imputed - target) ** 2).sum(dim=1) * present
    if not bool(count > 0):
        return sq.sum() * 0.0
    return sq.sum() / count


# ==================================================================== modules
class VIBHead(nn.Module):
    """Gaussian bottleneck on a modality's features.

    ``features -> ReLU -> Linear -> (mu, log sigma^2)``; the latent is
    ``mu + sigma * eps`` in training mode when ``sample`` is True and ``mu``
    otherwise.

    Parameters
    ----------
    in_features : int
        Size of the encoder's features.
    latent_dim : int
        Size of the latent.
    sample : bool, default=True
        Draw the reparameterised sample in training mode.
    init_logvar : float, default=-4.0
        Initial bias of the ``log sigma^2`` outputs. At 0 (a plain linear
        layer) the sampling noise starts at unit scale and drowns the small
        initial signal of an encoder; a negative start lets the classifiers
        learn first and the KL term widen the posterior later.
    """

    def __init__(self, in_features, latent_dim, sample=True, init_logvar=-4.0):
        super().__init__()
        self.linear = nn.Linear(in_features, 2 * latent_dim)
        self.latent_dim = int(latent_dim)
        self.sample = sample
        with torch.no_grad():
            self.linear.bias[self.latent_dim :] = float(init_logvar)

    def forward(self, features):
        """Return ``(z, mu, logvar)``, each of shape ``(n, latent_dim)``."""
        mu, logvar = self.linear(F.relu(features)).chunk(2, dim=1)
        if self.training and self.sample:
            std = torch.exp(0.5 * logvar.clamp(*LOGVAR_RANGE))
            z = mu + std * torch.randn_like(std)
        else:
            z = mu
        return z, mu, logvar


class ResidualImputer(nn.Module):
    """Cross-modal imputer: residual autoencoder blocks, then a two-layer map to the target latent.

    Block ``b`` encodes its input ``h_b`` through ``layers`` (LeakyReLU
    between layers), decodes it back to the input size (ReLU between layers)
    and the next block sees ``h_{b+1} = h_b + decoder_b(encoder_b(h_b))``,
    with ``h_0`` the input; a final ``Linear-ReLU-Linear`` maps the last
    residual sum to ``out_features``. This is the structure of the official
    code's cross-modal "ResidualXE", without dropout or normalisation.

    Parameters
    ----------
    in_features : int
        Size of the concatenated other latents.
    out_features : int
        Size of the latent to predict.
    layers : tuple of int, default=(64, 32)
        Widths of each block's encoder (the decoder mirrors them).
    n_blocks : int, default=3
        Number of residual blocks (0 leaves only the final map).
    """

    def __init__(self, in_features, out_features, layers=(64, 32), n_blocks=3):
        super().__init__()
        layers = [int(w) for w in layers]
        if not layers:
            raise ValueError("`layers` of a residual imputer must name at least one width.")
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {"encoder": self._encoder(in_features, layers), "decoder": self._decoder(in_features, layers)}
            )
            for _ in range(int(n_blocks))
        )
        self.transition = nn.Sequential(
            nn.Linear(in_features, in_features), nn.ReLU(), nn.Linear(in_features, out_features)
        )

    @staticmethod
    def _encoder(in_features, layers):
        mods, width = [], in_features
        for i, w in enumerate(layers):
            mods.append(nn.Linear(width, w))
            if i < len(layers) - 1:
                mods.append(nn.LeakyReLU())
            width = w
        return nn.Sequential(*mods)

    @staticmethod
    def _decoder(in_features, layers):
        widths = list(reversed(layers)) + [in_features]
        mods = []
        for i in range(len(widths) - 1):
            mods.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)

    def forward(self, x):
        """Map the other modalities' latents ``(n, in_features)`` to ``(n, out_features)``."""
        h = x
        for block in self.blocks:
            h = h + block["decoder"](block["encoder"](h))
        return self.transition(h)


def _classifier(in_features, n_classes, hidden, dropout):
    mods, width = [], in_features
    for w in hidden:
        mods += [nn.Linear(width, int(w)), nn.ReLU()]
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
        width = int(w)
    mods.append(nn.Linear(width, n_classes))
    return nn.Sequential(*mods)


class RedCoreNetwork(nn.Module):
    """RedCore network: encoders, VIB heads, cross-modal imputers, fusion and unimodal heads.

    Parameters
    ----------
    encoder_factory : EncoderFactory or mapping of str to torch.nn.Module
        Builds one encoder per modality
        (:class:`skcausalmm.nn.encoders.EncoderFactory`, through its
        ``build_all()``), or the encoders themselves, each mapping its batch
        to ``(n, in_features[m])``; the order is the order of the
        availability columns.
    n_classes : int
        Number of classes.
    latent_dim : int, default=32
        Size of each modality's latent ``z_m``.
    imputer_layers : tuple of int, default=(64, 32)
        Block widths of the residual imputers.
    n_blocks : int, default=3
        Residual blocks per imputer.
    head_hidden : tuple of int, default=(64,)
        Hidden widths of the fusion and unimodal classifiers.
    dropout : float, default=0.3
        Dropout after each hidden layer of the classifiers.
    sample_latent : bool, default=True
        Reparameterised sampling in training mode (``mu`` is always used in
        evaluation mode).
    init_logvar : float, default=-4.0
        Initial bias of the VIB heads' ``log sigma^2`` (see :class:`VIBHead`).
    in_features : dict of str to int, int or None, default=None
        Output size of each encoder when ``encoder_factory`` is a mapping of
        modules (one int for all); ignored with a factory.

    Notes
    -----
    ``forward(X, availability=None)`` returns a dict with ``logits`` (fusion
    head), ``modality_logits`` (unimodal heads on ``z~_m``), ``latent``
    (``z_m``), ``mu``, ``logvar``, ``imputed`` (``G_m(z_-m)``), ``fused``
    (``z~_m``) and ``availability``; the per-modality entries are dicts keyed
    by modality. Missing inputs are zero-filled before encoding, whatever the
    caller put there. The imputer of ``m`` sees every other modality's
    latent, and for an absent other modality that is the latent of its
    zero-filled input (as in the official code, which encodes the masked,
    zeroed input and feeds that encoding to the imputers) -- never the
    imputed latent.
    """

    def __init__(
        self,
        encoder_factory,
        n_classes,
        latent_dim=32,
        imputer_layers=(64, 32),
        n_blocks=3,
        head_hidden=(64,),
        dropout=0.3,
        sample_latent=True,
        init_logvar=-4.0,
        in_features=None,
    ):
        super().__init__()
        if hasattr(encoder_factory, "build_all"):
            encoders, in_features = encoder_factory.build_all()
        else:
            encoders = encoder_factory
            if in_features is None:
                raise ValueError("in_features is required when the encoders are given as modules.")
        self.encoders = encoders if isinstance(encoders, nn.ModuleDict) else nn.ModuleDict(encoders)
        self.names = list(self.encoders.keys())
        if isinstance(in_features, int):
            in_features = {m: in_features for m in self.names}
        self.latent_dim = int(latent_dim)
        self.vib = nn.ModuleDict(
            {m: VIBHead(in_features[m], latent_dim, sample_latent, init_logvar) for m in self.names}
        )
        n_mod = len(self.names)
        self.imputers = nn.ModuleDict(
            {
                m: ResidualImputer((n_mod - 1) * self.latent_dim, self.latent_dim, imputer_layers, n_blocks)
                for m in self.names
            }
            if n_mod > 1
            else {}
        )
        self.head = _classifier(n_mod * self.latent_dim, n_classes, head_hidden, dropout)
        self.modality_heads = nn.ModuleDict(
            {m: _classifier(self.latent_dim, n_classes, head_hidden, dropout) for m in self.names}
        )

    def _availability(self, X, availability):
        n = X[self.names[0]].shape[0]
        if availability is None:
            return torch.ones((n, len(self.names)), device=X[self.names[0]].device)
        return availability.to(dtype=torch.float32)

    def encode(self, X, availability=None):
        """Return ``(latent, mu, logvar, availability)``; the first three are dicts keyed by modality."""
        a = self._availability(X, availability)
        latent, mu, logvar = {}, {}, {}
        for j, m in enumerate(self.names):
            x = X[m]
            present = (a[:, j] > 0).reshape((-1,) + (1,) * (x.dim() - 1))
            x = torch.where(present, x, torch.zeros((), dtype=x.dtype, device=x.device))
            latent[m], mu[m], logvar[m] = self.vib[m](self.encoders[m](x))
        return latent, mu, logvar, a

    def impute(self, latent):
        """Return ``{m: G_m(z_-m)}`` (empty with one modality)."""
        out = {}
        for m in self.imputers:
            others = torch.cat([latent[k] for k in self.names if k != m], dim=1)
            out[m] = self.imputers[m](others)
        return out

    def fuse(self, latent, imputed, availability):
        """``z~_m``: the latent where ``m`` is present, the imputation where it is absent."""
        fused = {}
        for j, m in enumerate(self.names):
            if m in imputed:
                present = (availability[:, j] > 0).unsqueeze(1)
                fused[m] = torch.where(present, latent[m], imputed[m])
            else:
                fused[m] = latent[m]
        return fused

    def forward(self, X, availability=None):
        """Logits and every intermediate the loss needs (see the class notes)."""
        latent, mu, logvar, a = self.encode(X, availability)
        imputed = self.impute(latent)
        fused = self.fuse(latent, imputed, a)
        return {
            "logits": self.head(torch.cat([fused[m] for m in self.names], dim=1)),
            "modality_logits": {m: self.modality_heads[m](fused[m]) for m in self.names},
            "latent": latent,
            "mu": mu,
            "logvar": logvar,
            "imputed": imputed,
            "fused": fused,
            "availability": a,
        }

    def transform(self, X, availability=None):
        """The fused latent ``[z~_1, ..., z~_M]`` of shape ``(n, n_modalities * latent_dim)``."""
        return torch.cat([self.forward(X, availability)["fused"][m] for m in self.names], dim=1)


class RedCoreLoss(nn.Module):
    """RedCore's objective with its relative-advantage-aware supervision weights.

    ``CE(fusion) + unimodal_weight * sum_m CE_m + kl_weight * sum_m KL_m +
    reconstruction_weight * sum_m beta_m MSE_m``, where ``KL_m``
    (:func:`gaussian_kl_terms`) and ``MSE_m``
    (:func:`masked_reconstruction_error`) count the samples in which ``m`` is
    available. In training mode each call first updates the moving averages
    of ``MSE_m`` (:func:`update_ema`) and, every ``update_interval``
    iterations (iteration 0 included), the weights ``beta``
    (:func:`relative_advantage`, :func:`eta_schedule`,
    :func:`update_supervision_weights`); the new ``beta`` already weights
    this batch's loss, as in the official code. In evaluation mode nothing
    changes.

    Parameters
    ----------
    n_modalities : int
        Number of modalities.
    class_weight : torch.Tensor or None, default=None
        Per-class weights of every cross-entropy.
    kl_weight : float, default=8e-4
        Weight of the VIB terms.
    reconstruction_weight : float, default=0.15
        Weight of the beta-weighted reconstruction terms.
    unimodal_weight : float, default=1.0
        Weight of the unimodal cross-entropies.
    adaptive : bool, default=True
        Update ``beta``; False keeps it at its uniform start ``1 / sqrt(M)``
        (the moving averages and advantages are still tracked).
    update_interval : int, default=3
        Iterations between two updates of ``beta``.
    eta : float, default=0.1
        Initial step size of the update (see :func:`eta_schedule`).
    eta_growth : float, default=1.5
        Growth factor of the step size.
    eta_growth_every : int, default=500
        Iterations between two growths of the step size.
    beta_min : float, default=0.1
        Floor of the weights before renormalisation.
    ema_weight : float, default=0.7
        Weight of the newest reconstruction loss in its moving average.

    Attributes
    ----------
    beta : torch.Tensor of shape (n_modalities,)
        Current supervision weights (a buffer).
    ema : torch.Tensor of shape (n_modalities,)
        Moving averages of the reconstruction losses, starting at 0 as in the
        official code.
    ra : torch.Tensor of shape (n_modalities,)
        Relative advantages of the last training step.
    iteration : torch.Tensor
        Training steps taken (a long scalar buffer).
    last_terms_ : dict
        The terms of the last call (fused and unimodal cross-entropies, KL,
        reconstruction errors, beta and ra), logged per epoch by the base.
    """

    def __init__(
        self,
        n_modalities,
        class_weight=None,
        kl_weight=8e-4,
        reconstruction_weight=0.15,
        unimodal_weight=1.0,
        adaptive=True,
        update_interval=3,
        eta=0.1,
        eta_growth=1.5,
        eta_growth_every=500,
        beta_min=0.1,
        ema_weight=0.7,
    ):
        super().__init__()
        n_modalities = int(n_modalities)
        self.register_buffer("class_weight", class_weight)
        self.register_buffer("beta", torch.full((n_modalities,), n_modalities**-0.5))
        self.register_buffer("ema", torch.zeros(n_modalities))
        self.register_buffer("ra", torch.zeros(n_modalities))
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        self.kl_weight = float(kl_weight)
        self.reconstruction_weight = float(reconstruction_weight)
        self.unimodal_weight = float(unimodal_weight)
        self.adaptive = bool(adaptive)
        self.update_interval = int(update_interval)
        self.eta = float(eta)
        self.eta_growth = float(eta_growth)
        self.eta_growth_every = int(eta_growth_every)
        self.beta_min = float(beta_min)
        self.ema_weight = float(ema_weight)
        self.last_terms_ = {}

    @torch.no_grad()
    def step_weights(self, reconstruction, present):
        """Advance the moving averages, the advantages and (every ``update_interval`` steps) ``beta``.

        Parameters
        ----------
        reconstruction : torch.Tensor of shape (n_modalities,)
            This batch's reconstruction errors (detached).
        present : torch.Tensor of shape (n_modalities,), bool
            Whether the batch has an available sample of each modality.
        """
        self.ema.copy_(update_ema(self.ema, reconstruction.to(self.ema), present, self.ema_weight))
        self.ra.copy_(relative_advantage(self.ema))
        t = int(self.iteration)
        if self.adaptive and t % self.update_interval == 0:
            eta = eta_schedule(t, self.eta, self.eta_growth, self.eta_growth_every)
            self.beta.copy_(update_supervision_weights(self.beta, self.ra, eta, self.beta_min))
        self.iteration += 1

    def forward(self, outputs, y, sample_weight=None):
        """Return the total loss; in training mode, update the supervision weights first."""
        names = list(outputs["mu"])
        a = outputs["availability"]
        loss = cross_entropy(outputs["logits"], y, self.class_weight, sample_weight)
        terms = {"fused_ce": loss.detach()}
        for m, logits in outputs["modality_logits"].items():
            ce = cross_entropy(logits, y, self.class_weight, sample_weight)
            terms[f"ce_{m}"] = ce.detach()
            loss = loss + self.unimodal_weight * ce
        kl = gaussian_kl_terms(outputs["mu"], outputs["logvar"], a)
        for m in names:
            terms[f"kl_{m}"] = kl[m].detach()
            loss = loss + self.kl_weight * kl[m]
        imputed = outputs["imputed"]
        mse = [
            masked_reconstruction_error(imputed[m], outputs["latent"][m], a[:, j]) if m in imputed else a.new_zeros(())
            for j, m in enumerate(names)
        ]
        mse_t = torch.stack(mse) if mse else a.new_zeros(0)
        if self.training:
            self.step_weights(mse_t.detach(), (a > 0).any(dim=0))
        loss = loss + self.reconstruction_weight * (self.beta.to(mse_t) * mse_t).sum()
        for j, m in enumerate(names):
            terms[f"mse_{m}"] = mse_t[j].detach()
            terms[f"beta_{m}"] = self.beta[j].detach().clone()
            terms[f"ra_{m}"] = self.ra[j].detach().clone()
        self.last_terms_ = terms
        return loss
