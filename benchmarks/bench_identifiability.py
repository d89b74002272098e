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

Held-out generator family (``--family``): a second latent partial causal generator, written
independently of ``make_partial_causal`` and never used to choose a default: coupled latents
uniform on the sphere, vMF conditional of concentration ``kappa``, modality-specific latents of
unit variance drawn from a Gaussian, uniform or Laplace law, and two mixer families with biases
(leaky-ReLU slope 0.25 or 0.2): **well-conditioned** (each layer a product of random orthogonal
matrices and singular values in [1, 3]) and **cl-ica** (entries uniform in [-1, 1], unit-norm
columns, condition number below the 25 % quantile of random draws, as cl-ica's mixers). It
reports ContrastiveICA with its defaults (``n_components`` = the latent dimension), PCA and CCA
+ FastICA, and two references that see the truth: a linear regression and a supervised MLP
from x to ``z_x`` (what a linear map and a network of this size can recover from these pairs).
Parts: a grid (law x latent dimension x mixer family, 10,000 pairs), variations (mixer depth,
concentration, latent dimension) and a learning curve in the number of pairs.

Usage::

    python benchmarks/bench_identifiability.py            # full run (2 seeds; --seeds 0 1 2 for three)
    python benchmarks/bench_identifiability.py --quick    # smoke run (< 60 s on one core), both parts
    python benchmarks/bench_identifiability.py --family   # the held-out generator family only

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
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skcausalmm import ContrastiveICA
from skcausalmm.datasets import load_multiple_features
from skcausalmm.datasets._partial_causal import make_partial_causal, sample_von_mises_fisher
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


# --------------------------------------------------------------------------------------------
# the held-out generator family
# --------------------------------------------------------------------------------------------
FAMILY = {
    "n_train": 10_000,
    "n_test": 5_000,
    "seeds": [0, 1],
    "grid": [(law, n, mixer) for mixer in ("well", "clica") for n in (4, 6) for law in ("gaussian", "uniform", "laplace")],
    "variations": [{"depth": 2}, {"depth": 4}, {"kappa": 5.0}, {"kappa": 80.0}, {"n_latent": 3}, {"n_latent": 10}],
    "curve": [2_000, 5_000, 10_000, 20_000, 40_000],
    "curve_seeds": [0],
    "estimator": {},
    "mlp_epochs": 300,
    # what does not move the hard case: one change of the estimator's settings at a time (cl-ica mixers, n = 4)
    "study": [
        {}, {"max_epochs": 200}, {"max_epochs": 200, "early_stopping": True}, {"batch_size": 128},
        {"batch_size": 2048, "max_epochs": 200}, {"lr": 3e-3}, {"hidden_size": 64}, {"hidden_size": 512},
        {"n_hidden_layers": 2}, {"n_hidden_layers": 5}, {"temperature": 0.05}, {"temperature": 0.1},
        {"temperature": 0.5}, {"optimizer": "adamw", "weight_decay": 1e-4}, {"encoders": "mlp"},
        {"whiten": True}, {"fresh": 60}, {"oracle_t": True},
    ],
    "width": [5.0, 20.0],
}
FAMILY_QUICK = {
    "n_train": 1_500,
    "n_test": 500,
    "seeds": [0],
    "grid": [("gaussian", 3, "well"), ("laplace", 3, "clica")],
    "variations": [{"depth": 2}],
    "curve": [500, 1_500],
    "curve_seeds": [0],
    "estimator": {"max_epochs": 3, "hidden_size": 32},
    "mlp_epochs": 5,
    "study": [{}, {"whiten": True}, {"fresh": 2}, {"oracle_t": True}],
    "width": [5.0],
}
FAMILY_BASE = {"law": "gaussian", "n_latent": 4, "mixer": "well", "depth": 3, "kappa": 20.0}
N_SPECIFIC_FAMILY = 2


def _well_conditioned_layer(d, rng, d_out=None):
    d_out = d_out or d
    q1, _ = np.linalg.qr(rng.normal(size=(d_out, d_out)))
    q2, _ = np.linalg.qr(rng.normal(size=(d, d)))
    w = np.zeros((d_out, d))
    w[:d, :d] = np.diag(np.exp(rng.uniform(0.0, np.log(3.0), size=d)))  # d_out >= d: injective
    return q1 @ w @ q2.T


def _clica_layer(d, rng, quantile=0.25):
    def draw():
        w = rng.uniform(-1.0, 1.0, size=(d, d))
        return w / np.linalg.norm(w, axis=0, keepdims=True)

    threshold = np.quantile([np.linalg.cond(draw()) for _ in range(2000)], quantile)
    w = draw()
    while np.linalg.cond(w) > threshold:
        w = draw()
    return w


class FamilyMixer:
    """A random invertible leaky-ReLU network with biases (``mixer``: "well" or "clica")."""

    def __init__(self, d, depth, mixer, rng, d_out=None):
        layer = _well_conditioned_layer if mixer == "well" else _clica_layer
        self.layers = [(layer(d, rng), rng.normal(scale=0.1, size=d)) for _ in range(depth - 1)]
        if d_out is None:
            self.layers.append((layer(d, rng), rng.normal(scale=0.1, size=d)))
        else:  # a wider last layer: more observed features than latents
            self.layers.append((_well_conditioned_layer(d, rng, d_out), rng.normal(scale=0.1, size=d_out)))
        self.slope = 0.25 if mixer == "well" else 0.2

    def __call__(self, h):
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.where(h > 0, h, self.slope * h)
        return h


def _specific(law, shape, rng):
    if law == "gaussian":
        return rng.normal(size=shape)
    if law == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=shape)
    return rng.laplace(scale=1.0 / np.sqrt(2.0), size=shape)  # unit variance


