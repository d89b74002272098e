"""Encoder factories: a torch module per modality, chosen from the input shape.

* 2-D input ``(n, d)`` (tabular): a two-layer perceptron.
* 3-D ``(n, H, W)`` or 4-D ``(n, C, H, W)`` (images): a small convolutional
  network with global average pooling, so any ``H, W >= 1`` works.
* 3-D ``(n, T, D)`` sequences: a GRU (ask for it with the kind ``"rnn"``,
  since a 3-D array is read as a single-channel image by default).

Every encoder maps a batch of its modality to ``(n, out_features)``.
:class:`EncoderFactory` builds them for the networks of every method (it is
picklable, so a network can be rebuilt from its constructor arguments), and
:class:`InputStandardizer` is the fixed input layer that standardises each
modality with statistics fitted on the training data.
"""

import copy

import numpy as np
import torch
from torch import nn

from ._batching import is_mapped, release_pages

__all__ = [
    "ENCODER_KINDS",
    "CNNEncoder",
    "EncoderFactory",
    "InputStandardizer",
    "MLPEncoder",
    "RNNEncoder",
    "make_encoder",
    "output_size",
]

#: Encoder kinds that can be named per modality in an estimator's ``encoders``.
ENCODER_KINDS = ("mlp", "cnn", "rnn")


class MLPEncoder(nn.Module):
    """Two-layer perceptron for tabular input ``(n, d)``.

    Parameters
    ----------
    in_features : int
        Number of input features.
    out_features : int
        Size of the representation.
    hidden_size : int, default=64
        Width of the hidden layer.
    """

    def __init__(self, in_features, out_features, hidden_size=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden_size),
            nn.ReLU(),
            nn.Linear(hidden_size, out_features),
        )

    def forward(self, x):
        """Encode a batch of shape ``(n, in_features)``."""
        return self.net(x)


