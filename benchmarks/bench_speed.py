"""Issue 16's performance table in one run: every row measured, with ratios, targets and a summary.

The rows (what is measured, against what, and the target):

1. ``LateFusionClassifier.fit`` against a hand-written torch loop and plain skorch: the same
   network (LateFusionNetwork with the package's encoders, same initial weights), loss,
   optimiser (Adam with the fused step the package uses where torch has it; the loop with
   torch's default per-tensor step is shown beside), epochs and batch size on the bundled Multiple Features data (2,000 samples),
   runs interleaved and repeated (medians). Targets: within 1.1x on ``pix + fou`` (a CNN,
   compute-bound), 1.3x on ``fou + kar`` (two small MLPs, per-batch overhead dominates).
2. ``LateFusionClassifier.predict_proba`` against a hand-written inference loop (batch 256,
   same standardisation and network): about 1.0x; samples per second.
3. ``FrontDoorMultimodalClassifier.predict_proba`` at its defaults (64 prototypes, beta=0.5)
   against late fusion's: at least 1/3 of its throughput; also the exact 2,000-entry average
   and ``"nwgm"``, with the mean total variation from the exact average
   (``bench_frontdoor_predict.run_config``).
   Plus, measured here: throughput relative to late fusion against the dictionary size, for
   the exact average over J entries (a random subset of the fitted 2,000-entry dictionary,
   set with ``FrontDoorNetwork.set_dictionary``) and for ``n_prototypes`` prototypes (``set_prototypes``), with the
   total variation from the exact 2,000-entry average (figure ``speed_dictionary_size.png``).
4. Front-door training per epoch against late fusion's: at most 1.5x
   (``bench_training_cost.run_config``, restricted to the late-fusion and front-door rows).
5. The fixed cost of ``predominant="auto"`` (its warm-up): at most 10 % of a default (40-epoch)
   fit (``bench_training_cost.warm_up_cost``).
6. ``FrontDoorAdjustment.fit`` at 10^6 (and 10^7) rows against ``pd.crosstab``: at most 1.0x
   (``bench_adjustment.run_speed``; worst input form).
7. Peak memory of ``fit`` / ``predict_proba`` on 1,000,000 rows per input form: at most +0.6x
   the data (``bench_memory.main``, each measurement in a fresh process).
8. Fit at large n: ``LateFusionClassifier`` and ``FrontDoorMultimodalClassifier`` (one epoch)
   on a synthetic two-table data set (2 x 25 float32 columns, 10 classes from a linear rule)
   for n up to 10^6: time per sample should not grow with n; the largest n again from float32
   ``numpy.memmap`` files (streamed, in a temporary folder deleted afterwards) at a similar
   cost; and the peak RSS of a fit on a 1,500 MB memory-mapped table against its budget
   (``bench_memory``). Figure ``fit_time_vs_n.png``.

One torch thread throughout; the machine may be shared, so read the ratios, not the seconds.
The summary table at the end has one line per row. Results go to
``benchmarks/results/speed.json`` (``speed_quick.json`` with ``--quick``); the figures to
``docs/figures/`` (``benchmarks/results/`` with ``--quick``; or ``--figure-dir``).

Usage::

    python benchmarks/bench_speed.py                  # the full table (about 6 minutes on 2 cores)
    python benchmarks/bench_speed.py --quick          # smoke run (CI; under a minute)
    python benchmarks/bench_speed.py --parts fit,inference --epochs 20 --repeats 5 --batch-size 128
    python benchmarks/bench_speed.py --parts dictionary     # redraw docs/figures/speed_dictionary_size.png
    python benchmarks/bench_speed.py --parts large_n        # redraw docs/figures/fit_time_vs_n.png
    python benchmarks/bench_speed.py --replot benchmarks/results/speed.json   # figures + summary, no runs

``--parts`` runs a subset (``fit, inference, predict, dictionary, training, adjustment, memory,
large_n``; the JSON is then ``speed_<parts>.json``). ``--quick`` uses fewer epochs, repeats and
sizes (its ratios are not representative: fixed costs weigh more in short fits), and writes its
figures to ``benchmarks/results/``.
"""

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import Dataset

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm._core.checks import fused_optimizer_params
from skcausalmm.datasets import load_multiple_features
from skcausalmm.fusion.network import FusionLoss

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the other benchmarks of this folder, reused as modules
import bench_adjustment  # noqa: E402
import bench_frontdoor_predict  # noqa: E402
import bench_memory  # noqa: E402
import bench_training_cost  # noqa: E402