def family_data(n_pairs, seed, law, n_latent, mixer, depth, kappa, draw=0, n_features=None):
    """Pairs from the held-out generator: ``({"x": x, "t": t}, z_x, m_x)``; ``seed`` fixes the mixers."""
    rng_mix = np.random.default_rng([seed, 271828])
    d = n_latent + N_SPECIFIC_FAMILY
    g_x, g_t = (FamilyMixer(d, depth, mixer, rng_mix, n_features) for _ in range(2))
    rng = np.random.default_rng([seed, draw, 314159])
    u = rng.normal(size=(n_pairs, n_latent))
    z_x = u / np.linalg.norm(u, axis=1, keepdims=True)
    z_t = sample_von_mises_fisher(z_x, kappa, random_state=np.random.RandomState(int(rng.integers(2**31 - 1))))
    m_x = _specific(law, (n_pairs, N_SPECIFIC_FAMILY), rng)
    m_t = _specific(law, (n_pairs, N_SPECIFIC_FAMILY), rng)
    return {"x": g_x(np.hstack([z_x, m_x])), "t": g_t(np.hstack([z_t, m_t]))}, z_x, m_x


def run_family_point(setting, seed, n_train, cfg, methods=("ContrastiveICA", "PCA+FastICA", "CCA+FastICA", "linear", "MLP")):
    """Every method on one generator setting and seed; scores on held-out pairs of the same generator."""
    n = setting["n_latent"]
    gen = {k: setting[k] for k in ("law", "n_latent", "mixer", "depth", "kappa")}
    train, z_tr, _ = family_data(n_train, seed, **gen, draw=0)
    test, z, m = family_data(cfg["n_test"], seed, **gen, draw=1)
    out = {}
    if "ContrastiveICA" in methods:
        t0 = time.perf_counter()
        est = ContrastiveICA(n_components=n, random_state=seed, device="cpu", **cfg["estimator"]).fit(train)
        fit_s = time.perf_counter() - t0
        sources = est.transform(test)
        rep = est.set_params(ica=False).transform(test)
        out["ContrastiveICA"] = {**_scores(z, m, rep, sources), "fit_s": fit_s}
    scaler = StandardScaler().fit(train["x"])
    x_tr, x_te = scaler.transform(train["x"]), scaler.transform(test["x"])
    if "PCA+FastICA" in methods:
        pca = PCA(n, random_state=seed).fit(x_tr)
        rep_tr, rep = pca.transform(x_tr), pca.transform(x_te)
        out["PCA+FastICA"] = {**_scores(z, m, rep, _ica(seed).fit(rep_tr).transform(rep))}
    if "CCA+FastICA" in methods:
        st = StandardScaler().fit(train["t"])
        cca = CCA(n, max_iter=1000).fit(x_tr, st.transform(train["t"]))
        rep_tr, rep = cca.transform(x_tr), cca.transform(x_te)
        out["CCA+FastICA"] = {**_scores(z, m, rep, _ica(seed).fit(rep_tr).transform(rep))}
    # references that see z_x in training: how much of it a linear map and a supervised network recover
    if "linear" in methods:
        out["linear (supervised)"] = {"r2": float(LinearRegression().fit(x_tr, z_tr).score(x_te, z))}
    if "MLP" in methods:
        mlp = MLPRegressor(hidden_layer_sizes=(256, 256, 256), max_iter=cfg["mlp_epochs"], early_stopping=True,
                           random_state=seed).fit(x_tr, z_tr)
        out["MLP (supervised)"] = {"r2": float(mlp.score(x_te, z))}
    return out


