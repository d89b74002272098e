"""Benchmark of FrontDoorMultimodalClassifier: confounded data (β sweep, β by CV) and real data.

Run from the repository root::

    python benchmarks/bench_frontdoor.py            # default: 5 seeds (about 20 min on 2 cores)
    python benchmarks/bench_frontdoor.py --seeds 3  # fewer seeds
    python benchmarks/bench_frontdoor.py --quick    # smoke run (1 seed, few epochs, small n)

Prints the tables and writes ``benchmarks/results/frontdoor.json``,
``benchmarks/results/frontdoor_beta_sweep.png`` and
``benchmarks/results/frontdoor_contributions.png``.

1. Confounded data (``make_confounded_multimodal``, table and image predominant): in- and
   out-of-distribution accuracy of the front-door classifier at β ∈ {0, .25, .5, .75, 1}
   (β is used at prediction time: one fit per seed serves the whole sweep, through
   ``front_door_terms``, the two β endpoints), with β chosen by a refit-free 3-fold CV on the
   training data (one fit per fold scores every β; ``GridSearchCV`` over ``beta`` would give
   the same choice with one fit per fold *and* candidate), against late fusion, single-modality
   late fusion and the imbalance baselines, beside the analytic ceilings.
2. Real data (bundled UCI Multiple Features): 5-fold accuracy with ``pix`` (image)
   predominant plus ``mor``, plus ``fou``, and all six views, against late fusion and a
   logistic regression on the concatenated standardized views.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import (
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    ModalityTransformer,
    OGMGEClassifier,
)
from skcausalmm.datasets import (
    confounded_interventional_proba,
    load_multiple_features,
    make_confounded_multimodal,
)

RESULTS = Path(__file__).parent / "results"
BETAS = [0.0, 0.25, 0.5, 0.75, 1.0]


BASELINES = {"OGM-GE": OGMGEClassifier, "MMPareto": MMParetoClassifier, "MLA": MLAClassifier}


def _acc(proba, y):
    return float(np.mean(proba.argmax(1) == y))


def _sweep(clf, X, y, truth=None):
    """Accuracy per β (and, with ``truth``, the mean total-variation distance to it)."""
    pearl, conditional = clf.front_door_terms(X)
    probas = {beta: beta * pearl + (1 - beta) * conditional for beta in BETAS}
    acc = {beta: _acc(p, y) for beta, p in probas.items()}
    if truth is None:
        return acc
    return acc, {beta: _tv(p, truth) for beta, p in probas.items()}


def _tv(proba, truth):
    """Mean total-variation distance between predicted and true distributions."""
    return float(0.5 * np.abs(proba - truth).sum(axis=1).mean())


def _cv_beta(clf, X, y, seed):
    """Refit-free 3-fold CV over β: one fit per fold scores every β."""
    scores = {beta: [] for beta in BETAS}
    for train, test in StratifiedKFold(3, shuffle=True, random_state=seed).split(y, y):
        fold = clone(clf).fit({k: v[train] for k, v in X.items()}, y[train])
        for beta, value in _sweep(fold, {k: v[test] for k, v in X.items()}, y[test]).items():
            scores[beta].append(value)
    means = {beta: float(np.mean(v)) for beta, v in scores.items()}
    return max(means, key=means.get), means


# ------------------------------------------------------------------------ confounded
def confounded(predominant, cfg, seeds):
    rows = {}
    ceilings = None
    for seed in seeds:
        t0 = time.time()
        train = make_confounded_multimodal(cfg["n_train"], predominant=predominant, random_state=seed)
        test_in = make_confounded_multimodal(cfg["n_test"], predominant=predominant, random_state=1000 + seed)
        test_out = make_confounded_multimodal(
            cfg["n_test"], confounding=0.0, predominant=predominant, random_state=2000 + seed
        )
        ceilings = train.ceilings
        X, y = train.data, train.target
        common = dict(max_epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=1e-3, random_state=seed)

        # the causal target every model is compared with: P(y | do(x_p), a) on the OOD test set
        truth = confounded_interventional_proba(test_out.content, test_out.auxiliary_label)
        n_classes = truth.shape[1]
        # analytic references: the best any model can do from A alone, and from the content alone
        only_a = np.mean([confounded_interventional_proba(np.full(len(truth), c), test_out.auxiliary_label)
                          for c in range(n_classes)], axis=0)
        only_c = np.mean([confounded_interventional_proba(test_out.content, np.full(len(truth), a))
                          for a in range(n_classes)], axis=0)
        rows.setdefault("reference TV", {"P(y|a) (auxiliary only)": [], "P(y|do(x_p)) (content only)": []})
        rows["reference TV"]["P(y|a) (auxiliary only)"].append(_tv(only_a, truth))
        rows["reference TV"]["P(y|do(x_p)) (content only)"].append(_tv(only_c, truth))

        def record(name, value_in, value_out, tv=None):
            rows.setdefault(name, {"in": [], "out": [], "tv": []})
            rows[name]["in"].append(value_in)
            rows[name]["out"].append(value_out)
            if tv is not None:
                rows[name]["tv"].append(tv)

        fd = FrontDoorMultimodalClassifier(  # the auxiliary modality reads the confounder: declared so
            predominant=predominant, auxiliary="confounder", dictionary_size=cfg["dictionary_size"], **common
        )
        fd.fit(X, y)
        sweep_in = _sweep(fd, test_in.data, test_in.target)
        sweep_out, tv_out = _sweep(fd, test_out.data, test_out.target, truth)
        for beta in BETAS:
            record(f"FrontDoor β={beta:g}", sweep_in[beta], sweep_out[beta], tv_out[beta])
        best, _ = _cv_beta(fd, X, y, seed)
        record("FrontDoor β by 3-fold CV", sweep_in[best], sweep_out[best], tv_out[best])
        rows.setdefault("chosen β", []).append(best)

        models = {"LateFusion": (LateFusionClassifier(**common), None)}
        models[f"{predominant} only"] = (LateFusionClassifier(**common), [predominant])
        models["auxiliary only"] = (LateFusionClassifier(**common), ["auxiliary"])
        for name, cls in BASELINES.items():
            models[name] = (cls(**common), None)
        for name, (model, keep) in models.items():
            sel = (lambda d: d) if keep is None else (lambda d, keep=keep: {k: d[k] for k in keep})
            model.fit(sel(X), y)
            record(
                name,
                model.score(sel(test_in.data), test_in.target),
                model.score(sel(test_out.data), test_out.target),
                _tv(model.predict_proba(sel(test_out.data)), truth),
            )
        print(f"  {predominant} seed {seed}: {time.time() - t0:.0f} s (β chosen {best})", flush=True)
    return rows, ceilings


def print_confounded(predominant, rows, ceilings):
    c = {k: (v["in_distribution"], v["out_of_distribution"]) for k, v in ceilings.items()}
    ceiling_of = {"FrontDoor β=0": c["content_auxiliary"], "FrontDoor β=1": c["content"]}
    print(f"\nConfounded data, predominant={predominant!r} (mean ± std over seeds; ceilings: "
          f"(C,T,A) {c['content_trace_auxiliary'][0]:.3f}/{c['content_trace_auxiliary'][1]:.3f}, "
          f"(C,A) {c['content_auxiliary'][0]:.3f}/{c['content_auxiliary'][1]:.3f}, "
          f"C {c['content'][0]:.3f}/{c['content'][1]:.3f})")
    print("(TV: mean total-variation distance of predict_proba to the true P(y | do(x_p), a) out of"
          " distribution; 0 is the causal target, lower is better)")
    print(f"| {'model':28s} | {'in-distribution':>16s} | {'out-of-distribution':>19s} | {'ceiling in/out':>14s} | {'TV out':>13s} |")
    print(f"|{'-' * 30}|{'-' * 18}|{'-' * 21}|{'-' * 16}|{'-' * 15}|")
    for name, v in rows.items():
        if name in ("chosen β", "reference TV"):
            continue
        ceil = ceiling_of.get(name)
        if ceil is None and not name.startswith("FrontDoor") and "only" not in name:
            ceil = c["content_trace_auxiliary"]
        cs = f"{ceil[0]:.3f}/{ceil[1]:.3f}" if ceil else ""
        tv = f"{np.mean(v['tv']):.3f} ± {np.std(v['tv']):.3f}" if v.get("tv") else ""
        print(f"| {name:28s} | {np.mean(v['in']):.3f} ± {np.std(v['in']):.3f}    | "
              f"{np.mean(v['out']):.3f} ± {np.std(v['out']):.3f}        | {cs:>14s} | {tv:>13s} |")
    print(f"chosen β per seed: {rows['chosen β']}")
    print("analytic TV to P(y | do(x_p), a) of the Bayes predictors that ignore one input: "
          + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in rows["reference TV"].items()))


# ------------------------------------------------------------------------- real data
def real(cfg, n_folds, seed=0):
    configs = {"pix + mor": ["pix", "mor"], "pix + fou": ["pix", "fou"], "all six": None}
    out = {}
    for label, views in configs.items():
        t0 = time.time()
        data = load_multiple_features(views=views)
        X, y = data.data, data.target
        names = list(X)
        tabular = {name: StandardScaler() for name in names if name != "pix"}
        scores = {}
        for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(y, y):
            Xtr, Xte = X[train], X[test]
            common = dict(max_epochs=cfg["real_epochs"], batch_size=128, lr=1e-3, random_state=seed)
            fd = Pipeline([("prep", ModalityTransformer(tabular)),
                           ("clf", FrontDoorMultimodalClassifier(predominant="pix", **common))])
            fd.fit(Xtr, y[train])
            Xte_t = fd.named_steps["prep"].transform(Xte)
            pearl, conditional = fd.named_steps["clf"].front_door_terms(Xte_t)
            for beta in (0.0, 0.5, 1.0):
                scores.setdefault(f"FrontDoor β={beta:g}", []).append(
                    _acc(beta * pearl + (1 - beta) * conditional, y[test]))
            lf = Pipeline([("prep", ModalityTransformer(tabular)), ("clf", LateFusionClassifier(**common))])
            scores.setdefault("LateFusion", []).append(lf.fit(Xtr, y[train]).score(Xte, y[test]))
            flat = lambda d: np.hstack([np.asarray(d[k]).reshape(len(d[k]), -1) for k in names])  # noqa: E731
            lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            scores.setdefault("LogReg (concat)", []).append(lr.fit(flat(Xtr), y[train]).score(flat(Xte), y[test]))
        out[label] = {k: (float(np.mean(v)), float(np.std(v))) for k, v in scores.items()}
        print(f"  real {label}: {time.time() - t0:.0f} s", flush=True)
    return out


def contributions(cfg):
    """Per-modality contributions on all six views, measured by predominant='auto'."""
    data = load_multiple_features()
    tabular = {name: StandardScaler() for name in data.data if name != "pix"}
    pipe = Pipeline([("prep", ModalityTransformer(tabular)),
                     ("clf", FrontDoorMultimodalClassifier(max_epochs=1, warmup_epochs=cfg["warmup_epochs"],
                                                           random_state=0))])
    clf = pipe.fit(data.data, data.target).named_steps["clf"]
    return clf.predominant_modality_, clf.modality_contributions_, clf.modality_shapley_


def print_real(res, n_folds):
    print(f"\nReal data (UCI Multiple Features, {n_folds}-fold accuracy, pix predominant)")
    models = list(next(iter(res.values())))
    print("| model | " + " | ".join(res) + " |")
    print("|---" * (len(res) + 1) + "|")
    for m in models:
        print(f"| {m} | " + " | ".join(f"{res[c][m][0]:.3f} ± {res[c][m][1]:.3f}" for c in res) + " |")


def plots(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results["confounded"]), figsize=(5 * len(results["confounded"]), 3.6),
                             squeeze=False)
    for ax, (pred, entry) in zip(axes[0], results["confounded"].items()):
        rows, c = entry["rows"], entry["ceilings"]
        for key, style in (("in", "o-"), ("out", "s--")):
            means = [np.mean(rows[f"FrontDoor β={b:g}"][key]) for b in BETAS]
            ax.plot(BETAS, means, style, label=f"FrontDoor ({key})")
            ax.axhline(np.mean(rows["LateFusion"][key]), color="grey", ls=":" if key == "out" else "-",
                       lw=1, label=f"LateFusion ({key})")
        ax.axhline(c["content_auxiliary"]["in_distribution"], color="green", lw=0.8, label="(C,A) ceiling")
        ax.axhline(c["content"]["in_distribution"], color="red", lw=0.8, label="C ceiling")
        ax.set_xlabel("β")
        ax.set_ylabel("accuracy")
        ax.set_title(f"confounded, predominant={pred}")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "frontdoor_beta_sweep.png", dpi=120)

    pred, acc, shap = results["contributions"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    names = list(acc)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [acc[n] for n in names], 0.4, label="head accuracy (warm-up)")
    if shap:
        ax.bar(x + 0.2, [shap[n] for n in names], 0.4, label="Shapley (inputs zeroed)")
    ax.set_xticks(x, names)
    ax.set_title(f"modality contributions, mfeat (auto picked {pred!r})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "frontdoor_contributions.png", dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, few epochs, small n")
    parser.add_argument("--no-image", action="store_true", help="skip the image-predominant confounded data")
    parser.add_argument("--no-real", action="store_true", help="skip the real-data part")
    args = parser.parse_args()
    # one thread: on a shared 2-core machine two torch threads were 10x slower (contention)
    torch.set_num_threads(1)
    if args.quick:
        cfg = dict(n_train=600, n_test=400, epochs=3, batch_size=128, dictionary_size=200, real_epochs=2,
                   image_epochs=2, image_n_train=400, folds=2, warmup_epochs=1)
        seeds = [0]
    else:
        cfg = dict(n_train=8000, n_test=2000, epochs=40, batch_size=256, dictionary_size=1000, real_epochs=40,
                   image_epochs=30, image_n_train=4000, folds=5, warmup_epochs=5)
        seeds = list(range(args.seeds))
    print("configuration:", json.dumps(cfg), "seeds:", seeds, flush=True)
    t_start = time.time()
    results = {"config": cfg, "seeds": seeds, "confounded": {}}
    rows, ceilings = confounded("table", cfg, seeds)
    results["confounded"]["table"] = {"rows": rows, "ceilings": ceilings}
    print_confounded("table", rows, ceilings)
    if not args.no_image:
        icfg = dict(cfg, n_train=cfg["image_n_train"], epochs=cfg["image_epochs"])
        rows, ceilings = confounded("image", icfg, seeds)
        results["confounded"]["image"] = {"rows": rows, "ceilings": ceilings, "config": icfg}
        print_confounded("image", rows, ceilings)
    if not args.no_real:
        results["real"] = real(cfg, cfg["folds"])
        print_real(results["real"], cfg["folds"])
    results["contributions"] = contributions(cfg)
    print("\nmodality contributions (mfeat, all six views, warm-up):", results["contributions"])
    results["wall_time_s"] = time.time() - t_start
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "frontdoor.json").write_text(json.dumps(results, indent=1, default=float))
    plots(results)
    print(f"\nwall time {results['wall_time_s']:.0f} s; wrote {RESULTS / 'frontdoor.json'} and the plots")


if __name__ == "__main__":
    main()
