"""The dictionary of contexts the front-door prediction averages over, and its prototypes.

:class:`ContextDictionary` holds the (context, auxiliary) pairs ``(r_j, z_a_j)`` drawn from
the training data (a sample of training rows, or weighted k-means prototypes of them) with their
weights ``w_j``, and a smaller prototype dictionary of ``n_prototypes`` weighted k-means centres
of it for ``approximation="prototypes"``. Both are buffers (saved with the weights), built once
at fit time by :meth:`ContextDictionary.set`; prediction only reads them.
"""

from __future__ import annotations

import warnings

import torch
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits
from torch import nn

__all__ = ["ContextDictionary"]

#: The buffers: the dictionary, its prototypes, and (number asked for, k-means seed) of the prototypes.
_BUFFERS = ("contexts", "auxiliaries", "weights", "prototype_contexts", "prototype_auxiliaries",
            "prototype_weights", "prototype_info")


class ContextDictionary(nn.Module):
    """The (context, auxiliary) pairs of the front-door average, their weights, and their prototypes.

    Parameters
    ----------
    context_size : int
        Width of the contexts ``r_j``.
    auxiliary_size : int
        Width of the auxiliary features ``z_a_j``.
    max_entries : int or None, default=None
        The most entries the dictionary can hold (the network's ``dictionary_size``): a saved
        dictionary with more is refused before its tensors are read. None means no bound.

    Attributes
    ----------
    contexts, auxiliaries, weights : torch.Tensor or None
        The dictionary (buffers; None until :meth:`set`); the weights sum to one.
    prototype_contexts, prototype_auxiliaries, prototype_weights : torch.Tensor or None
        The prototype dictionary (buffers): the weighted k-means centres of the entries
        ``[r_j, z_a_j]``, each weighted by the total weight of its entries; the dictionary
        itself when it has at most ``n_prototypes`` entries.
    prototype_info : torch.Tensor or None
        ``(n_prototypes asked for, k-means seed)``.
    """

    def __init__(self, context_size, auxiliary_size, max_entries=None):
        super().__init__()
        self.context_size, self.auxiliary_size = int(context_size), int(auxiliary_size)
        self.max_entries = None if max_entries is None else int(max_entries)
        for name in _BUFFERS:
            self.register_buffer(name, None)
        # not saved: moves with the module, so that loaded buffers land on the network's device
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)

    @property
    def built(self):
        """Whether :meth:`set` has been called."""
        return self.contexts is not None

    @property
    def n_prototypes(self):
        """The number of prototypes asked for when they were built (None before)."""
        return None if self.prototype_info is None else int(self.prototype_info[0])

    @torch.no_grad()
    def set(self, contexts, auxiliaries, weights=None, n_prototypes=64, seed=0):
        """Set the dictionary and build its prototypes.

        Parameters
        ----------
        contexts : torch.Tensor of shape (J, context_size)
        auxiliaries : torch.Tensor of shape (J, auxiliary_size)
        weights : torch.Tensor of shape (J,) or None, default=None
            Non-negative weights, normalised to sum to one; None means uniform.
        n_prototypes : int, default=64
            Number of prototypes (:meth:`compress`).
        seed : int, default=0
            Seed of the prototypes' k-means.

        Returns
        -------
        self : ContextDictionary
        """
        self.contexts, self.auxiliaries, self.weights = _check_dictionary(contexts, auxiliaries, weights)
        return self.compress(n_prototypes, seed)

    @torch.no_grad()
    def compress(self, n_prototypes, seed=0):
        """(Re)build the prototypes: ``n_prototypes`` weighted k-means centres of the entries.

        Each centre is the weighted mean of its entries, so the linear first layer of the head
        sees exactly the cluster's average input. A dictionary of at most ``n_prototypes``
        entries is used as it is.

        Parameters
        ----------
        n_prototypes : int
            Number of prototypes.
        seed : int, default=0
            Seed of the k-means initialisation.

        Returns
        -------
        self : ContextDictionary
        """
        if not self.built:
            raise RuntimeError("The context dictionary is not built: call set() (the network's fit_dictionary) first.")
        contexts, auxiliaries, weights = self.contexts, self.auxiliaries, self.weights
        if len(contexts) > n_prototypes:
            generator = torch.Generator().manual_seed(int(seed))
            centres, weights = _kmeans(torch.cat([contexts, auxiliaries], dim=1), int(n_prototypes), generator, weights)
            contexts, auxiliaries = centres[:, : self.context_size], centres[:, self.context_size :]
        self.prototype_contexts, self.prototype_auxiliaries, self.prototype_weights = contexts, auxiliaries, weights
        self.prototype_info = torch.tensor([int(n_prototypes), int(seed)], dtype=torch.int64, device=contexts.device)
        return self

    def entries(self, prototypes=False):
        """``(contexts, auxiliaries, weights)`` of the dictionary, or of its prototypes."""
        if not self.built:
            raise RuntimeError("The context dictionary is not built: call set() (the network's fit_dictionary) first.")
        if prototypes:
            return self.prototype_contexts, self.prototype_auxiliaries, self.prototype_weights
        return self.contexts, self.auxiliaries, self.weights

    def check_saved_shapes(self, shapes):
        """Refuse saved buffers whose shapes this dictionary cannot hold, before their bytes are read.

        Parameters
        ----------
        shapes : dict of str to tuple of int
            Shape of each saved buffer, by its name here (e.g. ``"contexts"``).

        Raises
        ------
        ValueError
            If a name is unknown, a width differs from the network's, the entries outnumber
            ``max_entries``, the prototypes outnumber the entries, or the buffers disagree in
            their number of rows.
        """
        widths = {"contexts": self.context_size, "auxiliaries": self.auxiliary_size}
        rows = {}
        for name, shape in shapes.items():
            shape = tuple(shape)
            if name not in _BUFFERS:
                raise ValueError(f"the context dictionary has no buffer {name!r}.")
            kind = name.split("_")[-1]
            if kind == "info":
                if shape != (2,):
                    raise ValueError(f"{name} has shape {shape}; it holds 2 numbers.")
                continue
            expected_dim = 2 if kind in widths else 1
            if len(shape) != expected_dim or (kind in widths and shape[1] != widths[kind]):
                wanted = f"(entries, {widths[kind]})" if kind in widths else "(entries,)"
                raise ValueError(f"{name} has shape {shape}; this network's {name} have shape {wanted}.")
            rows.setdefault("prototypes" if name.startswith("prototype") else "dictionary", set()).add(shape[0])
        for group, counts in rows.items():
            if len(counts) > 1:
                raise ValueError(f"The {group} buffers (contexts, auxiliaries, weights) disagree in their number of entries.")
        entries = next(iter(rows.get("dictionary", {0})))
        if self.max_entries is not None and entries > self.max_entries:
            raise ValueError(f"the saved dictionary has {entries} entries; dictionary_size={self.max_entries} allows at most that many.")
        prototypes = next(iter(rows.get("prototypes", {0})))
        if prototypes > max(entries, 1):
            raise ValueError(f"the saved dictionary has {prototypes} prototypes for {entries} entries; it cannot have more.")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the buffers are None until built: give them the saved shapes first, so that a fitted
        # state dict loads into a fresh dictionary
        widths = {"contexts": self.context_size, "auxiliaries": self.auxiliary_size}
        rows = {}
        for name in _BUFFERS:
            if prefix + name not in state_dict:
                continue
            saved = state_dict[prefix + name]
            kind = name.split("_")[-1]
            if kind in widths and (saved.ndim != 2 or saved.shape[1] != widths[kind]):
                raise ValueError(f"{name} has shape {tuple(saved.shape)}; this network's entries have {widths[kind]} columns.")
            if kind != "info":
                rows.setdefault("prototypes" if name.startswith("prototype") else "dictionary", set()).add(
                    int(saved.shape[0]) if saved.ndim else -1
                )
            setattr(self, name, torch.empty_like(saved, device=self._device_anchor.device))
        bad = [group for group, counts in rows.items() if len(counts) > 1]
        if bad:
            raise ValueError(f"The {bad[0]} buffers (contexts, auxiliaries, weights) disagree in their number of entries.")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self):
        size = "unbuilt" if not self.built else f"{len(self.contexts)} entries, {len(self.prototype_contexts)} prototypes"
        return f"context_size={self.context_size}, auxiliary_size={self.auxiliary_size}, {size}"