def run_study_point(change, seed, cfg):
    """ContrastiveICA on the cl-ica mixers (n = 4, Gaussian specific latents) with one change.

    Besides estimator parameters, ``change`` may hold ``whiten`` (PCA-whitened inputs instead of
    the per-feature standardisation), ``fresh`` (that many ``partial_fit`` calls on new pairs
    instead of ``fit``) or ``oracle_t`` (modality t replaced by the true ``z_t`` with an
    ``"identity"`` encoder: only x's encoder learns, against the truth).
    """
    setting = dict(FAMILY_BASE, mixer="clica")
    gen = {k: setting[k] for k in ("law", "n_latent", "mixer", "depth", "kappa")}
    change = dict(change)
    whiten, fresh, oracle_t = change.pop("whiten", False), change.pop("fresh", 0), change.pop("oracle_t", False)
    if change.get("encoders") == "mlp":
        change["encoders"] = {"x": "mlp", "t": "mlp"}
    train, _, _ = family_data(cfg["n_train"], seed, **gen, draw=0)
    test, z, m = family_data(cfg["n_test"], seed, **gen, draw=1)
    params = {"n_components": setting["n_latent"], "random_state": seed, "device": "cpu", **cfg["estimator"], **change}
    if oracle_t:
        _, z_t_train, z_t_test = _true_coupled_t(cfg, seed, gen)
        train, test = {"x": train["x"], "t": z_t_train}, {"x": test["x"], "t": z_t_test}
        params["encoders"] = {"t": "identity"}
    if whiten:
        whiteners = {k: PCA(whiten=True, random_state=seed).fit(v) for k, v in train.items()}
        train = {k: whiteners[k].transform(v) for k, v in train.items()}
        test = {k: whiteners[k].transform(v) for k, v in test.items()}
    est = ContrastiveICA(**params)
    if fresh:
        for draw in range(fresh):
            batch, _, _ = family_data(cfg["n_train"], seed, **gen, draw=100 + draw)
            est.partial_fit(batch)
    else:
        est.fit(train)
    rep = est.set_params(ica=False, modality="x").transform(test)
    scores = identifiability_scores(z, rep, z_specific=m)
    return {"r2": scores["r2"], "r2_m": scores["r2_specific"], "epochs": len(est.history_)}


