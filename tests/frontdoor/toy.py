"""A tiny front-door problem: two tables, three classes, and the network that learns it."""

import torch
from torch import nn

from skcausalmm.frontdoor.losses import FrontDoorLoss

from ..helpers import frontdoor_network

N_CLASSES = 3
SHAPES = {"x": (6,), "a": (5,)}
TOLERANCE = 0.01  # mean total variation of the prototype dictionary from the exact average


def factory(name, out_features):
    return nn.Sequential(nn.Linear(SHAPES[name][0], 8), nn.ReLU(), nn.Linear(8, out_features))


def data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(N_CLASSES, (n,), generator=g)
    X = {name: torch.randn(n, *shape, generator=g) for name, shape in SHAPES.items()}
    X["x"][:, 0] += 2.0 * y
    X["a"][:, 0] += y
    return X, y


def network(auxiliary=("a",), **kwargs):
    torch.manual_seed(0)
    params = dict(mediator_size=6, context_size=5, auxiliary_size=4, projection_size=4, hidden_size=8,
                  dictionary_size=400, sample_shapes=SHAPES, n_prototypes=32)
    params.update(kwargs)
    return frontdoor_network(factory, "x", auxiliary, N_CLASSES, **params).eval()


def tv(p, q):
    return float(0.5 * (p - q).abs().sum(1).mean())


def train(net, X, y, steps=60):
    """A few Adam steps, so that the head is not random; the dictionary is then built."""
    net.train()
    loss_fn = FrontDoorLoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(X), y).backward()
        opt.step()
    net.eval()
    net.fit_dictionary(X, y, torch.Generator().manual_seed(0))
    return net
