"""No price without confounding? The front door on views of one object, raw, against late fusion.

On the bundled UCI Multiple Features views exactly as ``load_multiple_features`` returns them
(raw scales; the estimators standardise), with ``pix`` (the image) predominant, this fits
late fusion and the front-door classifier three ways, all at their default epochs and batch
sizes: its defaults, ``adversary_weight=0`` (the setting the docs recommend when every
modality is a view of the same object) and the decorrelation objective (the setting they
recommend when the auxiliary modality reads a confounder). One front-door fit serves
β = 0, 0.5 (the default) and 1 (``front_door_terms``). 70/30 stratified splits, one per seed.
The target (issue 13): the defaults within 0.5 points of late fusion on every view set.

    python benchmarks/bench_frontdoor_views.py            # 3 seeds
    python benchmarks/bench_frontdoor_views.py --quick    # 1 seed, 2 epochs, pix + mor (CI)
    python benchmarks/bench_frontdoor_views.py --from-json benchmarks/results/frontdoor_views.json

Prints the table (mean ± std over seeds and each front door's gap to late fusion) and writes
``benchmarks/results/frontdoor_views[_quick].json`` and a figure next to it.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm.datasets import load_multiple_features

RESULTS = Path(__file__).parent / "results"
VIEW_SETS = {"pix + mor": ["pix", "mor"], "pix + fou": ["pix", "fou"], "all six": None}
FRONT_DOORS = {
    "defaults": {},
    "adversary_weight=0": dict(adversary_weight=0.0),
    "decorrelation": dict(adversary_objective="decorrelation", adversary_weight=20.0, conditional_adversary=False),
}
BETAS = (0.0, 0.5, 1.0)


def run_split(views, seed, epochs):
    X, y = load_multiple_features(views=views, return_X_y=True)
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
    Xtr, Xte = X[train], X[test]
    common = dict(random_state=seed, **({"max_epochs": epochs} if epochs else {}))
    scores = {}
    start = time.perf_counter()
    scores["LateFusion"] = LateFusionClassifier(**common).fit(Xtr, y[train]).score(Xte, y[test])
    fit_s = {"LateFusion": time.perf_counter() - start}
    for name, params in FRONT_DOORS.items():
        start = time.perf_counter()
        clf = FrontDoorMultimodalClassifier(predominant="pix", **common, **params).fit(Xtr, y[train])
        fit_s[name] = time.perf_counter() - start
        pearl, conditional = clf.front_door_terms(Xte)
        for beta in BETAS:
            proba = beta * pearl + (1 - beta) * conditional
            scores[f"FrontDoor {name}, β={beta:g}"] = float(np.mean(clf.classes_[proba.argmax(1)] == y[test]))
    return scores, fit_s


def summarise(runs):
    """Per view set and method: mean, std, and the mean gap to late fusion (paired by seed)."""
    summary = {}
    for views, rows in runs.items():
        late = np.array([row["scores"]["LateFusion"] for row in rows])
        summary[views] = {}
        for method in rows[0]["scores"]:
            values = np.array([row["scores"][method] for row in rows])
            summary[views][method] = {"mean": float(values.mean()), "std": float(values.std()),
                                      "gap": float((values - late).mean())}
    return summary


def print_table(summary, seeds):
    views = list(summary)
    print(f"\nBundled views, raw, pix predominant (70/30 splits, seeds {seeds}; test accuracy, mean ± std; "
          "gap: to late fusion, paired by seed; target for the defaults: gap ≥ −0.005)")
    print("| method | " + " | ".join(views) + " |")
    print("|---" * (len(views) + 1) + "|")
    for method in summary[views[0]]:
        cells = []
        for v in views:
            s = summary[v][method]
            gap = "" if method == "LateFusion" else f" ({s['gap']:+.3f})"
            cells.append(f"{s['mean']:.3f} ± {s['std']:.3f}{gap}")
        print(f"| {method} | " + " | ".join(cells) + " |")


def figure(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = list(summary)
    methods = [m for m in summary[views[0]] if m == "LateFusion" or m.endswith("β=0.5") or m.endswith("β=0")]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        means = [summary[v][method]["mean"] for v in views]
        stds = [summary[v][method]["std"] for v in views]
        ax.bar(np.arange(len(views)) + i * width, means, width, yerr=stds, capsize=2, label=method)
    ax.set_xticks(np.arange(len(views)) + 0.4 - width / 2)
    ax.set_xticklabels(views)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("test accuracy")
    ax.set_title("front door on views of one object (no confounding), raw inputs")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 epochs, pix + mor (CI smoke run)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--figure", type=Path, default=None, help="PNG path (default: next to the JSON)")
    parser.add_argument("--from-json", type=Path, default=None, help="re-print and redraw from a saved run")
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        print_table(saved["summary"], saved["seeds"])
        figure(saved["summary"], args.figure or args.from_json.with_suffix(".png"))
        return
    torch.set_num_threads(1)  # shared 2-core machine: one thread per process
    seeds = [0] if args.quick else list(range(args.seeds))
    view_sets = {"pix + mor": VIEW_SETS["pix + mor"]} if args.quick else VIEW_SETS
    epochs = 2 if args.quick else None
    start = time.perf_counter()
    runs = {}
    for label, views in view_sets.items():
        for seed in seeds:
            scores, fit_s = run_split(views, seed, epochs)
            runs.setdefault(label, []).append({"seed": seed, "scores": scores, "fit_s": fit_s})
            print(f"  {label} seed {seed}: late fusion {scores['LateFusion']:.3f}, "
                  + ", ".join(f"{n} {scores[f'FrontDoor {n}, β=0.5']:.3f}" for n in FRONT_DOORS)
                  + f" (β = 0.5; {sum(fit_s.values()):.0f} s)", flush=True)
    summary = summarise(runs)
    print_table(summary, seeds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"frontdoor_views{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"seeds": seeds, "epochs": epochs or "defaults", "front_doors": FRONT_DOORS,
                               "runs": runs, "summary": summary,
                               "wall_time_s": time.perf_counter() - start}, indent=1))
    fig_path = args.figure or out.with_suffix(".png")
    figure(summary, fig_path)
    print(f"\nwall time {time.perf_counter() - start:.0f} s; wrote {out} and {fig_path}")


if __name__ == "__main__":
    main()
