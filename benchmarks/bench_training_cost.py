"""Training cost of every classifier per epoch, relative to late fusion, in one interleaved run.

Each estimator trains on the bundled Multiple Features data (2,000 samples) with its own
defaults except ``max_epochs`` and ``batch_size`` (the same for all, so that an epoch is the
same number of steps); runs are interleaved and repeated, and the table reports the median
seconds per training epoch (skorch's epoch timer) and the median over rounds of its ratio to
``LateFusionClassifier``'s epoch in the same round, and beside it the fixed cost of each fit (set-up, and what is built after training, such as the
front door's dictionary and prototypes) (ratios, not absolute times: shared
machines are noisy). Also: the fixed cost of the front door's ``predominant="auto"`` warm-up
against a default front-door fit (40 epochs).

    python benchmarks/bench_training_cost.py            # 5 repeats, >= 5 epochs and >= 1 s of late fusion per fit
    python benchmarks/bench_training_cost.py --quick    # 1 epoch, 1 repeat (CI)

Where late fusion's epoch is short (two small tables: a few hundredths of a second, at the
mercy of the machine's jitter), every fit of the configuration trains for as many epochs as late
fusion needs for ``--min-seconds`` (measured in the warm-up round).

Target (issue 24): the front door with its defaults (``auxiliary="view"``) within 1.5x of late
fusion per epoch; ``auxiliary="confounder"`` (two encoders of the predominant modality, the
decorrelation penalty) is shown beside it.
"""

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from skcausalmm import (
    CausalInfoMinClassifier,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    OGMGEClassifier,
    RedCoreClassifier,
)
from skcausalmm.datasets import load_multiple_features

RESULTS = Path(__file__).parent / "results"


def estimators(predominant):
    return {
        "LateFusion": lambda **kw: LateFusionClassifier(**kw),
        "OGM-GE": lambda **kw: OGMGEClassifier(**kw),
        "MMPareto": lambda **kw: MMParetoClassifier(**kw),
        "MLA": lambda **kw: MLAClassifier(**kw),
        "RedCore": lambda **kw: RedCoreClassifier(**kw),
        "CausalInfoMin (TE-D)": lambda **kw: CausalInfoMinClassifier(**kw),
        "FrontDoor": lambda **kw: FrontDoorMultimodalClassifier(predominant=predominant, **kw),
        "FrontDoor (confounder)": lambda **kw: FrontDoorMultimodalClassifier(
            predominant=predominant, auxiliary="confounder", **kw
        ),
    }


def run_config(views, epochs, repeats, batch_size, min_seconds=0.0):
    X, y = load_multiple_features(views=views, return_X_y=True)
    makers = estimators(views[0])
    times = {name: [] for name in makers}
    fixed = {name: [] for name in makers}
    late_fusion_epoch = None  # seconds, from the warm-up round
    for r in range(repeats + 1):  # the first round warms up (allocations, caches) and is dropped
        if r == 1 and min_seconds:
            # short epochs (small tables) are at the mercy of the machine's jitter: train late fusion
            # for at least min_seconds per fit, and every estimator for as many epochs
            epochs = max(epochs, math.ceil(min_seconds / late_fusion_epoch))
        for name, make in makers.items():
            est = make(max_epochs=epochs, batch_size=batch_size, random_state=r, device="cpu")
            start = time.perf_counter()
            est.fit(X, y)
            total = time.perf_counter() - start
            if r:
                # skorch's EpochTimer: the seconds of each training epoch; the rest of the fit
                # (validation, set-up, what is built after training) is a fixed cost
                epoch_seconds = list(est.net_.history[:, "dur"])
                times[name].append(float(np.median(epoch_seconds)))
                fixed[name].append(total - float(np.sum(epoch_seconds)))
            elif name == "LateFusion":
                late_fusion_epoch = float(np.median(est.net_.history[:, "dur"]))
    # the ratio of each round's epoch to late fusion's in the same round, then the median over rounds
    rows = [{"estimator": n, "s_per_epoch": float(np.median(t)),
             "ratio": float(np.median(np.asarray(t) / np.asarray(times["LateFusion"]))),
             "fixed_s": float(np.median(fixed[n])), "runs": t} for n, t in times.items()]
    print(f"\nTraining cost per epoch, {' + '.join(views)} ({len(y)} samples, batch {batch_size}, {epochs} epochs, "
          f"median of {repeats}, {torch.get_num_threads()} torch thread)")
    print("| estimator | s / epoch | × late fusion | fixed cost of the fit (s) |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['estimator']} | {row['s_per_epoch']:.3f} | {row['ratio']:.2f} | {row['fixed_s']:.2f} |")
    fd = next(r for r in rows if r["estimator"] == "FrontDoor")["ratio"]
    print(f"target: FrontDoor within 1.5x of late fusion per epoch -> {'met' if fd <= 1.5 else 'NOT met'} ({fd:.2f}x)")
    return rows


def warm_up_cost(views, epochs=None):
    """Seconds of the predominant='auto' warm-up against the whole fit (None: the default ``max_epochs``).

    The fit with the modality named uses the modality that ``"auto"`` chose, so that the two
    fits differ by the warm-up only.
    """
    X, y = load_multiple_features(views=views, return_X_y=True)
    common = dict(random_state=0, device="cpu", **({} if epochs is None else {"max_epochs": epochs}))
    start = time.perf_counter()
    auto = FrontDoorMultimodalClassifier(**common).fit(X, y)
    with_auto = time.perf_counter() - start
    start = time.perf_counter()
    FrontDoorMultimodalClassifier(predominant=auto.predominant_modality_, **common).fit(X, y)
    by_name = time.perf_counter() - start
    epochs = auto.max_epochs
    row = {"views": views, "epochs": epochs, "fit_by_name_s": by_name, "fit_auto_s": with_auto,
           "chosen": auto.predominant_modality_, "warm_up_share": max(with_auto - by_name, 0.0) / with_auto}
    print(f"predominant='auto' on {'+'.join(views)} ({epochs} epochs): {with_auto:.1f} s vs {by_name:.1f} s by name "
          f"-> warm-up {100 * row['warm_up_share']:.0f}% of the fit (chose {row['chosen']!r})")
    return row


def figure(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(results)
    fig, axes = plt.subplots(1, len(configs), figsize=(5 * len(configs), 3.2), squeeze=False)
    for ax, name in zip(axes[0], configs):
        rows = results[name]
        ax.barh([r["estimator"] for r in rows], [r["ratio"] for r in rows], color="tab:blue")
        ax.axvline(1.0, color="black", lw=1)
        ax.axvline(1.5, color="tab:red", ls="--", lw=1, label="front-door target 1.5×")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("seconds per epoch / late fusion's")
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat, no warm-up measurement")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="train for at least as many epochs as late fusion needs for this many seconds")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    if args.quick:
        args.epochs, args.repeats = 1, 1
    min_seconds = 0.0 if args.quick else args.min_seconds
    results = {"+".join(v): run_config(v, args.epochs, args.repeats, args.batch_size, min_seconds)
               for v in (["pix", "fou"], ["fou", "kar"])}
    warm = [] if args.quick else [warm_up_cost(v) for v in (["pix", "mor"], ["fou", "kar"])]
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if args.quick else ""
    out = RESULTS / f"training_cost{suffix}.json"
    out.write_text(json.dumps({"args": vars(args) | {"figure": str(args.figure)}, "configs": results, "warm_up": warm},
                              indent=1))
    fig_path = args.figure or RESULTS / f"training_cost{suffix}.png"
    figure(results, fig_path)
    print(f"wrote {out} and {fig_path}")


if __name__ == "__main__":
    main()
