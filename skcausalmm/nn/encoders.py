"""Encoders: a torch module per modality, chosen from the input shape or named by kind.

One registry, :data:`ENCODER_KINDS`, maps every kind a user may name in an estimator's
``encoders`` to its builder:

* ``"mlp"``: a two-layer perceptron for tables ``(n, d)`` (the default for 2-D input);
* ``"cnn"``: a small convolutional network with global average pooling for images
  ``(n, H, W)`` or ``(n, C, H, W)`` (the default for 3-D and 4-D input), any ``H, W >= 1``;
* ``"rnn"``: a GRU for sequences ``(n, T, D)`` (a 3-D array is read as an image unless
  this kind is named);
* ``"skip_mlp"``: a deeper perceptron with a linear skip path whose non-linear branch starts
  at zero (any input, flattened);
* ``"identity"``: no parameters, the flattened input (precomputed embeddings).

Every encoder maps a batch of its modality to ``(n, out_features)``. :class:`EncoderFactory`
builds them for the networks of every method; it is picklable, so a network can be rebuilt
from its constructor arguments.
"""

import copy

import numpy as np
import torch
from torch import nn

__all__ = [
    "ENCODER_KINDS",
    "CNNEncoder",
    "EncoderFactory",
    "IdentityEncoder",
    "MLPEncoder",
    "RNNEncoder",
    "SkipMLPEncoder",
    "make_encoder",
    "output_size",
]


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
    :class:`~skcausalmm.nn.layers.InputStandardizer`).

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


class SkipMLPEncoder(nn.Module):
    """MLP with a linear skip path; the MLP's last layer starts at zero.

    ``f(x) = W x + b + MLP(x)``: at initialisation ``MLP(x) = 0``, so the encoder starts as a
    random linear map and the non-linear part grows from there. This keeps early training close
    to a linear map (which contrastive learning already aligns well) and avoids the collapse that
    a deep randomly initialised MLP can fall into at small temperatures.

    Parameters
    ----------
    in_features : int
        Input size (the input is flattened).
    out_features : int
        Output size.
    hidden_size : int, default=128
        Width of the hidden layers.
    n_hidden : int, default=3
        Number of hidden layers of the MLP branch (at least 1).
    negative_slope : float, default=0.01
        Slope of the leaky ReLU activations.
    """

    def __init__(self, in_features, out_features, hidden_size=128, n_hidden=3, negative_slope=0.01):
        super().__init__()
        if n_hidden < 1:
            raise ValueError(f"n_hidden must be >= 1, got {n_hidden!r}.")
        self.linear = nn.Linear(in_features, out_features)
        layers, width = [], in_features
        for _ in range(n_hidden):
            layers += [nn.Linear(width, hidden_size), nn.LeakyReLU(negative_slope)]
            width = hidden_size
        last = nn.Linear(width, out_features)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        layers.append(last)
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        """Encode a batch of shape ``(n, in_features)`` (other shapes are flattened)."""
        x = x.flatten(1)
        return self.linear(x) + self.mlp(x)


class IdentityEncoder(nn.Module):
    """An encoder that returns its (flattened) input: for precomputed embeddings.

    It has no parameters, and the input layer leaves such a modality unscaled.
    """

    def forward(self, x):
        """Return ``x`` flattened to ``(n, features)``."""
        return x.flatten(1)


# --------------------------------------------------------------------------- the registry
def _check_ndim(kind, sample_shape, ndims, expected):
    if len(sample_shape) not in ndims:
        raise ValueError(f"An {kind!r} encoder needs {expected} input, got samples of shape {sample_shape}.")


def _build_mlp(sample_shape, out_features, hidden_size, depth):
    _check_ndim("mlp", sample_shape, (1,), "2-D (n, d)")
    return MLPEncoder(sample_shape[0], out_features, hidden_size)


def _build_cnn(sample_shape, out_features, hidden_size, depth):
    _check_ndim("cnn", sample_shape, (2, 3), "(n, H, W) or (n, C, H, W)")
    return CNNEncoder(1 if len(sample_shape) == 2 else sample_shape[0], out_features, hidden_size)


def _build_rnn(sample_shape, out_features, hidden_size, depth):
    _check_ndim("rnn", sample_shape, (2,), "(n, T, D)")
    return RNNEncoder(sample_shape[1], out_features, hidden_size)


