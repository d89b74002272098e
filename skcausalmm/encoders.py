"""Encoder factories: a torch module per modality, chosen from the input shape.

* 2-D input ``(n, d)`` (tabular): a two-layer perceptron.
* 3-D ``(n, H, W)`` or 4-D ``(n, C, H, W)`` (images): a small convolutional
  network with global average pooling, so any ``H, W >= 1`` works.
* 3-D ``(n, T, D)`` sequences: a GRU (ask for it with the kind ``"rnn"``,
  since a 3-D array is read as a single-channel image by default).

Every encoder maps a batch of its modality to ``(n, out_features)``.
"""

import copy

import torch
from torch import nn

__all__ = ["make_encoder", "MLPEncoder", "CNNEncoder", "RNNEncoder", "ENCODER_KINDS"]

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
    on a batch of one) and group normalisation's backward pass was 10x slower
    than the whole rest of the network on CPU here; three layers train well
    without either.

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