def run_width_point(kappa, seed, cfg, n_features=20):
    """A representation wider than the coupled latents (``n_components=None``) and its canonical reduction.

    Well-conditioned mixers, n = 4, ``n_features`` observed features per modality. Scores of
    x's representation at ``n_components=None`` (the narrowest modality's width) and at the
    latent dimension, and of the wide representation projected on its leading ``n`` canonical
    directions with t's (CCA fitted on the training pairs); the canonical correlations too.
    """
    setting = dict(FAMILY_BASE, kappa=kappa)
    gen = {k: setting[k] for k in ("law", "n_latent", "mixer", "depth", "kappa")}
    n = setting["n_latent"]
    train, _, _ = family_data(cfg["n_train"], seed, **gen, draw=0, n_features=n_features)
    test, z, m = family_data(cfg["n_test"], seed, **gen, draw=1, n_features=n_features)
    out = {}
    for label, n_components in (("n_components=None", None), ("n_components=n", n)):
        est = ContrastiveICA(n_components=n_components, ica=False, random_state=seed, device="cpu",
                             **cfg["estimator"]).fit(train)
        rep = est.set_params(modality="x").transform(test)
        s = identifiability_scores(z, rep, z_specific=m)
        out[label] = {"r2": s["r2"], "r2_m": s["r2_specific"], "width": rep.shape[1]}
        if n_components is None:
            rx, rt = est.transform(train), est.set_params(modality="t").transform(train)
            width = rx.shape[1]
            cca = CCA(width, max_iter=2000).fit(rx, rt)
            u, v = cca.transform(rx, rt)
            correlations = [float(abs(np.corrcoef(u[:, i], v[:, i])[0, 1])) for i in range(width)]
            s = identifiability_scores(z, cca.transform(rep)[:, :n], z_specific=m)
            out["None, then n canonical directions"] = {"r2": s["r2"], "r2_m": s["r2_specific"], "width": n}
            out["canonical_correlations"] = correlations
    return out


def _true_coupled_t(cfg, seed, gen):
    """The true ``z_t`` of the training and test pairs of :func:`family_data` (recomputed with its draws)."""
    out = []
    for n_pairs, draw in ((cfg["n_train"], 0), (cfg["n_test"], 1)):
        rng = np.random.default_rng([seed, draw, 314159])
        u = rng.normal(size=(n_pairs, gen["n_latent"]))
        z_x = u / np.linalg.norm(u, axis=1, keepdims=True)
        out.append(sample_von_mises_fisher(z_x, gen["kappa"], random_state=np.random.RandomState(int(rng.integers(2**31 - 1)))))
    return None, out[0], out[1]


def _setting_name(setting):
    parts = [f"{setting['mixer']}", f"n={setting['n_latent']}", setting["law"]]
    if setting["depth"] != FAMILY_BASE["depth"]:
        parts.append(f"depth {setting['depth']}")
    if setting["kappa"] != FAMILY_BASE["kappa"]:
        parts.append(f"kappa {setting['kappa']:g}")
    return ", ".join(parts)


def _print_family_rows(name, agg):
    for method, vals in agg.items():
        cells = [f"{vals[k]['mean']:.3f}±{vals[k]['std']:.3f}" if k in vals else "" for k in ("r2", "r2_m", "mcc_ica")]
        print(f"{name:<34} {method:<20} " + " ".join(f"{c:>12}" for c in cells))