def _build_skip_mlp(sample_shape, out_features, hidden_size, depth):
    return SkipMLPEncoder(int(np.prod(sample_shape)), out_features, hidden_size, 3 if depth is None else int(depth))


def _build_identity(sample_shape, out_features, hidden_size, depth):
    return IdentityEncoder()


#: Every encoder kind that can be named per modality in an estimator's ``encoders``, with its
#: builder ``builder(sample_shape, out_features, hidden_size, depth) -> nn.Module`` (``depth``:
#: hidden layers where the kind has a choice, None for its default).
ENCODER_KINDS = {
    "mlp": _build_mlp,
    "cnn": _build_cnn,
    "rnn": _build_rnn,
    "skip_mlp": _build_skip_mlp,
    "identity": _build_identity,
}


def default_kind(sample_shape, table_kind="mlp"):
    """Return the encoder kind used for a per-sample shape when none is named."""
    return {1: table_kind, 2: "cnn", 3: "cnn"}[len(sample_shape)]


def make_encoder(sample_shape, out_features, hidden_size=64, kind=None, *, table_kind="mlp", depth=None):
    """Build an encoder for one modality.

    Parameters
    ----------
    sample_shape : tuple of int
        Shape of one sample: ``(d,)``, ``(H, W)``, ``(C, H, W)`` or ``(T, D)``.
    out_features : int
        Size of the representation.
    hidden_size : int, default=64
        Width of the encoder.
    kind : str, nn.Module, callable or None, default=None
        A name from :data:`ENCODER_KINDS`; ``None`` picks from the shape (``table_kind``
        for 1 axis, ``"cnn"`` for 2 or 3). A ``torch.nn.Module`` is deep-copied and used as
        it is (its output size must then be ``out_features`` or is read by the caller); a
        callable is called as ``kind(sample_shape, out_features)``.
    table_kind : str, default="mlp"
        The kind a table gets when none is named.
    depth : int or None, default=None
        Hidden layers of kinds that take a depth (``"skip_mlp"``); None for their default.

    Returns
    -------
    encoder : torch.nn.Module
        Maps ``(n, *sample_shape)`` to ``(n, out_features)`` (``"identity"``: to the
        flattened input).
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
    kind = default_kind(sample_shape, table_kind) if kind is None else kind
    builder = ENCODER_KINDS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        raise ValueError(
            f"Unknown encoder kind {kind!r}; use one of {tuple(ENCODER_KINDS)}, a torch.nn.Module or a callable."
        )
    return builder(sample_shape, out_features, hidden_size, depth)


def _input_mismatch(encoder, sample_shape):
    """Say which input an encoder's first layer expects, when it is not the modality's shape (else None)."""
    first = next((m for m in encoder.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))), None)
    if first is None or isinstance(first, nn.modules.lazy.LazyModuleMixin):
        return None
    if isinstance(first, nn.Linear):
        expected, got, what = first.in_features, sample_shape[-1], "features (its last axis)"
    else:
        expected, got, what = first.in_channels, sample_shape[0] if sample_shape else None, "channels (axis 1)"
    if got == expected:
        return None
    return (
        f"expects {expected} input {what.split(' ')[0]} (its first layer is {first}), but the modality has "
        f"per-sample shape {sample_shape}, that is {got} {what}. Build the encoder for that shape."
    )


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
        mismatch = _input_mismatch(encoder, tuple(sample_shape))
        if mismatch:
            raise ValueError(f"The encoder {type(encoder).__name__} {mismatch}") from exc
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
    table_kind : str, default="mlp"
        The kind a table gets when ``specs`` names none.
    depth : int or None, default=None
        Hidden layers of the kinds that take a depth (``"skip_mlp"``).

    Examples
    --------
    >>> from skcausalmm.nn.encoders import EncoderFactory
    >>> factory = EncoderFactory({"image": (1, 8, 8), "table": (5,)}, hidden_size=16)
    >>> type(factory("image", 4)).__name__, factory.names
    ('CNNEncoder', ['image', 'table'])
    """

    def __init__(self, shapes, hidden_size=64, specs=None, *, table_kind="mlp", depth=None):
        self.shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
        self.hidden_size = int(hidden_size)
        self.specs = dict(specs or {})
        self.table_kind = table_kind
        self.depth = depth
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
            encoder = make_encoder(
                self.shapes[name],
                out_features,
                self.hidden_size,
                kind=self.specs.get(name),
                table_kind=self.table_kind,
                depth=self.depth,
            )
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