RESULTS = HERE / "results"
FIGURES = HERE.parent / "docs" / "figures"
PARTS = ("fit", "inference", "predict", "dictionary", "training", "adjustment", "memory", "large_n")
FIT_TARGETS = {"pix+fou": 1.1, "fou+kar": 1.3}


# ---------------------------------------------------------------------------
# Row 1: fit against a hand-written loop and plain skorch.
# ---------------------------------------------------------------------------


def hand_written(module, X, y, epochs, batch_size, lr, seed, fused=None):
    """The reference: a plain torch loop with whole-tensor batches (``fused``: the Adam step the estimator uses)."""
    module = copy.deepcopy(module)
    loss_fn = FusionLoss()
    opt = torch.optim.Adam(module.parameters(), lr=lr, fused=fused)
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
        **fused_optimizer_params(torch.optim.Adam, "cpu"),
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

    # the package fuses Adam's step where torch has the kernel: the reference loop takes the same step,
    # and the loop with torch's default (per-tensor) step is shown beside it
    fused = bool(fused_optimizer_params(torch.optim.Adam, "cpu")) or None
    times = {"hand-written loop": [], "LateFusionClassifier.fit": [], "plain skorch (DataLoader)": [],
             "hand-written loop, default Adam step": []}
    for r in range(args.repeats):
        t = time.perf_counter()
        hand_written(module0, Xt, yt, args.epochs, args.batch_size, lr, r, fused)
        times["hand-written loop"].append(time.perf_counter() - t)
        if fused:
            t = time.perf_counter()
            hand_written(module0, Xt, yt, args.epochs, args.batch_size, lr, r)
            times["hand-written loop, default Adam step"].append(time.perf_counter() - t)
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
    target = FIT_TARGETS.get("+".join(views), 1.3)
    print(f"target: LateFusionClassifier.fit within {target}x of the hand-written loop -> "
          f"{'met' if ratio <= target else 'NOT met'} ({ratio:.2f}x)\n")
    return rows


# ---------------------------------------------------------------------------
# Row 2: predict_proba against a hand-written inference loop.
# ---------------------------------------------------------------------------


def hand_written_predict(est, X, batch_size=256):
    """The reference: the fitted network and its input layer in a plain no-grad loop."""
    module, standardizer = est.net_.module_, est.net_.standardizer_
    module.eval()
    names = list(X)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in X.items()}
    n = len(tensors[names[0]])
    out = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            batch = standardizer({k: v[i : i + batch_size] for k, v in tensors.items()})
            out.append(module.predict_proba(batch))  # the fused head only: what the predictions need
    return torch.cat(out).numpy()