def _check_dictionary(contexts, auxiliaries, weights):
    """Validate a dictionary; returns (contexts, auxiliaries, weights summing to one)."""
    contexts = torch.as_tensor(contexts)
    auxiliaries = torch.as_tensor(auxiliaries, dtype=contexts.dtype)
    if contexts.ndim != 2 or auxiliaries.ndim != 2 or len(contexts) != len(auxiliaries):
        raise ValueError("contexts and auxiliaries must be 2-D with the same number of rows.")
    if len(contexts) == 0:
        raise ValueError("The dictionary must have at least one entry.")
    if weights is None:
        weights = torch.full((len(contexts),), 1.0 / len(contexts), dtype=contexts.dtype, device=contexts.device)
    else:
        weights = torch.as_tensor(weights, dtype=contexts.dtype, device=contexts.device)
        if weights.shape != (len(contexts),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("weights must be non-negative, one per entry, not all zero.")
        weights = weights / weights.sum()
    return contexts, auxiliaries, weights


def _kmeans(points, n_clusters, generator=None, sample_weight=None, n_iter=20):
    """Weighted k-means (scikit-learn's ``KMeans``, k-means++ seeding) of a tensor.

    The seed of ``KMeans`` is drawn from ``generator`` (so a seeded generator gives the same
    clusters). Returns ``(centres, weights)`` of the non-empty clusters: each centre is the
    weighted mean of its points (in the dtype and on the device of ``points``), each weight
    the cluster's share of the total weight (uniform point weights when ``sample_weight``
    is None).
    """
    n = len(points)
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    if sample_weight is None:
        sample_weight = torch.ones(n, dtype=points.dtype, device=points.device)
    sample_weight = torch.as_tensor(sample_weight, dtype=points.dtype, device=points.device)
    n_clusters = min(int(n_clusters), n)
    kmeans = KMeans(n_clusters=n_clusters, n_init=1, max_iter=n_iter, random_state=seed)
    # as many threads as torch uses: scikit-learn's OpenMP pool on every core spin-waits when
    # another process holds a core
    with warnings.catch_warnings(), threadpool_limits(limits=torch.get_num_threads()):
        # fewer distinct points than clusters: the duplicates' clusters stay empty (dropped)
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = kmeans.fit_predict(
            points.detach().cpu().double().numpy(),
            sample_weight=sample_weight.detach().cpu().double().numpy(),
        )
    labels = torch.from_numpy(labels).to(device=points.device, dtype=torch.int64)
    totals = torch.zeros(n_clusters, dtype=points.dtype, device=points.device).index_add_(0, labels, sample_weight)
    sums = torch.zeros(n_clusters, points.shape[1], dtype=points.dtype, device=points.device)
    sums.index_add_(0, labels, points * sample_weight[:, None])
    keep = totals > 0
    centres = sums[keep] / totals[keep, None]
    return centres, totals[keep] / totals[keep].sum()
