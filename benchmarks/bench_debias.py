"""Debiasing benchmark: CausalInfoMinClassifier (TE-D, ATE-D) against late fusion and friends.

Run from the repository root::

    python benchmarks/bench_debias.py                # default: 5 seeds, 20 epochs (about 25 min on 2 shared cores)
    python benchmarks/bench_debias.py --seeds 3      # fewer seeds
    python benchmarks/bench_debias.py --quick        # smoke run (1 seed, 2 epochs, small data; < 90 s)

Prints one table per data set and writes ``benchmarks/results/debias.json`` and
``benchmarks/results/debias.png`` (``debias_quick.*`` with ``--quick``; ``--figure PATH`` also
saves a small copy of the figure there, e.g. ``docs/figures/infomin_debias.png``).

1. **Shortcut** (``make_shortcut_multimodal``): the bundled digits' ``pix`` image and ``fou``
   table plus a ``shortcut`` modality that agrees with the label with probability 0.9 in
   training and in the in-distribution test set, and is uninformative (independent of the
   label) in the out-of-distribution test set. Same held-out digits in both test sets.
2. **Confounded** (``make_confounded_multimodal``, image predominant): trained at confounding
   0.9, tested at 0.9 (in distribution) and 0.0 (out of distribution); the trace of the hidden
   confounder in the image is the bias.

Methods: late fusion; TE-D (its debiased head, and the same fit with ``inference="tie"``);
ATE-D (backdoor, uniform prior) with the confounder read from the spurious modality (the
shortcut modality; on the confounded data the image, which carries the trace: the analogue of
the paper's question-only features) and from all modalities;
OGM-GE, MMPareto, MLA; the front-door classifier with β chosen by a refit-free stratified
K-fold CV on the training data (one fit per fold scores every β, as in ``bench_frontdoor``);
and an oracle late fusion trained without the shortcut (shortcut data: without the shortcut
modality; confounded data: trained at confounding 0). Reported per method: in- and
out-of-distribution accuracy, spurious sufficiency (``skcausalmm.metrics.spurious_sufficiency``
on the in-distribution test set: 1 - mean drop of the predicted class's probability when only
the spurious evidence is kept, and the share of predictions kept) and fit time.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from skcausalmm import (
    CausalInfoMinClassifier,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    OGMGEClassifier,
)
from skcausalmm.datasets import make_confounded_multimodal, make_shortcut_multimodal
from skcausalmm.metrics import spurious_sufficiency

RESULTS = Path(__file__).parent / "results"
BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
ORDER = [
    "LateFusion",
    "TE-D",
    "TE-D (tie)",
    "ATE-D (spurious modality)",
    "ATE-D (all modalities)",
    "OGM-GE",
    "MMPareto",
    "MLA",
    "FrontDoor (β by CV)",
    "Oracle (no shortcut)",
]


def _mean_rows(X, keep=()):
    """X with every modality not in ``keep`` replaced by its mean over the samples."""
    return {k: (v if k in keep else np.repeat(v.mean(axis=0, keepdims=True), len(v), axis=0)) for k, v in X.items()}


def _keep_trace(X):
    """Confounded data: keep only the 2-pixel image border (where the trace patches are)."""
    out = _mean_rows(X)
    image = X["image"].copy()
    inner = np.zeros(image.shape[-2:], dtype=bool)
    inner[2:-2, 2:-2] = True
    image[..., inner] = X["image"].mean(axis=0)[..., inner]
    out["image"] = image
    return out


def _front_door_beta(clf, X, y, seed, folds):
    """β by a refit-free stratified K-fold CV: one fit per fold scores every β."""
    scores = {beta: [] for beta in BETAS}
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(y, y):
        fold = clone(clf).fit({k: v[train] for k, v in X.items()}, y[train])
        pearl, conditional = fold.front_door_terms({k: v[test] for k, v in X.items()})
        for beta in BETAS:
            scores[beta].append(float(np.mean((beta * pearl + (1 - beta) * conditional).argmax(1) == y[test])))
    means = {beta: float(np.mean(v)) for beta, v in scores.items()}
    return max(means, key=means.get)


def _score(clf, X, y):
    return float(np.mean(clf.predict(X) == y))


def run_dataset(name, seeds, cfg, methods):
    rows = {}
    for seed in seeds:
        t_seed = time.time()
        if name == "shortcut":
            d = make_shortcut_multimodal(views=["pix", "fou"], p_train=cfg["p_train"], random_state=seed)
            train, test_id, test_ood = d.train, d.test_id, d.test_ood
            spurious_modality = "shortcut"
            spurious = "shortcut"
            oracle_fit = ({k: v for k, v in train.data.items() if k != "shortcut"}, train.target)

            def oracle_view(X):
                return {k: v for k, v in X.items() if k != "shortcut"}

            oracle_spurious = _mean_rows  # the oracle has no shortcut to keep: everything at its mean
        else:
            n_train, n_test = cfg["n_train"], cfg["n_test"]
            train = make_confounded_multimodal(n_train, predominant="image", random_state=seed)
            test_id = make_confounded_multimodal(n_test, predominant="image", random_state=1000 + seed)
            test_ood = make_confounded_multimodal(
                n_test, confounding=0.0, predominant="image", random_state=2000 + seed
            )
            clean = make_confounded_multimodal(n_train, confounding=0.0, predominant="image", random_state=seed)
            spurious_modality = "image"
            spurious = _keep_trace
            oracle_fit = (clean.data, clean.target)

            def oracle_view(X):
                return X

            oracle_spurious = _keep_trace
        X, y = train.data, train.target
        common = dict(max_epochs=cfg["epochs"], random_state=seed, device="cpu")

        def record(method, clf, fit_s, view=lambda X: X, spur=spurious):
            rec = rows.setdefault(method, {"id": [], "ood": [], "sufficiency": [], "unchanged": [], "fit_s": []})
            rec["id"].append(_score(clf, view(test_id.data), test_id.target))
            rec["ood"].append(_score(clf, view(test_ood.data), test_ood.target))
            s = spurious_sufficiency(clf, view(test_id.data), test_id.target, spur)
            rec["sufficiency"].append(s["sufficiency"])
            rec["unchanged"].append(s["unchanged"])
            rec["fit_s"].append(fit_s)

        def fit(clf, data=X, target=y):
            t0 = time.time()
            clf.fit(data, target)
            return clf, time.time() - t0

        for method in methods:
            if method == "LateFusion":
                record(method, *fit(LateFusionClassifier(**common)))
            elif method == "TE-D":
                clf, t = fit(CausalInfoMinClassifier(method="te", **common))
                record("TE-D", clf, t)
                clf.set_params(inference="tie")
                record("TE-D (tie)", clf, t)
            elif method == "ATE-D (spurious modality)":
                clf = CausalInfoMinClassifier(method="ate", confounder_modality=spurious_modality, **common)
                record(method, *fit(clf))
            elif method == "ATE-D (all modalities)":
                record(method, *fit(CausalInfoMinClassifier(method="ate", **common)))
            elif method == "OGM-GE":
                record(method, *fit(OGMGEClassifier(**common)))
            elif method == "MMPareto":
                record(method, *fit(MMParetoClassifier(**common)))
            elif method == "MLA":
                record(method, *fit(MLAClassifier(**common)))
            elif method == "FrontDoor (β by CV)":
                fd = FrontDoorMultimodalClassifier(dictionary_size=cfg["dictionary_size"], **common)
                t0 = time.time()
                beta = _front_door_beta(fd, X, y, seed, cfg["cv_folds"])
                fd.set_params(beta=beta).fit(X, y)
                record(method, fd, time.time() - t0)
                rows[method].setdefault("beta", []).append(beta)
            elif method == "Oracle (no shortcut)":
                clf, t = fit(LateFusionClassifier(**common), *oracle_fit)
                record(method, clf, t, view=oracle_view, spur=oracle_spurious)
            else:
                raise ValueError(method)
        print(f"  [{name}] seed {seed} done in {time.time() - t_seed:.0f} s", flush=True)
    return rows


def _ms(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std())


def summarise(rows):
    lf_id, lf_ood = np.asarray(rows["LateFusion"]["id"]), np.asarray(rows["LateFusion"]["ood"])
    out = {}
    for method in ORDER:
        if method not in rows:
            continue
        r = rows[method]
        out[method] = {
            "id": _ms(r["id"]),
            "ood": _ms(r["ood"]),
            "delta_id_vs_latefusion": _ms(np.asarray(r["id"]) - lf_id),
            "delta_ood_vs_latefusion": _ms(np.asarray(r["ood"]) - lf_ood),
            "sufficiency": _ms(r["sufficiency"]),
            "unchanged": _ms(r["unchanged"]),
            "fit_s": _ms(r["fit_s"]),
        }
        if "beta" in r:
            out[method]["beta"] = r["beta"]
    return out


def print_table(title, summary, n_seeds):
    print(f"\n{title} ({n_seeds} seed{'s' if n_seeds > 1 else ''}; mean ± sd; Δ paired vs LateFusion)")
    head = (f"{'method':28s} {'in-dist':>13s} {'out-of-dist':>13s} {'ΔID':>7s} {'ΔOOD':>7s} "
            f"{'suff.':>6s} {'kept':>6s} {'fit s':>6s}")
    print(head)
    print("-" * len(head))
    for method, s in summary.items():
        print(
            f"{method:28s} {s['id'][0]:6.3f}±{s['id'][1]:.3f}  {s['ood'][0]:6.3f}±{s['ood'][1]:.3f} "
            f"{s['delta_id_vs_latefusion'][0]:+7.3f} {s['delta_ood_vs_latefusion'][0]:+7.3f} "
            f"{s['sufficiency'][0]:6.3f} {s['unchanged'][0]:6.3f} {s['fit_s'][0]:6.1f}"
        )


def plot(summaries, path, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(5.2 * len(summaries), 3.6), squeeze=False)
    for ax, (title, summary) in zip(axes[0], summaries.items()):
        names = list(summary)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [summary[m]["id"][0] for m in names], 0.4, yerr=[summary[m]["id"][1] for m in names],
               label="in distribution", color="#4c72b0")
        ax.bar(x + 0.2, [summary[m]["ood"][0] for m in names], 0.4, yerr=[summary[m]["ood"][1] for m in names],
               label="out of distribution", color="#dd8452")
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=55, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs, small data")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of every model (default 20)")
    parser.add_argument("--datasets", default="shortcut,confounded", help="comma-separated subset")
    parser.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    parser.add_argument("--figure", default=None, help="also save a small copy of the figure here")
    parser.add_argument("--output", default=None,
                        help="JSON path (default benchmarks/results/debias.json, debias_quick.json with --quick)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    if args.quick:
        seeds = [0]
        cfg = dict(epochs=2, p_train=0.9, n_train=400, n_test=300, dictionary_size=64, cv_folds=2)
    else:
        seeds = list(range(args.seeds))
        cfg = dict(epochs=args.epochs, p_train=0.9, n_train=3000, n_test=2000, dictionary_size=500, cv_folds=3)
    methods = [m for m in ORDER if m != "TE-D (tie)"]
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",")]
        unknown = [m for m in wanted if m not in ORDER]
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {ORDER}")
        methods = [m for m in methods if m in wanted]
    datasets = [d.strip() for d in args.datasets.split(",")]

    t0 = time.time()
    out = {"config": {**cfg, "seeds": seeds, "methods": methods, "quick": args.quick}, "results": {}, "summary": {}}
    titles = {}
    for name in datasets:
        rows = run_dataset(name, seeds, cfg, methods)
        summary = summarise(rows)
        title = (f"Shortcut (pix + fou + shortcut, p_train={cfg['p_train']})" if name == "shortcut"
                 else "Confounded (image predominant, confounding 0.9 → 0.0)")
        titles[title] = summary
        print_table(title, summary, len(seeds))
        out["results"][name] = rows
        out["summary"][name] = summary
    out["elapsed_s"] = time.time() - t0
    print(f"\ntotal {out['elapsed_s']:.0f} s")

    path = Path(args.output or RESULTS / ("debias_quick.json" if args.quick else "debias.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    png = path.with_suffix(".png")
    plot(titles, png, dpi=110)
    if args.figure:
        plot(titles, args.figure, dpi=72)
    print(f"wrote {path} and {png}" + (f" and {args.figure}" if args.figure else ""))
    return out


if __name__ == "__main__":
    main()
