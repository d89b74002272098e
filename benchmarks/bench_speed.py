"""Training speed of the shared base against a hand-written torch loop and plain skorch.

All three train the same network (LateFusionNetwork with the package's encoders,
same initial weights), the same loss, optimiser, epochs and batch size on the
bundled Multiple Features data (2,000 samples). The runs are
interleaved and repeated; the table reports medians and ratios to the
hand-written loop (ratios, not absolute times: shared machines are noisy).

Usage::

    python benchmarks/bench_speed.py [--epochs 20] [--repeats 5] [--batch-size 128]

Two configurations: an image + a table (compute-bound CNN) and two tables (small MLPs,
where per-batch overhead dominates). Target (issue 2): ``LateFusionClassifier.fit``
within 1.3x of the hand-written loop.
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import Dataset

from skcausalmm import LateFusionClassifier
from skcausalmm.datasets import load_multiple_features
from skcausalmm.modules.fusion import FusionLoss

RESULTS = Path(__file__).parent / "results"


def hand_written(module, X, y, epochs, batch_size, lr, seed):
    """The reference: a plain torch loop with whole-tensor batches."""
    module = copy.deepcopy(module)
    loss_fn = FusionLoss()
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            loss = loss_fn(module({k: v[idx] for k, v in X.items()}), y[idx])
            loss.backward()
            opt.step()
    return module


class _DictModule(torch.nn.Module):
    """Adapter: plain skorch spreads a dict into keyword arguments."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, **X):
        return self.inner(X)


def plain_skorch(module, X, y, epochs, batch_size, lr, seed):
    """skorch's defaults: a DataLoader that collates one sample at a time."""
    torch.manual_seed(seed)
    net = NeuralNet(
        _DictModule(copy.deepcopy(module)),
        criterion=FusionLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    net.fit(Dataset({k: v for k, v in X.items()}, y), None)
    return net


def run_config(views, args):
    """Time the three trainers on one set of views; print and return the rows."""
    X, y = load_multiple_features(views=views, return_X_y=True)
    lr = 1e-3
    # warm-up fit; then an untrained network (max_epochs=0) as the start of the other two,
    # so that all three train from freshly initialised weights
    LateFusionClassifier(max_epochs=args.epochs, batch_size=args.batch_size, lr=lr, random_state=0, device="cpu").fit(X, y)
    est = LateFusionClassifier(max_epochs=0, random_state=0, device="cpu").fit(X, y)
    module0 = copy.deepcopy(est.net_.module_)
    Xt = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in X.items()}
    yt = torch.from_numpy(y)

    times = {"hand-written loop": [], "LateFusionClassifier.fit": [], "plain skorch (DataLoader)": []}
    for r in range(args.repeats):
        t = time.perf_counter()
        hand_written(module0, Xt, yt, args.epochs, args.batch_size, lr, r)
        times["hand-written loop"].append(time.perf_counter() - t)
        t = time.perf_counter()
        LateFusionClassifier(max_epochs=args.epochs, batch_size=args.batch_size, lr=lr, random_state=r, device="cpu").fit(X, y)
        times["LateFusionClassifier.fit"].append(time.perf_counter() - t)
        if not args.skip_skorch and r < 2:
            t = time.perf_counter()
            plain_skorch(module0, Xt, yt, args.epochs, args.batch_size, lr, r)
            times["plain skorch (DataLoader)"].append(time.perf_counter() - t)
    ref = float(np.median(times["hand-written loop"]))
    rows = []
    print(f"Fit time, {len(y)} samples ({' + '.join(views)}), {args.epochs} epochs, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads, median of {args.repeats}")
    print(f"{'method':30s} {'median s':>9s} {'ratio':>7s}")
    for name, ts in times.items():
        if not ts:
            continue
        med = float(np.median(ts))
        rows.append({"method": name, "median_s": med, "ratio_to_hand_written": med / ref, "runs_s": ts})
        print(f"{name:30s} {med:9.3f} {med / ref:7.2f}")
    ratio = rows[1]["ratio_to_hand_written"]
    print(f"target: LateFusionClassifier.fit within 1.3x of the hand-written loop -> {'met' if ratio <= 1.3 else 'NOT met'} ({ratio:.2f}x)")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--skip-skorch", action="store_true", help="skip the slow plain-skorch run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, 1 repeat, no plain-skorch run")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats, args.skip_skorch = 2, 1, True

    all_rows = {}
    for views in (["pix", "fou"], ["fou", "kar"]):
        all_rows["+".join(views)] = run_config(views, args)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "speed.json"
    out.write_text(json.dumps({"args": vars(args), "configs": all_rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
