"""Benchmark of RedCore against late-fusion baselines on modalities missing at imbalanced rates.

Real data: the bundled UCI Multiple Features set with three views of
different strength (logistic regression per view, 5-fold: pix 0.97, fou
0.82, mor 0.73): ``pix`` (given as its 240 columns, so that every encoder
is a perceptron that converges in the epochs a CPU run affords), ``fou``
and ``mor``. A stratified 70/30 split per seed; the training part is masked
with the RedCore paper's protocol (for each view independently exactly
``floor(N r_m)`` random samples become missing; ``mask_modalities``) at the
rates (0.2, 0.5, 0.8), (0.5, 0.8, 0.2) and (0.5, 0.5, 0.5) for
(pix, fou, mor). Each model is scored on the complete test part under every
availability pattern (each test sample with exactly that pattern's views
present: the paper's test protocol), and on the test part masked at the same
rates as the training part.

Synthetic data with known truth: a latent class (4 classes) behind a shared
Gaussian latent that three modalities see through random linear maps with
noise of three levels (strong, medium, weak); the Bayes accuracy of every
availability pattern is computed from the true model. The imbalance of the
missing rates grows from equal (0.5, 0.5, 0.5) to (0.1, 0.5, 0.9) and the
reverse (0.9, 0.5, 0.1) (for strong, medium, weak), the mean rate staying 0.5.

Methods: RedCore (adaptive supervision weights), RedCore with fixed uniform
weights (``adaptive=False``), LateFusion with masked fusion (a learned
embedding for an absent modality), LateFusion on mean-imputed inputs (a
scikit-learn ``SimpleImputer`` per modality, fitted on the present training
rows), and, without ``--quick``, a per-pattern ensemble of unimodal late-fusion
models (the average of the present modalities' probabilities). Every method
uses the same encoders, epochs, learning rate and batch size.

Usage::

    python benchmarks/bench_missing.py --quick       # smoke run: 1 seed, 10 epochs, one setting each
    python benchmarks/bench_missing.py               # 5 seeds, 40 epochs
    python benchmarks/bench_missing.py --seeds 3 --epochs 30
    python benchmarks/bench_missing.py --premise --seeds 3 --epochs 30   # RedCore's premise: adaptive vs fixed

Results are printed and written to ``benchmarks/results/missing.json``
(``missing_quick.json`` with ``--quick``) with a figure next to it.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from skcausalmm import LateFusionClassifier, RedCoreClassifier
from skcausalmm.datasets import load_multiple_features, mask_modalities
from skcausalmm.metrics.availability import availability_patterns

try:
    from skcausalmm.metrics import availability_scores
    from skcausalmm.plotting import plot_availability_scores
except ImportError:  # before the public re-exports
    from skcausalmm.metrics.availability import availability_scores, plot_availability_scores

RESULTS = Path(__file__).parent / "results"
VIEWS = ["pix", "fou", "mor"]
REAL_RATES = {
    "0.2/0.5/0.8": (0.2, 0.5, 0.8),
    "0.5/0.8/0.2": (0.5, 0.8, 0.2),
    "0.5/0.5/0.5": (0.5, 0.5, 0.5),
}
SYNTH_NAMES = ["strong", "medium", "weak"]
SYNTH_RATES = {
    "0.5/0.5/0.5": (0.5, 0.5, 0.5),
    "0.3/0.5/0.7": (0.3, 0.5, 0.7),
    "0.1/0.5/0.9": (0.1, 0.5, 0.9),
    "0.9/0.5/0.1": (0.9, 0.5, 0.1),
}
METHODS = ["RedCore", "RedCore fixed beta", "LateFusion masked", "LateFusion mean-imputed", "Unimodal ensemble"]


# ------------------------------------------------------------------ baselines
class MeanImputedLateFusion(ClassifierMixin, BaseEstimator):
    """Late fusion on inputs whose missing blocks are filled with the training means (per modality)."""

    _supports_missing = True

    def __init__(self, estimator):
        self.estimator = estimator

    def _impute(self, X):
        return {
            k: self.imputers_[k].transform(np.asarray(v).reshape(len(v), -1)).astype(np.float32) for k, v in X.items()
        }

    def fit(self, X, y):
        self.imputers_ = {
            k: SimpleImputer(strategy="mean").fit(np.asarray(v).reshape(len(v), -1)) for k, v in X.items()
        }
        self.estimator_ = clone(self.estimator).fit(self._impute(X), y)
        self.classes_ = self.estimator_.classes_
        self.modality_names_ = list(X)
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self._impute(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class UnimodalEnsemble(ClassifierMixin, BaseEstimator):
    """One model per modality (trained on its present rows); the present modalities' probabilities are averaged."""

    _supports_missing = True

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.modality_names_ = list(X)
        self.models_ = {}
        for k, v in X.items():
            present = ~np.isnan(np.asarray(v).reshape(len(v), -1)[:, 0])
            self.models_[k] = clone(self.estimator).fit({k: np.asarray(v)[present]}, np.asarray(y)[present])
        return self

    def predict_proba(self, X):
        n = len(next(iter(X.values())))
        total, count = np.zeros((n, len(self.classes_))), np.zeros((n, 1))
        for k, model in self.models_.items():
            v = np.asarray(X[k])
            present = ~np.isnan(v.reshape(n, -1)[:, 0])
            if present.any():
                proba = model.predict_proba({k: v[present]})
                cols = np.searchsorted(self.classes_, model.classes_)
                total[np.ix_(present, cols)] += proba
                count[present] += 1
        if (count == 0).any():
            raise ValueError("A sample has no modality present.")
        return total / count

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_model(name, epochs, seed):
    common = dict(max_epochs=epochs, random_state=seed, device="cpu")
    if name == "RedCore":
        return RedCoreClassifier(**common)
    if name == "RedCore fixed beta":
        return RedCoreClassifier(adaptive=False, **common)
    if name == "LateFusion masked":
        return LateFusionClassifier(**common)
    if name == "LateFusion mean-imputed":
        return MeanImputedLateFusion(LateFusionClassifier(**common))
    if name == "Unimodal ensemble":
        return UnimodalEnsemble(LateFusionClassifier(**common))
    raise ValueError(name)


