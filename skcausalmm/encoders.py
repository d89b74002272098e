"""Compatibility alias: the encoders live in :mod:`skcausalmm.modules.encoders`."""

from .modules.encoders import ENCODER_KINDS, CNNEncoder, MLPEncoder, RNNEncoder, make_encoder, output_size

__all__ = ["ENCODER_KINDS", "CNNEncoder", "MLPEncoder", "RNNEncoder", "make_encoder", "output_size"]
