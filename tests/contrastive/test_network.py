"""The contrastive network and its criterion."""

import numpy as np
import pytest
import torch

from skcausalmm.contrastive.network import ContrastiveNetwork, SymmetricInfoNCELoss
from skcausalmm.nn.encoders import IdentityEncoder, SkipMLPEncoder


def test_network_forward_and_identity_encoder():
    net = ContrastiveNetwork({"x": SkipMLPEncoder(4, 2, 8, 1), "t": IdentityEncoder()})
    X = {"x": torch.randn(6, 4), "t": torch.randn(6, 2)}
    out = net(X)
    assert set(out["embeddings"]) == {"x", "t"}
    assert out["embeddings"]["x"].shape == (6, 2)
    torch.testing.assert_close(out["embeddings"]["t"], X["t"])
    torch.testing.assert_close(net.encode(X["x"], "x"), out["embeddings"]["x"])
    with pytest.raises(ValueError, match="at least two"):
        ContrastiveNetwork({"x": IdentityEncoder()})


def test_training_aligns_two_linear_views():
    """A few hundred steps of symmetric InfoNCE make paired views of a shared latent retrievable."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(256, 3))
    xa = torch.tensor(z @ rng.normal(size=(3, 5)), dtype=torch.float32)
    xb = torch.tensor(z @ rng.normal(size=(3, 4)), dtype=torch.float32)
    net = ContrastiveNetwork({"a": SkipMLPEncoder(5, 3, 16, 1), "b": SkipMLPEncoder(4, 3, 16, 1)})
    crit = SymmetricInfoNCELoss(0.1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    with torch.no_grad():
        start = float(crit(net({"a": xa, "b": xb})))
    for _ in range(200):
        opt.zero_grad()
        loss = crit(net({"a": xa, "b": xb}))
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * start