class CNNEncoder(nn.Module):
    """Small convolutional encoder for images ``(n, H, W)`` or ``(n, C, H, W)``.

    Three 3x3 convolutions (the last two with stride 2) with ReLU, then
    global average pooling and a linear projection. There is no
    normalisation layer: batch normalisation depends on the batch (and fails
    on a batch of one) and group normalisation's backward pass is slow on
    CPU; three layers train well without either (inputs are standardised by
    :class:`InputStandardizer`).

    Parameters
    ----------
    in_channels : int
        Number of input channels (1 for ``(n, H, W)`` input).
    out_features : int
        Size of the representation.
    hidden_size : int, default=64
        Channels of the last convolution (the first two have a quarter and a
        half of it).
    """

    def __init__(self, in_channels, out_features, hidden_size=64):
        super().__init__()
        c1, c2, c3 = max(hidden_size // 4, 4), max(hidden_size // 2, 4), hidden_size

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_channels, c1, 1), *block(c1, c2, 2), *block(c2, c3, 2)
        )
        self.head = nn.Linear(c3, out_features)

    def feature_map(self, x):
        """Return the last convolutional feature map ``(n, hidden, H/4, W/4)``."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.features(x)

    def forward(self, x):
        """Encode a batch of images."""
        return self.head(self.feature_map(x).mean(dim=(2, 3)))


class RNNEncoder(nn.Module):
    """GRU encoder for sequences ``(n, T, D)``; the last hidden state is projected.

    Parameters
    ----------
    in_features : int
        Features per time step ``D``.
    out_features : int
        Size of the representation.
    hidden_size : int, default=64
        Hidden size of the GRU.
    """

    def __init__(self, in_features, out_features, hidden_size=64):
        super().__init__()
        self.rnn = nn.GRU(in_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, out_features)

    def forward(self, x):
        """Encode a batch of sequences."""
        _, h = self.rnn(x)
        return self.head(h[-1])


def default_kind(sample_shape):
    """Return the encoder kind used for a per-sample shape when none is named."""
    return {1: "mlp", 2: "cnn", 3: "cnn"}[len(sample_shape)]


def make_encoder(sample_shape, out_features, hidden_size=64, kind=None):
    """Build an encoder for one modality.

    Parameters
    ----------
    sample_shape : tuple of int
        Shape of one sample: ``(d,)``, ``(H, W)``, ``(C, H, W)`` or ``(T, D)``.
    out_features : int
        Size of the representation.
    hidden_size : int, default=64
        Width of the encoder.
    kind : {"mlp", "cnn", "rnn"}, nn.Module, callable or None, default=None
        ``None`` picks from the shape (``mlp`` for 1 axis, ``cnn`` for 2 or
        3). A ``torch.nn.Module`` is deep-copied and used as it is (its
        output size must then be ``out_features`` or is read by the caller);
        a callable is called as ``kind(sample_shape, out_features)``.

    Returns
    -------
    encoder : torch.nn.Module
        Maps ``(n, *sample_shape)`` to ``(n, out_features)``.
    """
    sample_shape = tuple(int(s) for s in sample_shape)
    if isinstance(kind, nn.Module):
        return copy.deepcopy(kind)
    if isinstance(kind, type):
        raise TypeError(
            f"got the class {kind.__name__}; pass a module instance (e.g. {kind.__name__}(...)), a kind name "
            f"({', '.join(ENCODER_KINDS)}) or a callable f(sample_shape, out_features)."
        )
    if callable(kind) and not isinstance(kind, str):
        return kind(sample_shape, out_features)
    kind = default_kind(sample_shape) if kind is None else kind
    if kind == "mlp":
        if len(sample_shape) != 1:
            raise ValueError(f"An 'mlp' encoder needs 2-D input (n, d), got samples of shape {sample_shape}.")
        return MLPEncoder(sample_shape[0], out_features, hidden_size)
    if kind == "cnn":
        if len(sample_shape) not in (2, 3):
            raise ValueError(f"A 'cnn' encoder needs (n, H, W) or (n, C, H, W) input, got samples of shape {sample_shape}.")
        channels = 1 if len(sample_shape) == 2 else sample_shape[0]
        return CNNEncoder(channels, out_features, hidden_size)
    if kind == "rnn":
        if len(sample_shape) != 2:
            raise ValueError(f"An 'rnn' encoder needs (n, T, D) input, got samples of shape {sample_shape}.")
        return RNNEncoder(sample_shape[1], out_features, hidden_size)
    raise ValueError(f"Unknown encoder kind {kind!r}; use one of {ENCODER_KINDS}, a torch.nn.Module or a callable.")


def output_size(encoder, sample_shape):
    """Return the representation size of ``encoder`` by a dry run on two zero samples."""
    was_training = encoder.training
    encoder.eval()
    try:
        param = next(encoder.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            out = encoder(torch.zeros((2,) + tuple(sample_shape), device=device))
    except Exception as exc:
        raise ValueError(
            f"The encoder {type(encoder).__name__} failed on a batch of shape "
            f"{(2,) + tuple(sample_shape)}: {exc}"
        ) from exc
    finally:
        encoder.train(was_training)
    if out.dim() != 2:
        raise ValueError(
            f"The encoder {type(encoder).__name__} must return (n, features); it "
            f"returned shape {tuple(out.shape)}."
        )
    return int(out.shape[1])


class EncoderFactory:
    """Build the encoder of a modality from its per-sample shape and the user's choice.

    A plain, picklable object (no closures), so that a network can take it as a
    constructor argument and be rebuilt from its arguments, as skorch does.

    Parameters
    ----------
    shapes : dict of str to tuple of int
        Per-sample shape of each modality, in the order of the modalities.
    hidden_size : int, default=64
        Width of the default encoders.
    specs : dict of str to str, torch.nn.Module or callable, default=None
        Per-modality encoder choice (see :func:`make_encoder`); modalities not
        named get the default for their shape.

    Examples
    --------
    >>> from skcausalmm.modules.encoders import EncoderFactory
    >>> factory = EncoderFactory({"image": (1, 8, 8), "table": (5,)}, hidden_size=16)
    >>> type(factory("image", 4)).__name__, factory.names
    ('CNNEncoder', ['image', 'table'])
    """

    def __init__(self, shapes, hidden_size=64, specs=None):
        self.shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
        self.hidden_size = int(hidden_size)
        self.specs = dict(specs or {})
        unknown = set(self.specs) - set(self.shapes)
        if unknown:
            raise ValueError(
                f"`encoders` names unknown modalities {sorted(unknown)}; the data has {sorted(self.shapes)}."
            )

    @property
    def names(self):
        """The modalities, in input order."""
        return list(self.shapes)

    def __call__(self, name, out_features, project=True):
        """Build modality ``name``'s encoder mapping ``(n, *shape)`` to ``(n, out_features)``.

        With ``project=False`` a user module keeps its own output size; with
        True a linear projection to ``out_features`` is appended when needed.
        """
        if name not in self.shapes:
            raise ValueError(f"Unknown modality {name!r}; the data has {self.names}.")
        try:
            encoder = make_encoder(self.shapes[name], out_features, self.hidden_size, kind=self.specs.get(name))
            size = output_size(encoder, self.shapes[name])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Encoder of modality {name!r}: {exc}") from exc
        if project and size != out_features:
            encoder = nn.Sequential(encoder, nn.Linear(size, out_features))
        return encoder

    def build_all(self):
        """One encoder per modality with ``hidden_size`` outputs (a user module keeps its own).

        Returns
        -------
        encoders : torch.nn.ModuleDict
        dims : dict of str to int
            Output size of each encoder.
        """
        encoders = nn.ModuleDict({name: self(name, self.hidden_size, project=False) for name in self.names})
        dims = {name: output_size(encoders[name], self.shapes[name]) for name in self.names}
        return encoders, dims


def _reduction_axes(sample_shape, kind):
    """Axes of a batch ``(n, *sample_shape)`` over which one mean and scale are taken."""
    ndim = len(sample_shape) + 1
    if ndim == 2 or kind == "rnn":  # a table per column; a sequence per feature
        return tuple(range(ndim - 1))
    if ndim == 4:  # (n, C, H, W): per channel
        return (0, 2, 3)
    return tuple(range(ndim))  # (n, H, W): one channel


def standardization_stats(array, present=None, kind=None, chunk_size=65536, sample_weight=None):
    """Mean and scale of a modality over its present rows (float64 accumulation, in chunks).

    Parameters
    ----------
    array : ndarray of shape (n_samples, *sample_shape)
        The modality (missing rows may hold anything; they are skipped). A
        memory-mapped array is read chunk by chunk, and the pages read are
        handed back to the kernel as it goes.
    present : ndarray of bool of shape (n_samples,), default=None
        Rows where the modality is present (all when None).
    kind : str, default=None
        The modality's encoder kind; ``"rnn"`` standardises each feature of
        a sequence ``(n, T, D)``, otherwise a 3-D array is one image channel.
    chunk_size : int, default=65536
        Most rows read at a time (fewer for wide rows: a chunk holds at most
        about 2 MB as float64).
    sample_weight : ndarray of shape (n_samples,), default=None
        Per-row weights of the mean and variance (rows count once when None);
        with integer weights the statistics of the data with rows repeated.

    Returns
    -------
    mean, scale : ndarray of float32
        Broadcastable against one sample (shape ``sample_shape`` with the
        reduced axes of size 1); ``scale`` is 1 where the spread is zero.
    """
    axes = _reduction_axes(array.shape[1:], kind if isinstance(kind, str) else None)
    width = int(np.prod(array.shape[1:], dtype=np.int64))
    chunk_size = max(1, min(int(chunk_size), _STATS_CHUNK_BYTES // (8 * max(width, 1))))
    every = present is None or bool(np.all(present))
    rows = None if every else np.flatnonzero(present)
    n_rows = array.shape[0] if every else rows.shape[0]
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mapped = is_mapped(array)
    total = total_sq = None
    count = 0.0
    for start in range(0, n_rows, chunk_size):
        index = slice(start, min(start + chunk_size, n_rows)) if every else rows[start : start + chunk_size]
        block = np.array(array[index], dtype=np.float64)  # a copy: squared in place below
        if mapped:
            release_pages(array)
        if weights is None:
            s = block.sum(axis=axes, keepdims=True)
            count += block.size // s.size
            sq = np.multiply(block, block, out=block).sum(axis=axes, keepdims=True)
        else:
            w = weights[index].reshape((-1,) + (1,) * (block.ndim - 1))
            weighted = block * w
            s = weighted.sum(axis=axes, keepdims=True)
            count += float(w.sum()) * (block.size // s.size) / block.shape[0]
            sq = np.multiply(weighted, block, out=weighted).sum(axis=axes, keepdims=True)
        total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
    mean = total / max(count, 1e-300)
    var = np.maximum(total_sq / max(count, 1e-300) - np.square(mean), 0.0)
    scale = np.sqrt(var)
    scale[~np.isfinite(scale) | (scale <= 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0
    return mean[0].astype(np.float32), scale[0].astype(np.float32)


#: Bytes (as float64) of one chunk of :func:`standardization_stats`.
_STATS_CHUNK_BYTES = 2 * 2**20


class InputStandardizer(nn.Module):
    """Fixed (non-trained) input layer: ``(x - mean) / scale`` per modality, missing rows zero.

    Parameters
    ----------
    stats : dict of str to (ndarray, ndarray) or None
        ``(mean, scale)`` per modality, each broadcastable against one sample;
        modalities not named (or ``stats=None``) pass unchanged.
    names : list of str, default=None
        Modalities in the order of the columns of ``availability``.

    Notes
    -----
    The statistics are buffers: they are saved with the weights and move with
    the module to the training device. With an ``availability`` mask the rows
    of an absent modality are set to exactly zero after scaling.
    """

    def __init__(self, stats=None, names=None):
        super().__init__()
        self.names = list(names) if names is not None else list(stats or {})
        self.scaled = list(stats or {})
        for j, name in enumerate(self.scaled):
            mean, scale = stats[name]
            self.register_buffer(f"mean_{j}", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
            self.register_buffer(f"scale_{j}", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def standardize(self, name, x, availability=None):
        """One modality through the layer: scaled if it has statistics, its absent rows zeroed.

        Parameters
        ----------
        name : str
            The modality.
        x : torch.Tensor of shape (n, ...)
            Its batch.
        availability : torch.Tensor of shape (n, n_modalities) or None, default=None
            The availability mask (columns in the order of ``names``).

        Returns
        -------
        x : torch.Tensor
        """
        if name in self.scaled:
            j = self.scaled.index(name)
            x = (x - getattr(self, f"mean_{j}")) / getattr(self, f"scale_{j}")
        if availability is not None and name in self.names:
            present = availability[:, self.names.index(name)]
            x = x * present.reshape((-1,) + (1,) * (x.dim() - 1))
        return x

    def forward(self, X, availability=None):
        """Return the standardised ``{modality: tensor}`` (a new dict)."""
        out = dict(X)
        for name in X:
            if name in self.scaled or (availability is not None and name in self.names):
                out[name] = self.standardize(name, X[name], availability)
        return out
