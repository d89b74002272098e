"""Torch pieces shared by every method: encoders, layers, losses and the network/loss contract."""