def inference_speed(views, args):
    X, y = load_multiple_features(views=views, return_X_y=True)
    est = LateFusionClassifier(max_epochs=args.inference_epochs, random_state=0, device="cpu").fit(X, y)
    methods = {"hand-written inference": lambda: hand_written_predict(est, X),
               "LateFusionClassifier.predict_proba": lambda: est.predict_proba(X)}
    outputs = {name: run() for name, run in methods.items()}  # warm-up
    max_diff = float(np.abs(outputs["hand-written inference"] - outputs["LateFusionClassifier.predict_proba"]).max())
    times = {name: [] for name in methods}
    for _ in range(args.inference_repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    ref = float(np.median(times["hand-written inference"]))
    rows = [{"method": name, "median_s": float(np.median(t)), "samples_per_s": len(y) / float(np.median(t)),
             "ratio_to_hand_written": float(np.median(t)) / ref, "runs_s": t} for name, t in times.items()]
    print(f"predict_proba, {len(y)} samples ({' + '.join(views)}), batch 256, median of {args.inference_repeats} "
          f"(max |difference| of the probabilities {max_diff:.1e})")
    for row in rows:
        print(f"{row['method']:36s} {row['samples_per_s']:10.0f} samples/s {row['ratio_to_hand_written']:6.2f}x time")
    print()
    return {"rows": rows, "max_abs_difference": max_diff}


# ---------------------------------------------------------------------------
# Row 3: front-door prediction (bench_frontdoor_predict) and the dictionary-size sweep.
# ---------------------------------------------------------------------------


@contextmanager
def _patched(module, name, value):
    """Temporarily replace ``module.name`` (to run another benchmark's function on a subset)."""
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def frontdoor_predict(args):
    ns = argparse.Namespace(epochs=args.predict_epochs, repeats=args.predict_repeats, quick=args.quick)
    all_variants = bench_frontdoor_predict.variants

    def summary_variants(quick):
        # exact, the default prototypes and nwgm only
        return [v for v in all_variants(quick) if "prototypes" not in v[0] or "default" in v[0]]

    with _patched(bench_frontdoor_predict, "variants", summary_variants):
        return {"+".join(v): bench_frontdoor_predict.run_config(v, (0.5,), ns) for v in bench_frontdoor_predict.CONFIGS}


def dictionary_sweep(args):
    """Throughput / late fusion and TV to the exact 2,000-entry average, against the dictionary size."""
    X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    common = dict(max_epochs=args.sweep_epochs, random_state=0, device="cpu")
    late = LateFusionClassifier(**common).fit(X, y)
    fd = FrontDoorMultimodalClassifier(predominant="pix", auxiliary="confounder", **common).fit(X, y)
    net = fd.net_.module_
    contexts, auxiliaries, weights = net.dictionary.entries()
    full = len(contexts)
    # the dictionary holds the training rows in their order (sorted by class here): take random subsets
    order = torch.randperm(full, generator=torch.Generator().manual_seed(0))
    timed = [("late fusion", None, late)]
    for size in [s for s in args.exact_sizes if s <= full]:
        est = copy.deepcopy(fd).set_params(approximation="exact", beta=0.5)
        if size < full:
            index = order[:size]
            est.net_.module_.set_dictionary(contexts[index], auxiliaries[index], weights[index])
        timed.append(("exact", size, est))
    for k in args.prototype_sizes:  # one copy per size: each keeps its own prototypes
        timed.append(("prototypes", k, copy.deepcopy(fd).set_params(approximation="prototypes").set_prototypes(k)))
    probas = {(family, size): est.predict_proba(X) for family, size, est in timed}  # warm-up
    times = {(family, size): [] for family, size, _ in timed}
    for _ in range(args.sweep_repeats):
        for family, size, est in timed:
            start = time.perf_counter()
            est.predict_proba(X)
            times[family, size].append(time.perf_counter() - start)
    reference = probas["exact", full]
    late_rate = len(y) / float(np.median(times["late fusion", None]))
    rows = []
    print(f"predict_proba against the dictionary size, pix + fou, {len(y)} samples, {args.sweep_epochs} epochs, "
          f"beta=0.5, median of {args.sweep_repeats}; late fusion {late_rate:,.0f} samples/s")
    print(f"{'variant':12s} {'entries':>7s} {'samples/s':>10s} {'/ late':>7s} {'TV to exact':>12s}")
    for family, size, _ in timed[1:]:
        rate = len(y) / float(np.median(times[family, size]))
        row = {"family": family, "entries": size, "samples_per_s": rate, "ratio_to_late_fusion": rate / late_rate,
               "tv_to_exact": bench_frontdoor_predict.total_variation(probas[family, size], reference),
               "runs_s": times[family, size]}
        rows.append(row)
        print(f"{family:12s} {size:7d} {rate:10.0f} {row['ratio_to_late_fusion']:7.3f} {row['tv_to_exact']:12.4f}")
    print()
    return {"late_fusion_samples_per_s": late_rate, "dictionary_size": full, "rows": rows}


def _save(fig, axes, path):
    """Small tick labels, tight layout, write the PNG (dpi 90) and close the figure."""
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plain_log(ax, axes="xy"):
    """Log scale on ``axes`` with plain numbers as labels (no minor-tick labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for name in axes:
        axis = ax.xaxis if name == "x" else ax.yaxis
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        if name == "y":  # ticks at 1, 2 and 5 times the powers of ten
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
        axis.set_minor_formatter(NullFormatter())


def plot_dictionary(sweep, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.3))
    styles = {"exact": ("tab:blue", "o", "exact average over J entries"),
              "prototypes": ("tab:orange", "s", "n_prototypes = J (default 64)")}
    for family, (color, marker, label) in styles.items():
        rows = [r for r in sweep["rows"] if r["family"] == family]
        J = [r["entries"] for r in rows]
        ax1.plot(J, [r["ratio_to_late_fusion"] for r in rows], marker=marker, color=color, label=label)
        tv = [(r["entries"], r["tv_to_exact"]) for r in rows if r["tv_to_exact"] > 0]
        if tv:
            ax2.plot(*zip(*tv), marker=marker, color=color, label=label)
        for r in rows:
            if family == "prototypes" and r["entries"] == 64:
                ax1.scatter([64], [r["ratio_to_late_fusion"]], s=90, facecolors="none", edgecolors="black", zorder=3)
                ax2.scatter([64], [r["tv_to_exact"]], s=90, facecolors="none", edgecolors="black", zorder=3)
    ax1.axhline(1 / 3, color="tab:red", ls="--", lw=1, label="target 1/3")
    _plain_log(ax1)
    ax1.set_xlabel("dictionary entries J")
    ax1.set_ylabel("throughput / late fusion's")
    ax1.set_title(f"pix + fou, beta = 0.5 (late fusion {sweep['late_fusion_samples_per_s']:,.0f} samples/s)",
                  fontsize=8)
    ax1.legend(fontsize=7)
    ax2.axhline(0.01, color="grey", ls=":", lw=1, label="TV 0.01")
    _plain_log(ax2)
    ax2.set_xlabel("dictionary entries J")
    ax2.set_ylabel(f"mean TV to exact ({sweep['dictionary_size']:,} entries)")
    ax2.legend(fontsize=7)
    _save(fig, (ax1, ax2), path)


# ---------------------------------------------------------------------------
# Rows 4 and 5: training cost per epoch and the warm-up of predominant="auto" (bench_training_cost).
# ---------------------------------------------------------------------------


def training_cost(args):
    names = ("LateFusion", "FrontDoor") if args.quick else ("LateFusion", "FrontDoor", "FrontDoor (confounder)")
    full = bench_training_cost.estimators

    def subset(predominant):
        return {name: make for name, make in full(predominant).items() if name in names}

    with warnings.catch_warnings(), _patched(bench_training_cost, "estimators", subset):
        warnings.simplefilter("ignore", UserWarning)
        min_seconds = 0.0 if args.quick else 1.0
        configs = {"+".join(v): bench_training_cost.run_config(v, args.train_epochs, args.train_repeats, 128, min_seconds)
                   for v in (["pix", "fou"], ["fou", "kar"])}
        print()
        warm = [bench_training_cost.warm_up_cost(v) for v in args.warm_up_views]
    print()
    return {"configs": configs, "warm_up": warm}


# ---------------------------------------------------------------------------
# Row 6: FrontDoorAdjustment.fit against pandas (bench_adjustment).
# ---------------------------------------------------------------------------


def adjustment(args):
    sizes = [10**6] if args.quick else [10**6, 10**7]
    repeats = {10**6: 2 if args.quick else 5, 10**7: 2}
    print("FrontDoorAdjustment.fit against pandas: median seconds; ratio = ours / reference (< 1: ours is faster)")
    print(f"{'input':<30} {'n':>9} {'ours':>9} {'groupby':>9} {'crosstab':>9} {'np.unique':>9} "
          f"{'/groupby':>7} {'/xtab':>7} {'/unique':>7}")
    records = bench_adjustment.run_speed(sizes, repeats, crosstab=True)
    print()
    return records


# ---------------------------------------------------------------------------
# Rows 7 and 8: peak memory per input form and the memory-mapped fit (bench_memory, fresh processes).
# ---------------------------------------------------------------------------


def memory(args):
    argv = ["--quick"] if args.quick else []
    bench_memory.main(argv)
    stem = "memory_quick" if args.quick else "memory"
    print()
    return json.loads((RESULTS / f"{stem}.json").read_text())


# ---------------------------------------------------------------------------
# Row 8: fit time against n, in memory and from memory maps.
# ---------------------------------------------------------------------------

N_COLS, N_CLASSES = 25, 10


def synthetic(n, directory=None, seed=0):
    """Two float32 modalities of 25 columns, labels from a fixed linear rule; memory maps in ``directory``."""
    rule = np.random.default_rng(12345).standard_normal((2 * N_COLS, N_CLASSES)).astype(np.float32)
    rng = np.random.default_rng(seed)
    if directory is None:
        X = {name: np.empty((n, N_COLS), dtype=np.float32) for name in ("a", "b")}
    else:
        X = {name: np.lib.format.open_memmap(os.path.join(directory, f"{name}.npy"), mode="w+", dtype=np.float32,
                                             shape=(n, N_COLS)) for name in ("a", "b")}
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, 65536):
        block = rng.standard_normal((min(65536, n - start), 2 * N_COLS), dtype=np.float32)
        X["a"][start : start + len(block)] = block[:, :N_COLS]
        X["b"][start : start + len(block)] = block[:, N_COLS:]
        y[start : start + len(block)] = (block @ rule).argmax(1)
    if directory is not None:
        for mm in X.values():
            mm.flush()
        X = {name: np.load(os.path.join(directory, f"{name}.npy"), mmap_mode="r") for name in X}
    return X, y


def _large_n_estimators():
    common = dict(hidden_size=8, max_epochs=1, batch_size=1024, random_state=0, device="cpu")
    return {"LateFusion": lambda: LateFusionClassifier(**common),
            "FrontDoor": lambda: FrontDoorMultimodalClassifier(predominant="a", **common)}


def _time_fit(make, X, y):
    est = make()
    start = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - start
    head = min(len(y), 10_000)
    return seconds, float(est.score({k: v[:head] for k, v in X.items()}, y[:head]))


def fit_time_vs_n(args):
    makers = _large_n_estimators()
    X, y = synthetic(2000, seed=1)
    for make in makers.values():  # warm-up: one-off costs (allocations, libraries) are not timed
        make().fit(X, y)
    rows = []
    print("fit time against n (one epoch, batch 1,024, hidden_size 8; 2 x 25 float32 columns, 10 classes)")
    print(f"{'estimator':12s} {'input':8s} {'n':>9s} {'seconds':>8s} {'us/sample':>10s} {'acc (10k)':>9s}")
    def time_all(X, y, kind, n):
        for name, make in makers.items():
            seconds, acc = _time_fit(make, X, y)
            rows.append({"estimator": name, "input": kind, "n": n, "seconds": seconds,
                         "us_per_sample_epoch": 1e6 * seconds / n, "train_accuracy_10k": acc})
            print(f"{name:12s} {kind:8s} {n:9d} {seconds:8.2f} {1e6 * seconds / n:10.2f} {acc:9.2f}", flush=True)

    for n in args.sizes:
        time_all(*synthetic(n), "memory", n)
    n = args.sizes[-1]
    with tempfile.TemporaryDirectory() as directory:
        time_all(*synthetic(n, directory), "memmap", n)  # the maps are closed before the folder goes
    print()
    return rows


def plot_large_n(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.3))
    colors = {"LateFusion": "tab:blue", "FrontDoor": "tab:orange"}
    for name, color in colors.items():
        mem = [r for r in rows if r["estimator"] == name and r["input"] == "memory"]
        mm = [r for r in rows if r["estimator"] == name and r["input"] == "memmap"]
        n = np.array([r["n"] for r in mem], dtype=float)
        s = np.array([r["seconds"] for r in mem])
        ax1.plot(n, s, marker="o", color=color, label=f"{name}, in memory")
        ax2.plot(n, [r["us_per_sample_epoch"] for r in mem], marker="o", color=color, label=f"{name}, in memory")
        for r in mm:
            ax1.scatter([r["n"]], [r["seconds"]], marker="x", s=70, color=color, zorder=3, label=f"{name}, memmap")
            ax2.scatter([r["n"]], [r["us_per_sample_epoch"]], marker="x", s=70, color=color, zorder=3,
                        label=f"{name}, memmap")
        if name == "LateFusion":
            ax1.plot(n, s[-1] * n / n[-1], color="grey", ls="--", lw=1, label="linear in n")
    _plain_log(ax1)
    ax1.set_xlabel("n (rows)")
    ax1.set_ylabel("fit seconds (1 epoch)")
    ax1.legend(fontsize=7)
    _plain_log(ax2, "x")
    ax2.set_ylim(bottom=0)
    ax2.set_xlabel("n (rows)")
    ax2.set_ylabel("µs per sample per epoch")
    _save(fig, (ax1, ax2), path)


# ---------------------------------------------------------------------------
# The summary: one line per row of the table.
# ---------------------------------------------------------------------------


def _verdict(ok):
    return "met" if ok else "NOT met"


def summary(results, args):
    lines = []

    def add(what, measured, reference, target, ok, why=""):
        lines.append({"what": what, "measured": measured, "reference": reference, "target": target,
                      "met": bool(ok), "status": _verdict(ok) + (f" ({why})" if why and not ok else "")})

    if "fit" in results:
        ratios = {c: next(r for r in rows if r["method"] == "LateFusionClassifier.fit")["ratio_to_hand_written"]
                  for c, rows in results["fit"].items()}
        for config, ratio in ratios.items():
            target = FIT_TARGETS[config]
            add(f"1. LateFusionClassifier.fit, {config}", f"{ratio:.2f}x ({args.epochs} epochs, batch {args.batch_size})",
                "hand-written torch loop (the same Adam step)", f"<= {target}x", ratio <= target,
                "skorch's per-batch/per-epoch overhead" + (" on two tiny MLPs" if config == "fou+kar" else ""))
    if "inference" in results:
        for config, res in results["inference"].items():
            ours = next(r for r in res["rows"] if r["method"].startswith("LateFusion"))
            ratio = ours["ratio_to_hand_written"]
            add(f"2. LateFusion.predict_proba, {config}", f"{ratio:.2f}x time, {ours['samples_per_s']:,.0f} samples/s",
                "hand-written inference, batch 256", "~1.0x (<= 1.1x)", ratio <= 1.1,
                f"fixed per-call cost (validation) on a {1e3 * ours['median_s']:.1f} ms call")
    if "predict" in results:
        for config, rows in results["predict"].items():
            get = {r["method"]: r for r in rows}
            view = get["view role (defaults)"]
            default = next(r for r in rows if r["method"].endswith("(default)"))
            exact = get["confounder: exact (2,000 entries)"]
            nwgm = get["confounder: nwgm (2,000 entries)"]
            ratio = default["ratio_to_late_fusion"]
            add(f"3. FrontDoor.predict_proba with its defaults, {config}", f"{view['ratio_to_late_fusion']:.3f}x",
                "LateFusion.predict_proba", ">= 1/3", view["ratio_to_late_fusion"] >= 1 / 3,
                "one forward pass (no dictionary)")
            add(f"3. FrontDoor.predict_proba, auxiliary='confounder', {config}",
                f"{ratio:.3f}x (TV {default['tv_to_exact']:.4f}); exact {exact['ratio_to_late_fusion']:.3f}x; "
                f"nwgm {nwgm['ratio_to_late_fusion']:.3f}x (TV {nwgm['tv_to_exact']:.3f})",
                "LateFusion.predict_proba", ">= 1/3, TV <= 0.01",
                ratio >= 1 / 3 and default["tv_to_exact"] <= 0.01,
                "the average over 64 prototypes; two small MLPs make late fusion very cheap")
    if "dictionary" in results:
        rows = results["dictionary"]["rows"]
        fast = {fam: [r for r in rows if r["family"] == fam and r["ratio_to_late_fusion"] >= 1 / 3]
                for fam in ("exact", "prototypes")}
        best = {fam: (max(r["entries"] for r in fast[fam]) if fast[fam] else None) for fam in fast}
        default = next((r for r in rows if r["family"] == "prototypes" and r["entries"] == 64), None)
        measured = (f"largest J at >= 1/3: exact {best['exact'] or 'none'}, prototypes {best['prototypes'] or 'none'}"
                    + (f"; 64 prototypes {default['ratio_to_late_fusion']:.3f}x" if default else ""))
        ok = default is not None and default["ratio_to_late_fusion"] >= 1 / 3
        add("3b. throughput vs dictionary size, pix+fou", measured, "LateFusion.predict_proba", ">= 1/3 at 64",
            ok, "see figure")
    if "training" in results:
        for config, rows in results["training"]["configs"].items():
            get = {r["estimator"]: r["ratio"] for r in rows}
            confounder = (f"; auxiliary='confounder' {get['FrontDoor (confounder)']:.2f}x"
                          if "FrontDoor (confounder)" in get else "")
            why = "the InfoNCE and the heads on two small tables" if config.startswith("fou") else "per-batch extra terms"
            add(f"4. FrontDoor training / epoch, {config}", f"{get['FrontDoor']:.2f}x{confounder}",
                "LateFusion / epoch", "<= 1.5x", get["FrontDoor"] <= 1.5, why)
        for warm in results["training"]["warm_up"]:
            share = warm["warm_up_share"]
            add(f"5. predominant='auto' warm-up, {'+'.join(warm['views'])}",
                f"{100 * share:.1f}% ({warm['fit_auto_s']:.1f} s vs {warm['fit_by_name_s']:.1f} s by name)",
                f"default fit ({warm.get('epochs', 40)} epochs)", "<= 10%", share <= 0.10, "10 late-fusion epochs + Shapley; one run")
    if "adjustment" in results:
        for n in sorted({r["n"] for r in results["adjustment"]}):
            recs = [r for r in results["adjustment"] if r["n"] == n]
            worst = max(recs, key=lambda r: r["ratio_to_pandas_crosstab"])
            add(f"6. FrontDoorAdjustment.fit, n={n:.0e}",
                f"worst {worst['ratio_to_pandas_crosstab']:.2f}x ({worst['input'].split(',')[0]}); best "
                f"{min(r['ratio_to_pandas_crosstab'] for r in recs):.2f}x",
                "pd.crosstab", "<= 1.0x", worst["ratio_to_pandas_crosstab"] <= 1.0, "see bench_adjustment")
    if "memory" in results:
        forms = results["memory"]["forms"]
        worst = max(forms, key=lambda r: max(r["fit_extra_x"], r["predict_extra_x"]))
        w = max(worst["fit_extra_x"], worst["predict_extra_x"])
        add(f"7. peak memory, {forms[0]['rows']:,} rows x {forms[0]['cols']}",
            f"worst +{w:.2f}x ({worst['form']}); best +{min(max(r['fit_extra_x'], r['predict_extra_x']) for r in forms):.2f}x",
            "the raw data", "<= +0.6x, every form", w <= 0.6, "float32 copy 0.5x + per-row bookkeeping")
    if "large_n" in results:
        rows = results["large_n"]
        top = rows[-1]["n"]
        growth, stream = {}, {}
        for name in ("LateFusion", "FrontDoor"):
            mem = [r for r in rows if r["estimator"] == name and r["input"] == "memory"]
            mm = next(r for r in rows if r["estimator"] == name and r["input"] == "memmap")
            growth[name] = (mem[-1]["us_per_sample_epoch"], mem[-1]["us_per_sample_epoch"]
                            / min(r["us_per_sample_epoch"] for r in mem))
            stream[name] = mm["seconds"] / mem[-1]["seconds"]
        add(f"8. fit time vs n, up to n={top:.0e} (1 epoch)",
            "; ".join(f"{k} {v[0]:.1f} us/sample at the top ({v[1]:.2f}x the lowest)" for k, v in growth.items()),
            "smaller n", "linear: <= 1.25x per sample", all(v[1] <= 1.25 for v in growth.values()), "see figure")
        add(f"8b. fit from float32 memmaps, n={top:.0e}",
            "; ".join(f"{k} {v:.2f}x" for k, v in stream.items()), "the same fit in memory", "similar: <= 1.5x",
            all(v <= 1.5 for v in stream.values()), "batch rows gathered from the map")
    if "memory" in results:
        big = results["memory"]["memmap_fit"]
        add(f"8c. memmap fit, {big['file_mb']:,.0f} MB file", f"peak RSS +{big['peak_extra_x']:.2f}x the file "
            f"({big['peak_extra_mb']:.0f} MB, {big['seconds']:.0f} s)", "the file", f"< {big['budget_x']}x",
            big["within_budget"], "per-row bookkeeping")
    return lines


def print_summary(lines, header):
    cols = ("what", "measured", "reference", "target", "status")
    print(f"\nSummary ({header})\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for line in lines:
        print("| " + " | ".join(str(line[c]) for c in cols) + " |")


def draw_figures(results, figure_dir):
    figures = []
    if "dictionary" in results:
        figures.append(figure_dir / "speed_dictionary_size.png")
        plot_dictionary(results["dictionary"], figures[-1])
    if "large_n" in results:
        figures.append(figure_dir / "fit_time_vs_n.png")
        plot_large_n(results["large_n"], figures[-1])
    return figures


def replot(path, figure_dir):
    """Redraw the figures and reprint the summary from a JSON written by an earlier run."""
    payload = json.loads(Path(path).read_text())
    args = argparse.Namespace(**payload["args"])
    if figure_dir is None:
        figure_dir = Path(payload["figures"][0]).parent if payload["figures"] else FIGURES
    figures = draw_figures(payload["results"], figure_dir)
    print_summary(summary(payload["results"], args), payload.get("header", f"from {path}"))
    print("\nwrote " + " and ".join(str(f) for f in figures))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="row 1: epochs of each fit")
    parser.add_argument("--repeats", type=int, default=5, help="row 1: repeats")
    parser.add_argument("--batch-size", type=int, default=128, help="row 1: batch size")
    parser.add_argument("--skip-skorch", action="store_true", help="skip the slow plain-skorch run")
    parser.add_argument("--quick", action="store_true", help="smoke run (CI): fewer epochs, repeats and sizes")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--figure-dir", type=Path, default=None,
                        help="where the figures go (default: docs/figures, benchmarks/results with --quick)")
    parser.add_argument("--replot", metavar="JSON", default=None,
                        help="only redraw the figures (and reprint the summary) from a JSON of an earlier run")
    args = parser.parse_args(argv)
    if args.replot:
        return replot(args.replot, args.figure_dir)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    torch.set_num_threads(1)
    full = not args.quick
    if args.quick:
        args.epochs, args.repeats, args.skip_skorch = 2, 1, True
    args.inference_epochs, args.inference_repeats = (5, 10) if full else (2, 3)
    args.predict_epochs, args.predict_repeats = (15, 5) if full else (3, 2)
    args.sweep_epochs, args.sweep_repeats = (10, 3) if full else (2, 1)
    args.exact_sizes = (64, 128, 256, 512, 1000, 2000) if full else (64, 256, 2000)
    args.prototype_sizes = (16, 32, 64, 128, 256) if full else (16, 64, 256)
    args.train_epochs, args.train_repeats = (5, 3) if full else (1, 1)
    args.warm_up_views = (["pix", "mor"], ["fou", "kar"]) if full else (["fou", "kar"],)
    args.sizes = (10_000, 30_000, 100_000, 300_000, 1_000_000) if full else (2_000, 10_000)
    figure_dir = args.figure_dir or (FIGURES if full else RESULTS)

    steps = {
        "fit": lambda: {"+".join(v): run_config(v, args) for v in (["pix", "fou"], ["fou", "kar"])},
        "inference": lambda: {"+".join(v): inference_speed(v, args) for v in (["pix", "fou"], ["fou", "kar"])},
        "predict": lambda: frontdoor_predict(args),
        "dictionary": lambda: dictionary_sweep(args),
        "training": lambda: training_cost(args),
        "adjustment": lambda: adjustment(args),
        "memory": lambda: memory(args),
        "large_n": lambda: fit_time_vs_n(args),
    }
    start = time.perf_counter()
    results, seconds = {}, {}
    for part in parts:
        t = time.perf_counter()
        print(f"=== {part} ===", flush=True)
        results[part] = steps[part]()
        seconds[part] = time.perf_counter() - t
    figures = draw_figures(results, figure_dir)
    total = time.perf_counter() - start
    header = (f"{time.strftime('%Y-%m-%d')}, {torch.get_num_threads()} torch thread, {os.cpu_count()} cores, "
              f"{'--quick, ' if args.quick else ''}{total:.0f} s; ratios")
    lines = summary(results, args)
    print_summary(lines, header)
    RESULTS.mkdir(exist_ok=True)
    stem = "speed_quick" if args.quick else "speed"
    if set(parts) != set(PARTS):  # a partial run does not overwrite the whole table
        stem += "_" + "-".join(parts)
    out = RESULTS / f"{stem}.json"
    payload = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "header": header, "seconds": seconds, "total_seconds": total, "summary": lines, "results": results,
               "figures": [str(f) for f in figures]}
    # the fit rows are kept under "configs" too, as before
    if "fit" in results:
        payload["configs"] = results["fit"]
    out.write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nwrote {out}" + "".join(f" and {f}" for f in figures) + f" ({total:.0f} s)")


if __name__ == "__main__":
    main()
