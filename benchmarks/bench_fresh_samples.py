"""ContrastiveICA on a fixed training set against fresh samples at every epoch, at the same number of steps.

``make_partial_causal(...).sampler`` draws new pairs from the same latent partial causal model
(the same mixers). For each training size ``n`` the benchmark trains

* **fixed**: ``ContrastiveICA(max_epochs=E).fit`` on one set of ``n`` pairs;
* **fresh**: ``ContrastiveICA.partial_fit`` called ``E`` times, each on ``n`` new pairs (one
  epoch each: the same number of gradient steps, ``E`` times as many distinct pairs), as
  contrastive identifiability is usually trained;

and scores both on the same held-out pairs: held-out linear R² of the representation onto the
coupled latent ``z_x`` (1 = linearly identified) and onto the specific latent ``m_x`` (0 =
discarded), and the mean correlation coefficient of the ICA sources with ``z_x``. The PCA +
FastICA baseline on the raw observations of the fixed set is the reference a user would try
first. Ratios of fit time are given against the fixed fit.

Usage::

    python benchmarks/bench_fresh_samples.py            # n in 2,000 / 10,000, 60 epochs, 2 seeds
    python benchmarks/bench_fresh_samples.py --quick    # smoke run (seconds)

Prints a table, writes ``benchmarks/results/fresh_samples.json`` (``fresh_samples_quick.json``
with ``--quick``) and a figure next to it (``--figure PATH`` also saves a small copy there).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA, FastICA
from sklearn.preprocessing import StandardScaler

from skcausalmm import ContrastiveICA
from skcausalmm.datasets import make_partial_causal
from skcausalmm.metrics.identifiability import identifiability_scores, mean_corr_coef

RESULTS = Path(__file__).parent / "results"


def _scores(test, rep, sources):
    s = identifiability_scores(test.z_x, rep, z_specific=test.m_x)
    return {"r2": s["r2"], "r2_m": s["r2_specific"], "mcc": s["mcc"], "mcc_ica": mean_corr_coef(test.z_x, sources)}


def _evaluate(est, test):
    sources = est.set_params(ica=True).transform(test.data)
    rep = est.set_params(ica=False).transform(test.data)
    return _scores(test, rep, sources)


def run(n, seed, cfg):
    d = make_partial_causal(n, cfg["n_latent"], cfg["n_specific"], geometry=cfg["geometry"], random_state=seed)
    test = d.sampler(cfg["n_test"], random_state=10_000 + seed)
    params = dict(n_components=cfg["n_latent"], geometry=cfg["geometry"], hidden_size=cfg["hidden_size"],
                  random_state=seed, device="cpu")
    out = {}

    if "fixed" in cfg["methods"]:
        t0 = time.perf_counter()
        fixed = ContrastiveICA(max_epochs=cfg["epochs"], **params).fit(d.data)
        out["fixed"] = {**_evaluate(fixed, test), "fit_s": time.perf_counter() - t0}

    if "fresh" in cfg["methods"]:
        t0 = time.perf_counter()
        fresh = ContrastiveICA(**params)
        for epoch in range(cfg["epochs"]):
            # the first call uses the fixed set's first pairs (the same input standardisation); then new ones
            batch = d if epoch == 0 else d.sampler(n, random_state=seed * 100_003 + epoch)
            fresh.partial_fit(batch.data)
        out["fresh"] = {**_evaluate(fresh, test), "fit_s": time.perf_counter() - t0}

    if cfg.get("step_budget"):
        # epochs scaled so that the fixed set gets the step budget (that of 40,000 pairs x 60 epochs at batch 512),
        # with and without early stopping on the validation InfoNCE
        epochs = max(cfg["epochs"], int(np.ceil(cfg["step_budget"] / np.ceil(n / 512))))
        for name, extra in (("fixed, scaled", {}), ("fixed, scaled + ES", {"early_stopping": True})):
            t0 = time.perf_counter()
            est = ContrastiveICA(max_epochs=epochs, **params, **extra).fit(d.data)
            out[name] = {**_evaluate(est, test), "fit_s": time.perf_counter() - t0, "epochs": float(len(est.history_))}

    t0 = time.perf_counter()
    scaler = StandardScaler().fit(d.x)
    pca = PCA(cfg["n_latent"], random_state=seed).fit(scaler.transform(d.x))
    ica = FastICA(whiten="unit-variance", max_iter=1000, random_state=seed).fit(pca.transform(scaler.transform(d.x)))
    rep = pca.transform(scaler.transform(test.x))
    out["PCA+FastICA"] = {**_scores(test, rep, ica.transform(rep)), "fit_s": time.perf_counter() - t0}
    return out


def summarise(runs):
    out = {}
    for n, per_seed in runs.items():
        out[n] = {}
        for method in per_seed[0]:
            rows = [r[method] for r in per_seed]
            out[n][method] = {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows])))
                              for k in rows[0]}
            out[n][method].setdefault("epochs", (0.0, 0.0))
            base = "fixed" if "fixed" in per_seed[0] else method
            out[n][method]["time_vs_fixed"] = float(np.mean([r[method]["fit_s"] / r[base]["fit_s"] for r in per_seed]))
    return out


def print_table(summary, n_seeds):
    print(f"\nheld-out scores against the true latents ({n_seeds} seed{'s' if n_seeds > 1 else ''}; mean ± sd)")
    head = (f"{'pairs':>7s} {'method':20s} {'R2(->z_x)':>13s} {'R2(->m_x)':>13s} {'MCC':>13s} {'MCC (ICA)':>13s} "
            f"{'time vs fixed':>14s} {'epochs':>7s}")
    print(head)
    print("-" * len(head))
    for n, methods in summary.items():
        for method, s in methods.items():
            epochs = f"{s['epochs'][0]:7.0f}" if s["epochs"][0] else ""
            print(f"{n:>7} {method:20s} {s['r2'][0]:6.3f}±{s['r2'][1]:.3f} {s['r2_m'][0]:6.3f}±{s['r2_m'][1]:.3f} "
                  f"{s['mcc'][0]:6.3f}±{s['mcc'][1]:.3f} {s['mcc_ica'][0]:6.3f}±{s['mcc_ica'][1]:.3f} "
                  f"{s['time_vs_fixed']:13.2f}x {epochs}")


def plot(summary, path, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(summary)
    methods = list(summary[sizes[0]])
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    width = 0.8 / len(methods)
    for ax, key, title in zip(axes, ("r2", "r2_m"), ("R² onto the coupled latent z_x", "R² onto the specific latent m_x")):
        for i, method in enumerate(methods):
            ax.bar(np.arange(len(sizes)) + (i - (len(methods) - 1) / 2) * width,
                   [summary[n][method][key][0] for n in sizes], width,
                   yerr=[summary[n][method][key][1] for n in sizes], label=method, capsize=2)
        ax.set_xticks(np.arange(len(sizes)))
        ax.set_xticklabels([f"{n} pairs" for n in sizes])
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 3 epochs, small data")
    parser.add_argument("--seeds", type=int, default=2, help="number of seeds (default 2)")
    parser.add_argument("--sizes", default="2000,10000", help="comma-separated training sizes (default 2000,10000)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs (fixed) or partial_fit calls (fresh); default 60")
    parser.add_argument("--step-budget", type=int, default=0,
                        help="also train fixed sets for this many steps (epochs scaled to the size), with and "
                             "without early stopping (e.g. 4700: 40,000 pairs x 60 epochs at batch 512)")
    parser.add_argument("--geometry", default="sphere", choices=["sphere", "box"], help="latent geometry (default sphere)")
    parser.add_argument("--methods", default="fixed,fresh", help="which of fixed,fresh to train (default both)")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--figure", default=None, help="also save a small copy of the figure here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        cfg = dict(n_latent=3, n_specific=1, hidden_size=32, epochs=3, n_test=500, step_budget=args.step_budget,
                   geometry=args.geometry, methods=args.methods.split(","))
        sizes, seeds = [500], [0]
    else:
        cfg = dict(n_latent=6, n_specific=2, hidden_size=256, epochs=args.epochs, n_test=5000,
                   step_budget=args.step_budget, geometry=args.geometry, methods=args.methods.split(","))
        sizes, seeds = [int(n) for n in args.sizes.split(",")], list(range(args.seeds))
    t0 = time.time()
    runs = {n: [run(n, seed, cfg) for seed in seeds] for n in sizes}
    summary = summarise(runs)
    print_table(summary, len(seeds))
    out = {"config": {**cfg, "sizes": sizes, "seeds": seeds, "quick": args.quick}, "runs": runs, "summary": summary,
           "elapsed_s": time.time() - t0}
    print(f"\ntotal {out['elapsed_s']:.0f} s")
    path = RESULTS / (("fresh_samples_quick" if args.quick else "fresh_samples") + args.tag + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str))
    plot(summary, path.with_suffix(".png"), dpi=110)
    if args.figure:
        plot(summary, args.figure, dpi=72)
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return out


if __name__ == "__main__":
    main()
