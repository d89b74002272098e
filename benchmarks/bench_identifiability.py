"""Identifiability benchmark of ContrastiveICA: does contrastive learning + ICA recover the coupled latents?

Synthetic part: data from ``make_partial_causal`` (two modalities, coupled latents ``z_x, z_t``,
modality-specific latents ``m_x, m_t``, 3-layer invertible leaky-ReLU mixers). Settings: the
sphere (vMF conditional, cosine similarity) with ``n_latent`` in {3, 6, 10} and the box
(truncated Laplace conditional, negative L1 distance) with ``n_latent = 6``. Every method is
fitted on the training pairs and scored on held-out pairs from the same generator, against the
truth of modality x:

* ``r2``: held-out linear R² of the representation onto ``z_x`` (1 = linearly identified);
* ``r2_m``: the same onto ``m_x`` (0 = the specific latents are discarded);
* ``mcc``: mean correlation coefficient with ``z_x`` of the representation before ICA, and
  ``mcc_ica`` of the ICA sources (1 = identified up to permutation and scaling).

Methods: ``ContrastiveICA`` (x and t), ``PCA+FastICA`` on the raw observations x, and
``CCA+FastICA`` (scikit-learn's linear CCA between x and t, then FastICA on x's canonical
variates). Real-data part: the bundled UCI Multiple Features views pix (flattened) and fou as
two modalities; ContrastiveICA features of pix -> logistic regression, against PCA and CCA
features of the same size and the raw views (5-fold accuracy).

Usage::

    python benchmarks/bench_identifiability.py            # full run (2 seeds; --seeds 0 1 2 for three)
    python benchmarks/bench_identifiability.py --quick    # smoke run (< 60 s on one core)

Prints a table, writes ``benchmarks/results/identifiability.json`` (``identifiability_quick.json``
with ``--quick``) and a figure of true vs recovered latents (``identifiability.png``).
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.cross_decomposition import CCA
from sklearn.decomposition import PCA, FastICA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skcausalmm import ContrastiveICA
from skcausalmm.datasets import load_multiple_features
from skcausalmm.datasets._partial_causal import make_partial_causal
from skcausalmm.metrics.identifiability import identifiability_scores, mean_corr_coef

RESULTS = Path(__file__).parent / "results"
N_SPECIFIC = 2
FULL = {
    "settings": [("sphere", 3), ("sphere", 6), ("sphere", 10), ("box", 6)],
    "seeds": [0, 1],
    "n_train": 40_000,
    "n_test": 5_000,
    "max_epochs": 60,
    "mfeat_epochs": 100,
    "mfeat_folds": 5,
}
QUICK = {
    "settings": [("sphere", 3), ("box", 3)],
    "seeds": [0],
    "n_train": 3_000,
    "n_test": 1_000,
    "max_epochs": 4,
    "hidden_size": 64,
    "mfeat_epochs": 3,
    "mfeat_folds": 2,
}


def _ica(seed):
    return FastICA(whiten="unit-variance", max_iter=1000, random_state=seed)


def _scores(z, m, rep, sources):
    s = identifiability_scores(z, rep, z_specific=m)
    return {"r2": s["r2"], "r2_m": s["r2_specific"], "mcc": s["mcc"], "mcc_ica": mean_corr_coef(z, sources)}


def run_setting(geometry, n_latent, seed, cfg, hidden_size=256, temperature=None):
    d = make_partial_causal(
        cfg["n_train"] + cfg["n_test"], n_latent, N_SPECIFIC, geometry=geometry, random_state=seed
    )
    tr, te = slice(0, cfg["n_train"]), slice(cfg["n_train"], None)
    x, t = d.x.astype(np.float64), d.t.astype(np.float64)
    z, m = d.z_x[te], d.m_x[te]
    out = {}

    t0 = time.perf_counter()
    est = ContrastiveICA(
        n_components=n_latent, geometry=geometry, max_epochs=cfg["max_epochs"], hidden_size=hidden_size,
        temperature=temperature, random_state=seed, device="cpu",
    ).fit({"x": x[tr], "t": t[tr]})
    fit_s = time.perf_counter() - t0
    X_te = {"x": x[te], "t": t[te]}
    sources = est.transform(X_te)
    rep = est.set_params(ica=False).transform(X_te)
    out["ContrastiveICA"] = {**_scores(z, m, rep, sources), "fit_s": fit_s}
    figure_data = {"z": z[:2000], "sources": sources[:2000]}

    t0 = time.perf_counter()
    scaler = StandardScaler().fit(x[tr])
    pca = PCA(n_latent, random_state=seed).fit(scaler.transform(x[tr]))
    rep_tr, rep = pca.transform(scaler.transform(x[tr])), pca.transform(scaler.transform(x[te]))
    ica = _ica(seed).fit(rep_tr)
    out["PCA+FastICA"] = {**_scores(z, m, rep, ica.transform(rep)), "fit_s": time.perf_counter() - t0}

    t0 = time.perf_counter()
    sx, st = StandardScaler().fit(x[tr]), StandardScaler().fit(t[tr])
    cca = CCA(n_latent, max_iter=1000).fit(sx.transform(x[tr]), st.transform(t[tr]))
    rep_tr, rep = cca.transform(sx.transform(x[tr])), cca.transform(sx.transform(x[te]))
    ica = _ica(seed).fit(rep_tr)
    out["CCA+FastICA"] = {**_scores(z, m, rep, ica.transform(rep)), "fit_s": time.perf_counter() - t0}
    return out, figure_data


def run_mfeat(cfg, n_components=10, seed=0):
    X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True, image=False)
    pix, fou = np.asarray(X["pix"], dtype=np.float64), np.asarray(X["fou"], dtype=np.float64)
    folds = StratifiedKFold(cfg["mfeat_folds"], shuffle=True, random_state=seed).split(pix, y)
    acc = {k: [] for k in ("ContrastiveICA(pix)", "ContrastiveICA(pix+fou)", "PCA(pix)", "CCA(pix)", "raw pix",
                           "raw fou", "raw pix+fou")}

    def lr_acc(F_tr, F_te, y_tr, y_te):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(F_tr, y_tr)
        return float(clf.score(F_te, y_te))

    for k, (tr, te) in enumerate(folds):
        est = ContrastiveICA(n_components=n_components, max_epochs=cfg["mfeat_epochs"], batch_size=256,
                             hidden_size=cfg["hidden_size"], random_state=seed + k, device="cpu").fit({"pix": pix[tr], "fou": fou[tr]})
        Xtr, Xte = {"pix": pix[tr], "fou": fou[tr]}, {"pix": pix[te], "fou": fou[te]}
        acc["ContrastiveICA(pix)"].append(lr_acc(est.transform(Xtr), est.transform(Xte), y[tr], y[te]))
        est.set_params(modality="all")
        acc["ContrastiveICA(pix+fou)"].append(lr_acc(est.transform(Xtr), est.transform(Xte), y[tr], y[te]))
        sp, sf = StandardScaler().fit(pix[tr]), StandardScaler().fit(fou[tr])
        pca = PCA(n_components, random_state=seed).fit(sp.transform(pix[tr]))
        acc["PCA(pix)"].append(lr_acc(pca.transform(sp.transform(pix[tr])), pca.transform(sp.transform(pix[te])),
                                      y[tr], y[te]))
        cca = CCA(n_components, max_iter=1000).fit(sp.transform(pix[tr]), sf.transform(fou[tr]))
        acc["CCA(pix)"].append(lr_acc(cca.transform(sp.transform(pix[tr])), cca.transform(sp.transform(pix[te])),
                                      y[tr], y[te]))
        acc["raw pix"].append(lr_acc(pix[tr], pix[te], y[tr], y[te]))
        acc["raw fou"].append(lr_acc(fou[tr], fou[te], y[tr], y[te]))
        both_tr, both_te = np.hstack([pix[tr], fou[tr]]), np.hstack([pix[te], fou[te]])
        acc["raw pix+fou"].append(lr_acc(both_tr, both_te, y[tr], y[te]))
    sizes = {"ContrastiveICA(pix+fou)": 2 * n_components, "raw pix": pix.shape[1], "raw fou": fou.shape[1],
             "raw pix+fou": pix.shape[1] + fou.shape[1]}
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n_features": sizes.get(k, n_components)}
            for k, v in acc.items()}


def _aggregate(runs):
    keys = runs[0].keys()
    agg = {}
    for method in keys:
        agg[method] = {}
        for metric in runs[0][method]:
            vals = np.array([r[method][metric] for r in runs], dtype=float)
            agg[method][metric] = {"mean": float(vals.mean()), "std": float(vals.std())}
    return agg


def plot(figure_data, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z, s = figure_data["z"], figure_data["sources"]
    _, (rows, cols, corr) = mean_corr_coef(z, s, return_matching=True)
    k = z.shape[1]
    fig, axes = plt.subplots(1, k, figsize=(2.0 * k, 2.2), constrained_layout=True)
    for ax, i, j in zip(np.atleast_1d(axes), rows, cols):
        sign = np.sign(np.corrcoef(z[:, i], s[:, j])[0, 1])
        ax.scatter(z[:, i], sign * s[:, j], s=1, alpha=0.3, rasterized=True)
        ax.set_title(f"z{i} vs ic{j}\n|r| = {corr[i, j]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (< 60 s on one core)")
    parser.add_argument("--no-mfeat", action="store_true", help="skip the real-data part")
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="override the seeds")
    parser.add_argument("--figure", default=None, help="also save the figure here (e.g. docs/figures/...png)")
    parser.add_argument("--settings", nargs="*", default=None, help="e.g. sphere-6 box-6 (default: all)")
    parser.add_argument("--hidden-size", type=int, default=None, help="encoder width (default: the estimator's, 256)")
    parser.add_argument("--temperature", type=float, default=None, help="ContrastiveICA temperature (default: its own)")
    parser.add_argument("--max-epochs", type=int, default=None, help="ContrastiveICA epochs (default: 60, quick 4)")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy / scipy BLAS on one core too (CCA's SVDs oversubscribe a busy machine)
    # FastICA on a representation that is not (yet) independent-component structured may stop at max_iter
    warnings.filterwarnings("ignore", message="FastICA did not converge")
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds:
        cfg["seeds"] = args.seeds
    if args.max_epochs:
        cfg["max_epochs"] = args.max_epochs
    if args.settings:
        cfg["settings"] = [(s.split("-")[0], int(s.split("-")[1])) for s in args.settings]
    cfg["hidden_size"] = args.hidden_size or cfg.get("hidden_size", 256)
    cfg["temperature"] = args.temperature
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    t_start = time.perf_counter()

    results = {"config": {k: v for k, v in cfg.items()}, "synthetic": {}, "mfeat": None}
    figure_data = None
    print(f"{'setting':<12} {'method':<16} {'R2(z_x)':>12} {'R2(m_x)':>12} {'MCC':>12} {'MCC+ICA':>12} {'fit s':>7}")
    for geometry, n_latent in cfg["settings"]:
        runs = []
        for seed in cfg["seeds"]:
            res, fig = run_setting(geometry, n_latent, seed, cfg, cfg["hidden_size"], args.temperature)
            runs.append(res)
            if figure_data is None or (geometry == "sphere" and n_latent == 6 and seed == cfg["seeds"][0]):
                figure_data, figure_title = fig, f"{geometry}, n_latent={n_latent}, seed {seed}: true z_x vs ICA sources"
        name = f"{geometry}-{n_latent}"
        agg = _aggregate(runs)
        results["synthetic"][name] = {"runs": runs, "summary": agg}
        for method, vals in agg.items():
            cells = [f"{vals[k]['mean']:.3f}±{vals[k]['std']:.3f}" for k in ("r2", "r2_m", "mcc", "mcc_ica")]
            print(f"{name:<12} {method:<16} " + " ".join(f"{c:>12}" for c in cells) + f" {vals['fit_s']['mean']:>7.1f}")

    if not args.no_mfeat:
        results["mfeat"] = run_mfeat(cfg)
        print("\nUCI Multiple Features, pix + fou, logistic regression on the features "
              f"({cfg['mfeat_folds']}-fold accuracy)")
        for k, v in results["mfeat"].items():
            print(f"  {k:<26} {v['mean']:.3f} ± {v['std']:.3f}   ({v['n_features']} features)")

    results["total_s"] = time.perf_counter() - t_start
    results["config"]["settings"] = [list(s) for s in cfg["settings"]]
    path = RESULTS / f"identifiability{suffix}.json"
    path.write_text(json.dumps(results, indent=2))
    png = RESULTS / f"identifiability{suffix}.png"
    plot(figure_data, png, figure_title)
    if args.figure:
        plot(figure_data, args.figure, figure_title)
    print(f"\nwrote {path} and {png} in {results['total_s']:.0f} s")


if __name__ == "__main__":
    main()
