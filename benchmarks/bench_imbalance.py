"""Benchmark of the modality-imbalance methods against late fusion.

On the bundled UCI Multiple Features data (2,000 handwritten digits, the
``pix`` view as a 1x16x15 image, tabular views standardised in a Pipeline),
5-fold stratified cross-validation with the same folds and seeds for every
method, three view sets: pix+mor (a weak auxiliary view), pix+fou, and all
six views. Methods: LateFusionClassifier, OGMGEClassifier,
MMParetoClassifier, MLAClassifier. Reported per method: accuracy, macro-F1,
per-modality accuracy (each modality's own head), Shapley modality
contributions (accuracy, absent modalities zeroed after scaling) and fit
time, also as a ratio to late fusion.

If ``skcausalmm.datasets._confounded`` is present, a second section trains
on the confounded benchmark at confounding 0.9 and tests in distribution and
at confounding 0.0, next to the analytic accuracy ceilings.

Usage::

    python benchmarks/bench_imbalance.py            # full run (30 epochs, ~8 min on 2 cores)
    python benchmarks/bench_imbalance.py --quick    # smoke run (2 folds, 2 epochs)

Results are printed and written to ``benchmarks/results/imbalance.json``.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import LateFusionClassifier, MLAClassifier, MMParetoClassifier, ModalityTransformer, OGMGEClassifier
from skcausalmm.datasets import load_multiple_features
from skcausalmm.metrics import imbalance_summary, modality_scores, shapley_contributions

METHODS = {
    "LateFusion": LateFusionClassifier,
    "OGM-GE": OGMGEClassifier,
    "MMPareto": MMParetoClassifier,
    "MLA": MLAClassifier,
}
SETUPS = {
    "pix+mor": ["pix", "mor"],
    "pix+fou": ["pix", "fou"],
    "all6": ["pix", "fou", "fac", "kar", "zer", "mor"],
}
RESULTS = Path(__file__).parent / "results" / "imbalance.json"


#: Extra estimator parameters from the command line (``--lr``).
EXTRA = {}


def make_model(name, views, epochs, seed):
    clf = METHODS[name](max_epochs=epochs, random_state=seed, device="cpu", **EXTRA)
    tabular = {v: StandardScaler() for v in views if v != "pix"}
    return make_pipeline(ModalityTransformer(tabular), clf)


def _mean_std(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std())


def run_mfeat(n_folds, epochs, seed):
    out = {}
    for setup, views in SETUPS.items():
        X, y = load_multiple_features(views=views, return_X_y=True)
        folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
        out[setup] = {}
        for name in METHODS:
            rec = {"acc": [], "f1": [], "fit_s": [], "mod_acc": {v: [] for v in views}, "phi": {v: [] for v in views}}
            for k, (tr, te) in enumerate(folds):
                model = make_model(name, views, epochs, seed + k)
                t0 = time.perf_counter()
                model.fit(X[tr], y[tr])
                rec["fit_s"].append(time.perf_counter() - t0)
                pred = model.predict(X[te])
                rec["acc"].append(accuracy_score(y[te], pred))
                rec["f1"].append(f1_score(y[te], pred, average="macro"))
                for v, s in modality_scores(model, X[te], y[te]).items():
                    rec["mod_acc"][v].append(s["accuracy"])
                for v, phi in shapley_contributions(model, X[te], y[te]).items():
                    rec["phi"][v].append(phi)
            phi_mean = {v: float(np.mean(p)) for v, p in rec["phi"].items()}
            summary = imbalance_summary(phi_mean)
            out[setup][name] = {
                "accuracy": _mean_std(rec["acc"]),
                "f1_macro": _mean_std(rec["f1"]),
                "modality_accuracy": {v: float(np.mean(a)) for v, a in rec["mod_acc"].items()},
                "shapley": phi_mean,
                "dominant": summary["dominant"],
                "dominant_share": summary["dominant_share"],
                "fit_time_s": _mean_std(rec["fit_s"]),
            }
            print(f"  {setup:8s} {name:10s} acc {np.mean(rec['acc']):.4f}  fit {np.mean(rec['fit_s']):.1f}s", flush=True)
        base = out[setup]["LateFusion"]["fit_time_s"][0]
        for name in METHODS:
            out[setup][name]["fit_time_ratio"] = out[setup][name]["fit_time_s"][0] / base
    return out


def run_confounded(n_train, n_test, epochs, seed):
    try:
        from skcausalmm.datasets._confounded import make_confounded_multimodal
    except ImportError:
        return None
    kw = dict(confounding=0.9, confounder_effect=0.7, auxiliary_quality=0.8, n_classes=4, predominant="image")
    train = make_confounded_multimodal(n_train, random_state=seed, **kw)
    test_in = make_confounded_multimodal(n_test, random_state=seed + 1, **kw)
    test_out = make_confounded_multimodal(n_test, random_state=seed + 2, **{**kw, "confounding": 0.0})
    out = {"ceilings": train.ceilings, "n_train": n_train, "n_test": n_test, "methods": {}}
    for name in METHODS:
        model = make_model(name, ["image", "auxiliary"], epochs, seed)
        t0 = time.perf_counter()
        model.fit(train.data, train.target)
        fit_s = time.perf_counter() - t0
        phi = shapley_contributions(model, test_in.data, test_in.target)
        out["methods"][name] = {
            "acc_in": float(model.score(test_in.data, test_in.target)),
            "acc_out": float(model.score(test_out.data, test_out.target)),
            "shapley_in": phi,
            "modality_accuracy_in": {
                v: s["accuracy"] for v, s in modality_scores(model, test_in.data, test_in.target).items()
            },
            "fit_time_s": fit_s,
        }
        r = out["methods"][name]
        print(f"  confounded {name:10s} in {r['acc_in']:.3f} out {r['acc_out']:.3f}  fit {fit_s:.1f}s", flush=True)
    return out


def print_tables(mfeat, confounded):
    for setup, res in mfeat.items():
        views = list(next(iter(res.values()))["modality_accuracy"])
        print(f"\n### {setup}\n")
        print("| method | accuracy | macro-F1 | per-modality accuracy | Shapley φ (accuracy) | dominant (share) | fit s | × LF |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in res.items():
            mod = ", ".join(f"{v} {r['modality_accuracy'][v]:.2f}" for v in views)
            phi = ", ".join(f"{v} {r['shapley'][v]:+.3f}" for v in views)
            print(
                f"| {name} | {r['accuracy'][0]:.4f} ± {r['accuracy'][1]:.4f} | {r['f1_macro'][0]:.4f} "
                f"| {mod} | {phi} | {r['dominant']} ({r['dominant_share']:.2f}) "
                f"| {r['fit_time_s'][0]:.1f} | {r['fit_time_ratio']:.2f} |"
            )
    if confounded:
        c = confounded["ceilings"]
        print(f"\n### confounded (train confounding 0.9, n_train={confounded['n_train']})\n")
        print(
            "ceilings (in / out): content+trace+aux "
            f"{c['content_trace_auxiliary']['in_distribution']:.3f} / {c['content_trace_auxiliary']['out_of_distribution']:.3f}; "
            f"content+aux {c['content_auxiliary']['in_distribution']:.3f} / {c['content_auxiliary']['out_of_distribution']:.3f}; "
            f"content {c['content']['in_distribution']:.3f} / {c['content']['out_of_distribution']:.3f}\n"
        )
        print("| method | acc in-dist | acc at confounding 0 | Shapley φ in-dist | per-modality acc in-dist | fit s |")
        print("|---|---|---|---|---|---|")
        for name, r in confounded["methods"].items():
            phi = ", ".join(f"{v} {p:+.3f}" for v, p in r["shapley_in"].items())
            mod = ", ".join(f"{v} {p:.2f}" for v, p in r["modality_accuracy_in"].items())
            print(f"| {name} | {r['acc_in']:.3f} | {r['acc_out']:.3f} | {phi} | {mod} | {r['fit_time_s']:.1f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 folds, 2 epochs, small confounded set")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 30, the estimators' default; 2 with --quick)")
    parser.add_argument("--folds", type=int, default=None, help="CV folds (default 5; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=None, help="learning rate of every method (default: theirs)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: the networks are small, and 2 threads on a busy 2-core machine stall)"
    )
    parser.add_argument("--no-confounded", action="store_true", help="skip the confounded section")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.lr is not None:
        EXTRA["lr"] = args.lr
    epochs = args.epochs or (2 if args.quick else 30)
    folds = args.folds or (2 if args.quick else 5)
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    print(f"mfeat: {folds}-fold CV, {epochs} epochs", flush=True)
    mfeat = run_mfeat(folds, epochs, args.seed)
    confounded = None
    if not args.no_confounded:
        n_train, n_test = (400, 400) if args.quick else (2000, 2000)
        print(f"confounded: {n_train} training samples, {epochs} epochs", flush=True)
        confounded = run_confounded(n_train, n_test, epochs, args.seed)
    wall = time.perf_counter() - t0
    print_tables(mfeat, confounded)
    print(f"\nwall time {wall:.0f} s")

    result = {
        "config": {"folds": folds, "epochs": epochs, "seed": args.seed, "threads": args.threads, "quick": args.quick},
        "mfeat": mfeat,
        "confounded": confounded,
        "wall_time_s": wall,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=float))
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