def run_family(cfg, seeds=None, parts=("grid", "variations", "curve")):
    """The grid, the variations, the learning curve and the study on the held-out family (``parts`` of them)."""
    seeds = seeds or cfg["seeds"]
    results = {"grid": {}, "variations": {}, "curve": {}, "study": {}, "width": {}}
    for kappa in cfg["width"] if "width" in parts else ():
        runs = [run_width_point(kappa, seed, cfg) for seed in seeds]
        results["width"][f"kappa {kappa:g}"] = runs
        for seed, run in zip(seeds, runs):
            for label, v in run.items():
                if label != "canonical_correlations":
                    print(f"width (well, n=4, 20 features, kappa {kappa:g}, seed {seed}) {label:<36} "
                          f"R2(z_x) {v['r2']:.3f}  R2(m_x) {v['r2_m']:.3f}")
            print("  canonical correlations:", " ".join(f"{c:.2f}" for c in run["canonical_correlations"]))
    for change in cfg["study"] if "study" in parts else ():
        runs = [run_study_point(change, seed, cfg) for seed in seeds]
        name = json.dumps(change) if change else "defaults"
        results["study"][name] = {"runs": runs, "summary": _aggregate([{"ContrastiveICA": r} for r in runs])}
        agg = results["study"][name]["summary"]["ContrastiveICA"]
        print(f"study (clica, n=4) {name:<44} R2(z_x) {agg['r2']['mean']:.3f}±{agg['r2']['std']:.3f}  "
              f"R2(m_x) {agg['r2_m']['mean']:.3f}  epochs {agg['epochs']['mean']:.0f}")
    print(f"{'setting (held-out family)':<34} {'method':<20} {'R2(z_x)':>12} {'R2(m_x)':>12} {'MCC+ICA':>12}")
    settings = [("grid", dict(FAMILY_BASE, law=law, n_latent=n, mixer=mixer)) for law, n, mixer in cfg["grid"]]
    settings += [("variations", dict(FAMILY_BASE, **change)) for change in cfg["variations"]]
    settings = [(part, setting) for part, setting in settings if part in parts]
    for part, setting in settings:
        runs = [run_family_point(setting, seed, cfg["n_train"], cfg) for seed in seeds]
        name = _setting_name(setting)
        agg = _aggregate(runs)
        results[part][name] = {"setting": setting, "runs": runs, "summary": agg}
        _print_family_rows(name, agg)
    for mixer in ("well", "clica") if "curve" in parts else ():
        setting = dict(FAMILY_BASE, mixer=mixer)
        for n_train in cfg["curve"]:
            runs = [run_family_point(setting, seed, n_train, cfg, methods=("ContrastiveICA", "linear", "MLP"))
                    for seed in cfg["curve_seeds"]]
            agg = _aggregate(runs)
            results["curve"][f"{mixer}-{n_train}"] = {"mixer": mixer, "n_train": n_train, "summary": agg}
            _print_family_rows(f"curve: {mixer}, {n_train} pairs", agg)
    return results


def plot_curve(curve, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0), sharey=True, constrained_layout=True)
    titles = {"well": "well-conditioned mixers", "clica": "cl-ica mixers (25 % quantile)"}
    for ax, mixer in zip(axes, ("well", "clica")):
        points = sorted((v for v in curve.values() if v["mixer"] == mixer), key=lambda v: v["n_train"])
        sizes = [p["n_train"] for p in points]
        for method, style in (("ContrastiveICA", "o-"), ("MLP (supervised)", "s--"), ("linear (supervised)", "^:")):
            ax.plot(sizes, [p["summary"][method]["r2"]["mean"] for p in points], style, label=method)
        ax.axhline(0.9, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{size / 1000:g}k" for size in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training pairs")
        ax.set_title(titles[mixer], fontsize=9)
    axes[0].set_ylabel("held-out R²(→z_x)")
    axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=80)
    plt.close(fig)


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
    parser.add_argument("--family", action="store_true", help="run only the held-out generator family")
    parser.add_argument("--family-figure", default=None, help="also save the family's learning curve here")
    parser.add_argument("--family-parts", nargs="*", default=["grid", "variations", "curve", "study", "width"],
                        choices=["grid", "variations", "curve", "study", "width"], help="parts of the family run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy / scipy BLAS on one core too (CCA's SVDs oversubscribe a busy machine)
    # FastICA on a representation that is not (yet) independent-component structured may stop at max_iter
    warnings.filterwarnings("ignore", message="FastICA did not converge")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # the supervised MLP reference of --quick
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

    if args.family:
        fam_cfg = dict(FAMILY_QUICK if args.quick else FAMILY)
        family = run_family(fam_cfg, args.seeds, args.family_parts)
        family["total_s"] = time.perf_counter() - t_start
        path = RESULTS / f"identifiability_family{suffix}.json"
        path.write_text(json.dumps({"config": fam_cfg, **family}, indent=2, default=str))
        png = RESULTS / f"identifiability_family{suffix}.png"
        if family["curve"]:
            plot_curve(family["curve"], png)
        if args.family_figure and family["curve"]:
            plot_curve(family["curve"], args.family_figure)
        print(f"\nwrote {path} and {png} in {family['total_s']:.0f} s")
        return

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

    if args.quick:  # the smoke run exercises the held-out family too
        results["family"] = run_family(dict(FAMILY_QUICK))
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
