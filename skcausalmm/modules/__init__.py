"""Torch building blocks (``torch.nn.Module`` subclasses) used by the estimators."""
