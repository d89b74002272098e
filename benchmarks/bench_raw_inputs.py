"""Defaults on raw data: every estimator on the bundled views exactly as the loader returns them.

The bundled UCI Multiple Features views have raw scales from about 1 to 17,572
(``mor``, ``fac``, ``zer``). Each estimator is fitted with its defaults (except
``max_epochs``) on a 70/30 stratified split, three ways side by side on the same
split and seeds:

* ``standardize=True`` (the default: the network's fixed input layer standardises
  every modality on the training rows),
* ``standardize=False`` (what the package did before it standardised: raw features
  reach the encoders),
* scaled by hand first (``StandardScaler`` per tabular view, fitted on the training
  rows) with the default ``standardize=True``: it must match the first column, so
  nothing is scaled twice in a harmful way.

Usage::

    python benchmarks/bench_raw_inputs.py            # 3 seeds, 15 epochs, LateFusion + every classifier
    python benchmarks/bench_raw_inputs.py --quick    # smoke run: 1 seed, 2 epochs, LateFusion only

Targets (issue 9): raw pix + mor with defaults >= 0.95 test accuracy; raw six
views >= 0.975; scaled by hand within noise of not scaled. Prints a table, writes
``benchmarks/results/raw_inputs.json`` and ``benchmarks/results/raw_inputs.png``.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skcausalmm import (
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    OGMGEClassifier,
)
from skcausalmm.datasets import load_multiple_features

RESULTS = Path(__file__).resolve().parent / "results"
VIEW_SETS = {"pix+mor": ["pix", "mor"], "all six": ["pix", "fou", "fac", "kar", "zer", "mor"]}
ESTIMATORS = {
    "LateFusion": LateFusionClassifier,
    "OGM-GE": OGMGEClassifier,
    "MMPareto": MMParetoClassifier,
    "MLA": MLAClassifier,
    "FrontDoor": FrontDoorMultimodalClassifier,
}


def scale_by_hand(X_train, X_test):
    """StandardScaler per tabular view, fitted on the training rows."""
    out_train, out_test = {}, {}
    for name, array in X_train.items():
        if array.ndim == 2:
            scaler = StandardScaler().fit(array)
            out_train[name] = scaler.transform(array).astype(np.float32)
            out_test[name] = scaler.transform(X_test[name]).astype(np.float32)
        else:
            out_train[name], out_test[name] = array, X_test[name]
    return out_train, out_test


def run(view_set, estimators, seeds, epochs):
    X, y = load_multiple_features(views=VIEW_SETS[view_set], return_X_y=True)
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=0)
    Xtr, Xte = X[train], X[test]
    Htr, Hte = scale_by_hand(Xtr, Xte)
    rows = []
    for name in estimators:
        cls = ESTIMATORS[name]
        scores = {"default (standardize=True)": [], "standardize=False": [], "scaled by hand": []}
        start = time.perf_counter()
        for seed in range(seeds):
            for column, kwargs, (a, b) in (
                ("default (standardize=True)", {}, (Xtr, Xte)),
                ("standardize=False", {"standardize": False}, (Xtr, Xte)),
                ("scaled by hand", {}, (Htr, Hte)),
            ):
                clf = cls(max_epochs=epochs, random_state=seed, **kwargs)
                try:
                    scores[column].append(clf.fit(a, y[train]).score(b, y[test]))
                except ValueError as exc:  # diverged training is refused, not returned
                    print(f"  {name} {column} seed {seed}: {exc}")
                    scores[column].append(float("nan"))
        row = {"views": view_set, "estimator": name, "seconds": time.perf_counter() - start}
        for column, values in scores.items():
            row[column] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values)), "runs": values}
        rows.append(row)
        print(
            f"{view_set:8s} {name:11s} "
            + "  ".join(f"{row[c]['mean']:.3f}±{row[c]['std']:.3f}" for c in scores)
            + f"   ({row['seconds']:.0f} s)",
            flush=True,
        )
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["standardize=False", "default (standardize=True)", "scaled by hand"]
    labels = [f"{r['estimator']}\n{r['views']}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4.0))
    for i, column in enumerate(columns):
        means = [r[column]["mean"] for r in rows]
        errs = [r[column]["std"] for r in rows]
        ax.bar(x + (i - 1) * 0.27, means, 0.27, yerr=errs, label=column)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.axhline(0.95, color="grey", lw=0.8, ls="--")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    ax.set_title("Raw mfeat views, estimator defaults")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs, LateFusion on pix+mor")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--estimators", nargs="*", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds, epochs = (1, 2) if args.quick else (args.seeds, args.epochs)
    estimators = ["LateFusion"] if args.quick else args.estimators
    view_sets = ["pix+mor"] if args.quick else list(VIEW_SETS)
    print(f"70/30 split, {seeds} seed(s), {epochs} epochs; columns: default | standardize=False | scaled by hand")
    rows = []
    for view_set in view_sets:
        rows += run(view_set, estimators if view_set == "pix+mor" else ["LateFusion"], seeds, epochs)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "raw_inputs.json").write_text(
        json.dumps({"config": {"seeds": seeds, "epochs": epochs, "quick": args.quick}, "rows": rows}, indent=2)
    )
    plot(rows, args.output / "raw_inputs.png")
    print(f"wrote {args.output / 'raw_inputs.json'} and raw_inputs.png")


if __name__ == "__main__":
    main()