# ------------------------------------------------------------------ synthetic
def synthetic_model(seed=2024, latent=4, dims=(16, 16, 16), noise=(1.0, 3.0, 6.0), n_classes=4):
    """The fixed generative model: class means, latent noise, per-modality maps and noise levels."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, latent)) * 1.5
    maps = [rng.normal(size=(latent, d)) / np.sqrt(latent) for d in dims]
    return {"means": means, "latent_sd": 1.0, "maps": maps, "noise": list(noise)}


def sample_synthetic(model, n, seed):
    rng = np.random.default_rng(seed)
    k = model["means"].shape[0]
    y = rng.integers(0, k, n)
    z = model["means"][y] + model["latent_sd"] * rng.normal(size=(n, model["means"].shape[1]))
    X = {
        name: (z @ A + s * rng.normal(size=(n, A.shape[1]))).astype(np.float32)
        for name, A, s in zip(SYNTH_NAMES, model["maps"], model["noise"])
    }
    return X, y


def bayes_accuracy(model, X, y, pattern):
    """Accuracy of the Bayes classifier (true class-conditional Gaussians, equal priors) on a pattern."""
    idx = [SYNTH_NAMES.index(m) for m in pattern]
    A = np.concatenate([model["maps"][i] for i in idx], axis=1)
    noise = np.concatenate([np.full(model["maps"][i].shape[1], model["noise"][i] ** 2) for i in idx])
    cov = model["latent_sd"] ** 2 * A.T @ A + np.diag(noise)
    prec = np.linalg.inv(cov)
    centers = model["means"] @ A
    x = np.concatenate([X[m] for m in pattern], axis=1).astype(np.float64)
    diff = x[:, None, :] - centers[None, :, :]
    score = -0.5 * np.einsum("nkd,de,nke->nk", diff, prec, diff)
    return float(np.mean(np.argmax(score, axis=1) == y))


# ------------------------------------------------------------------ running
def evaluate(model, X_test, y_test, rates, seed):
    table = availability_scores(model, X_test, y_test)
    masked = mask_modalities(X_test, dict(zip(X_test, rates)), random_state=seed + 1000)
    return {
        "patterns": {
            p: {k: float(table.loc[p, k]) for k in ("accuracy", "balanced_accuracy", "macro_f1")} for p in table.index
        },
        "masked_test_accuracy": float(accuracy_score(y_test, model.predict(masked))),
    }


def run_setting(X_train, y_train, X_test, y_test, rates, methods, epochs, seed, extra=None):
    Xm = mask_modalities(X_train, dict(zip(X_train, rates)), random_state=seed)
    out = {}
    for name in methods:
        model = make_model(name, epochs, seed)
        t0 = time.perf_counter()
        model.fit(Xm, y_train)
        rec = evaluate(model, X_test, y_test, rates, seed)
        rec["fit_s"] = time.perf_counter() - t0  # fit and scoring
        if isinstance(model, RedCoreClassifier):
            rec["supervision_weights"] = model.supervision_weights_.tolist()
            rec["reconstruction_loss"] = model.reconstruction_loss_.tolist()
        out[name] = rec
    if extra:
        out.update(extra)
    return out


def run_real(seeds, epochs, settings, methods):
    X, y = load_multiple_features(views=VIEWS, return_X_y=True, image=False)
    X = {k: np.asarray(X[k], dtype=np.float32) for k in VIEWS}
    res = {}
    for label in settings:
        res[label] = []
        for seed in seeds:
            tr, te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
            Xtr, Xte = {k: v[tr] for k, v in X.items()}, {k: v[te] for k, v in X.items()}
            res[label].append(run_setting(Xtr, y[tr], Xte, y[te], REAL_RATES[label], methods, epochs, seed))
            print(f"  real {label} seed {seed} done", flush=True)
    return res


def run_synthetic(seeds, epochs, settings, methods, n_train, n_test):
    model = synthetic_model()
    res = {}
    for label in settings:
        res[label] = []
        for seed in seeds:
            Xtr, ytr = sample_synthetic(model, n_train, seed)
            Xte, yte = sample_synthetic(model, n_test, 10_000 + seed)
            bayes = {"+".join(p): bayes_accuracy(model, Xte, yte, p) for p in availability_patterns(SYNTH_NAMES)}
            bayes["average"] = float(np.mean(list(bayes.values())))
            extra = {"Bayes": {"patterns": {p: {"accuracy": v} for p, v in bayes.items()}}}
            res[label].append(run_setting(Xtr, ytr, Xte, yte, SYNTH_RATES[label], methods, epochs, seed, extra))
            print(f"  synthetic {label} seed {seed} done", flush=True)
    return res


# ------------------------------------------------------------------ RedCore's premise
PREMISE_CASES = {
    "equal views 0.1/0.5/0.9": ("equal", (0.1, 0.5, 0.9)),
    "Multiple Features 0.2/0.5/0.8": ("real", (0.2, 0.5, 0.8)),
    "Multiple Features 0.8/0.5/0.2": ("real", (0.8, 0.5, 0.2)),
}


def run_premise(seeds, epochs, n_train=1500, n_test=1500):
    """RedCore adaptive against fixed weights where the modality missing most is the one trained least.

    ``equal views``: the synthetic model with three views of the same noise (3.0), so that the
    only difference between them is how often each is missing. Records the pattern average,
    the final supervision weights and the moving averages of the reconstruction errors.
    """
    equal = synthetic_model(noise=(3.0, 3.0, 3.0))
    X_real, y_real = load_multiple_features(views=VIEWS, return_X_y=True, image=False)
    X_real = {k: np.asarray(X_real[k], dtype=np.float32) for k in VIEWS}
    out = {}
    for label, (kind, rates) in PREMISE_CASES.items():
        out[label] = []
        for seed in seeds:
            if kind == "equal":
                Xtr, ytr = sample_synthetic(equal, n_train, seed)
                Xte, yte = sample_synthetic(equal, n_test, 10_000 + seed)
            else:
                tr, te = train_test_split(np.arange(len(y_real)), test_size=0.3, stratify=y_real, random_state=seed)
                Xtr, ytr = {k: v[tr] for k, v in X_real.items()}, y_real[tr]
                Xte, yte = {k: v[te] for k, v in X_real.items()}, y_real[te]
            Xm = mask_modalities(Xtr, dict(zip(Xtr, rates)), random_state=seed)
            record = {}
            for name in ("RedCore", "RedCore fixed beta"):
                model = make_model(name, epochs, seed).fit(Xm, ytr)
                record[name] = {
                    "average": float(availability_scores(model, Xte, yte).loc["average", "accuracy"]),
                    "supervision_weights": model.supervision_weights_.tolist(),
                    "reconstruction_loss": model.reconstruction_loss_.tolist(),
                }
            out[label].append(record)
            print(f"  premise {label} seed {seed} done", flush=True)
    return out


def print_premise(premise):
    print("\nRedCore's premise: the modality missing most is trained least (means over the seeds)")
    for label, runs in premise.items():
        print(f"{label}:")
        for name in runs[0]:
            avg = [r[name]["average"] for r in runs]
            beta = np.mean([r[name]["supervision_weights"] for r in runs], axis=0)
            rec = np.mean([r[name]["reconstruction_loss"] for r in runs], axis=0)
            print(
                f"  {name:<20} pattern average {np.mean(avg):.3f}±{np.std(avg):.3f}  "
                f"beta {np.round(beta, 3).tolist()}  reconstruction error {np.round(rec, 3).tolist()}"
            )


# ------------------------------------------------------------------ reporting
def summarise(runs, key="accuracy"):
    """{method: {pattern: (mean, std)}} plus the masked-test accuracy under the key 'masked test'."""
    methods = list(runs[0])
    out = {}
    for m in methods:
        patterns = list(runs[0][m]["patterns"])
        out[m] = {
            p: (
                float(np.mean([r[m]["patterns"][p][key] for r in runs])),
                float(np.std([r[m]["patterns"][p][key] for r in runs])),
            )
            for p in patterns
        }
        if "masked_test_accuracy" in runs[0][m]:
            vals = [r[m]["masked_test_accuracy"] for r in runs]
            out[m]["masked test"] = (float(np.mean(vals)), float(np.std(vals)))
    return out


def print_table(title, summary, n_seeds):
    methods = list(summary)
    patterns = [p for p in summary[methods[0]] if p != "masked test"]
    cols = patterns + (["masked test"] if "masked test" in summary[methods[0]] else [])
    width = max(len(m) for m in methods) + 2
    print(f"\n{title} (accuracy, mean ± std over {n_seeds} seed(s))")
    print(" " * width + " ".join(f"{c:>13}" for c in cols))
    for m in methods:
        cells = []
        for c in cols:
            if c in summary[m]:
                mean, std = summary[m][c]
                cells.append(f"{mean:.3f}±{std:.3f}".rjust(13))
            else:
                cells.append(" " * 13)
        print(m.ljust(width) + " ".join(cells))


def make_figure(real, synth, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(1, 2, figsize=(14, 3.8), gridspec_kw={"width_ratios": [2.0, 1]})
    if real:
        label = next(iter(real))
        summ = summarise(real[label])
        tables = {
            m: pd.DataFrame({"accuracy": {p: v[0] for p, v in s.items() if p != "masked test"}})
            for m, s in summ.items()
        }
        errs = {
            m: pd.DataFrame({"accuracy": {p: v[1] for p, v in s.items() if p != "masked test"}})
            for m, s in summ.items()
        }
        plot_availability_scores(tables, ax=axes[0], errors=errs, title=f"Multiple Features, missing rates {label}")
    if synth:
        labels = list(synth)
        for m in [k for k in synth[labels[0]][0] if k != "Bayes"] + ["Bayes"]:
            means = [summarise(synth[lab])[m]["average"][0] for lab in labels]
            axes[1].plot(range(len(labels)), means, marker="o", label=m, linestyle="--" if m == "Bayes" else "-")
        axes[1].set_xticks(range(len(labels)))
        axes[1].set_xticklabels(labels, rotation=20)
        axes[1].set_xlabel("missing rates (strong/medium/weak)")
        axes[1].set_ylabel("pattern-average accuracy")
        axes[1].set_title("Synthetic (known Bayes accuracy)")
        axes[1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 10 epochs, one setting per data set")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--synthetic-seeds", type=int, default=None, help="seeds of the synthetic part (default: --seeds)"
    )
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--no-ensemble", action="store_true", help="leave out the unimodal ensemble")
    parser.add_argument("--figure", type=Path, default=None, help="where to save the figure")
    parser.add_argument("--replot", type=Path, default=None, help="only redraw the figure from a results JSON")
    parser.add_argument(
        "--premise", action="store_true",
        help="only RedCore's premise: adaptive against fixed weights where the modality missing most is trained least",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.premise or args.quick:  # --quick smoke-runs the premise study too
        seeds = [0] if args.quick else list(range(args.seeds))
        epochs = 3 if args.quick else args.epochs
        premise = run_premise(seeds, epochs, *((300, 300) if args.quick else ()))
        print_premise(premise)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / ("missing_premise_quick.json" if args.quick else "missing_premise.json")
        command = "python benchmarks/bench_missing.py --premise " + ("--quick" if args.quick else f"--seeds {args.seeds} --epochs {epochs}")
        path.write_text(json.dumps({"command": command, "epochs": epochs, "seeds": seeds, "premise": premise}, indent=1))
        print(f"wrote {path}")
        if args.premise:
            return
    if args.replot is not None:
        saved = json.loads(args.replot.read_text())
        figure = args.figure or args.replot.with_suffix(".png")
        make_figure(saved["real"], saved["synthetic"], figure)
        print(f"wrote {figure}")
        return

    if args.quick:
        seeds, synth_seeds, epochs = [0], [0], 10
        real_settings, synth_settings = ["0.2/0.5/0.8"], ["0.1/0.5/0.9"]
        methods = METHODS[:4]
        n_train, n_test = 400, 400
    else:
        seeds, epochs = list(range(args.seeds)), args.epochs
        synth_seeds = list(range(args.synthetic_seeds if args.synthetic_seeds is not None else args.seeds))
        real_settings, synth_settings = list(REAL_RATES), list(SYNTH_RATES)
        methods = METHODS[:4] if args.no_ensemble else METHODS
        n_train, n_test = 1500, 1500

    t0 = time.perf_counter()
    real = {} if args.no_real else run_real(seeds, epochs, real_settings, methods)
    synth = {} if args.no_synthetic else run_synthetic(synth_seeds, epochs, synth_settings, methods, n_train, n_test)
    elapsed = time.perf_counter() - t0

    for label, runs in real.items():
        print_table(f"Multiple Features (pix, fou, mor), missing rates {label}", summarise(runs), len(seeds))
    for label, runs in synth.items():
        print_table(f"Synthetic (strong, medium, weak), missing rates {label}", summarise(runs), len(synth_seeds))
    print(f"\ntotal {elapsed:.0f} s; {len(seeds)} seed(s) real, {len(synth_seeds)} synthetic, {epochs} epochs")

    RESULTS.mkdir(exist_ok=True)
    stem = "missing_quick" if args.quick else "missing"
    payload = {
        "command": "python benchmarks/bench_missing.py"
        + (
            " --quick"
            if args.quick
            else f" --seeds {args.seeds} --synthetic-seeds {len(synth_seeds)} --epochs {epochs}"
        ),
        "seeds": seeds,
        "synthetic_seeds": synth_seeds,
        "epochs": epochs,
        "views": VIEWS,
        "elapsed_s": elapsed,
        "real": real,
        "synthetic": synth,
        "summary": {
            "real": {label: summarise(runs) for label, runs in real.items()},
            "synthetic": {label: summarise(runs) for label, runs in synth.items()},
        },
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    figure = args.figure or RESULTS / f"{stem}.png"
    make_figure(real, synth, figure)
    print(f"wrote {RESULTS / f'{stem}.json'} and {figure}")


if __name__ == "__main__":
    main()
