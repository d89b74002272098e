"""Prediction speed of FrontDoorMultimodalClassifier against LateFusionClassifier.

A LateFusionClassifier and two FrontDoorMultimodalClassifiers are fitted on the bundled
Multiple Features data (2,000 samples): one with the default role (``auxiliary="view"``: the
two β terms in one forward pass, no dictionary) and one with ``auxiliary="confounder"`` (the
average over a dictionary of contexts). ``predict_proba`` on the 2,000 samples is timed for
late fusion, the default role, and the confounder role's approximations: the exact average
over the whole 2,000-entry dictionary, the prototype dictionary of several sizes
(``n_prototypes``; 64 is the default) and the normalised weighted geometric mean (``"nwgm"``).
The timings are interleaved and repeated (median); the table reports samples per second, the
ratio to late fusion (target: at least 1/3 with the defaults, and for the confounder role's
default approximation) and, for the confounder role, the mean total variation of each
variant's probabilities from the exact average at the same β (target for the prototypes: at
most 0.01). ``torch.set_num_threads(1)`` for fair ratios (shared machines are noisy: read
ratios, not absolute rates).

Usage::

    python benchmarks/bench_frontdoor_predict.py [--quick] [--repeats 5] [--figure PATH]

Two configurations: an image (``pix``, a CNN) predominant with a table, and two tables
(``fou`` + ``kar``, small MLPs: late fusion is then very cheap). Writes
``benchmarks/results/frontdoor_predict.json`` (``frontdoor_predict_quick.json`` with
``--quick``) and a figure (``--figure``; default next to the JSON).
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm.datasets import load_multiple_features

RESULTS = Path(__file__).parent / "results"
CONFIGS = (["pix", "fou"], ["fou", "kar"])


def variants(quick):
    """(label, estimator parameters) of the front-door variants, the exact one first."""
    sizes = (32, 64, 128) if quick else (32, 64, 128, 256)
    rows = [("confounder: exact (2,000 entries)", {"approximation": "exact"})]
    rows += [
        (f"confounder: prototypes {k}" + (" (default)" if k == 64 else ""),
         {"approximation": "prototypes", "n_prototypes": k})
        for k in sizes
    ]
    rows.append(("confounder: nwgm (2,000 entries)", {"approximation": "nwgm"}))
    return rows


def total_variation(p, q):
    return float(0.5 * np.abs(p - q).sum(axis=1).mean())


def run_config(views, betas, args):
    X, y = load_multiple_features(views=views, return_X_y=True)
    common = dict(max_epochs=args.epochs, random_state=0, device="cpu")
    late = LateFusionClassifier(**common).fit(X, y)
    view = FrontDoorMultimodalClassifier(predominant=views[0], **common).fit(X, y)
    fd = FrontDoorMultimodalClassifier(predominant=views[0], auxiliary="confounder", **common).fit(X, y)
    rows = []
    for beta in betas:
        fd.set_params(beta=beta)
        view.set_params(beta=beta)
        # one copy of the fitted front door per variant, each with its own prototypes (built here, once)
        timed = [("late fusion", late, {}), ("view role (defaults)", view, {})]
        for label, params in variants(args.quick):
            est = copy.deepcopy(fd).set_params(approximation=params["approximation"])
            if "n_prototypes" in params:
                est.set_prototypes(params["n_prototypes"])
            timed.append((label, est, params))
        for _, est, _params in timed:  # warm-up
            est.predict_proba(X)
        times = {label: [] for label, _, _ in timed}
        probas = {}
        for _ in range(args.repeats):
            for label, est, params in timed:
                start = time.perf_counter()
                probas[label] = est.predict_proba(X)
                times[label].append(time.perf_counter() - start)
        reference = probas["confounder: exact (2,000 entries)"]
        late_rate = len(y) / float(np.median(times["late fusion"]))
        for label, _, params in timed:
            rate = len(y) / float(np.median(times[label]))
            rows.append(
                {
                    "beta": beta,
                    "method": label,
                    "params": params,
                    "samples_per_s": rate,
                    "ratio_to_late_fusion": rate / late_rate,
                    "tv_to_exact": None if not label.startswith("confounder") else total_variation(
                        probas[label], reference
                    ),
                    "runs_s": times[label],
                }
            )
    fd.set_params(beta=0.5)
    print(f"\npredict_proba on {len(y)} samples ({' + '.join(views)}), {torch.get_num_threads()} torch thread(s), "
          f"median of {args.repeats}")
    print(f"{'beta':>4s}  {'method':28s} {'samples/s':>10s} {'/ late':>7s} {'TV to exact':>12s}")
    for row in rows:
        tv = "" if row["tv_to_exact"] is None else f"{row['tv_to_exact']:.4f}"
        print(f"{row['beta']:4.1f}  {row['method']:28s} {row['samples_per_s']:10.0f} {row['ratio_to_late_fusion']:7.3f} {tv:>12s}")
    default = next(r for r in rows if r["beta"] == 0.5 and r["method"] == "view role (defaults)")
    met = default["ratio_to_late_fusion"] >= 1 / 3
    print(f"target (defaults, beta=0.5): >= 1/3 of late fusion -> {'met' if met else 'NOT met'} "
          f"({default['ratio_to_late_fusion']:.3f}x)")
    proto = next(r for r in rows if r["beta"] == 0.5 and r["method"].endswith("(default)"))
    met = proto["ratio_to_late_fusion"] >= 1 / 3 and proto["tv_to_exact"] <= 0.01
    print(f"confounder role, default approximation (beta=0.5): >= 1/3 of late fusion and TV <= 0.01 -> "
          f"{'met' if met else 'NOT met'} ({proto['ratio_to_late_fusion']:.3f}x, TV {proto['tv_to_exact']:.4f})")
    return rows


def plot(results, path, dpi=100):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4), squeeze=False)
    for ax, (config, rows) in zip(axes[0], results.items()):
        rows = [r for r in rows if r["beta"] == 0.5 and r["tv_to_exact"] is not None]
        for r in rows:
            ax.scatter(r["ratio_to_late_fusion"], max(r["tv_to_exact"], 1e-7), s=25)
            ax.annotate(r["method"].replace(" (2,000 entries)", "").replace(" (default)", "*"),
                        (r["ratio_to_late_fusion"], max(r["tv_to_exact"], 1e-7)), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.axvline(1 / 3, color="grey", ls="--", lw=0.8)
        ax.axhline(0.01, color="grey", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{config}, beta=0.5", fontsize=9)
        ax.set_xlabel("speed / late fusion")
        ax.set_ylabel("mean TV to exact")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 epochs, 2 repeats, beta=0.5, fewer sizes")
    parser.add_argument("--figure", default=None, help="figure path (default: next to the JSON)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 3, 2
    betas = (0.5,) if args.quick else (0.5, 1.0, 0.0)
    torch.set_num_threads(1)
    results = {"+".join(views): run_config(views, betas, args) for views in CONFIGS}
    RESULTS.mkdir(exist_ok=True)
    stem = "frontdoor_predict_quick" if args.quick else "frontdoor_predict"
    out = RESULTS / f"{stem}.json"
    out.write_text(json.dumps({"args": vars(args), "configs": results}, indent=2))
    figure = args.figure or RESULTS / f"{stem}.png"
    plot(results, figure)
    print(f"wrote {out} and {figure}")


if __name__ == "__main__":
    main()
