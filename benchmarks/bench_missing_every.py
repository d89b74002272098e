"""Every estimator with missing modalities: the pattern average against what the missing data leave.

Each classifier of the package (late fusion, OGM-GE, MMPareto, MLA, the front door,
CausalInfoMin, RedCore) and two scikit-learn models a user would pick instead (logistic
regression on the mean-imputed concatenated views, histogram gradient boosting on the
concatenated views with its native NaN handling) are trained on data whose modalities are
missing at a rate profile, and scored with :func:`skcausalmm.metrics.availability_scores` under
every availability pattern of the complete test part (each pattern's views present, the others
missing) — the average over the seven patterns is the number the tables report.

What the missing data leave is measured on the same split: the *complete* accuracy of each
method (trained and tested on complete data), and a per-pattern reference (logistic regression
on the complete training part restricted to the pattern's views; on the synthetic set, the
Bayes accuracy of the pattern). The *bound* of a method is its complete accuracy minus what the
patterns lose, ``complete - (ref(all views) - mean over patterns of ref(pattern))``; ``Δ`` is its
pattern average minus that bound (the target: Δ ≥ -0.01; compare with late fusion's Δ).

Rate profiles (for the views in order): ``0.3`` (30 % of each modality missing), ``0.2/0.5/0.8``
(the strongest view missing least) and ``0.8/0.5/0.2`` (the strongest view missing most).

Data: the bundled UCI Multiple Features views pix (240 columns), fou and mor (stratified 70/30
splits); and the synthetic set of ``bench_missing.py`` (three views of a shared Gaussian latent at
three noise levels, 4 classes), whose Bayes accuracy per pattern is known.

ContrastiveICA (a transformer, no accuracy) is measured on its own generator,
``make_partial_causal`` (sphere, 3 coupled and 1 specific latent per modality, 4000 pairs):
fitted on complete pairs and with 30 % of each modality missing, the held-out linear R² of
its transform (of complete held-out pairs) onto the coupled latents ``z_x`` and onto the
specific latent ``m_x``, and the MCC after ICA.

Usage::

    python benchmarks/bench_missing_every.py --quick     # smoke run: 1 seed, 3 epochs, small data
    python benchmarks/bench_missing_every.py --seeds 3   # the tables of the docs (about 40 min on 2 cores)
    python benchmarks/bench_missing_every.py --seeds 1 --image --no-synthetic   # pix through the CNN

Results are printed and written to ``benchmarks/results/missing_every.json``
(``missing_every_quick.json`` with ``--quick``) with a figure next to it.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from bench_missing import SYNTH_NAMES, bayes_accuracy, sample_synthetic, synthetic_model
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausalmm import (
    CausalInfoMinClassifier,
    FrontDoorMultimodalClassifier,
    LateFusionClassifier,
    MLAClassifier,
    MMParetoClassifier,
    OGMGEClassifier,
    RedCoreClassifier,
)
from skcausalmm.datasets import load_multiple_features, mask_modalities
from skcausalmm.metrics import availability_scores
from skcausalmm.metrics.availability import availability_patterns

RESULTS = Path(__file__).parent / "results"
VIEWS = ["pix", "fou", "mor"]
PROFILES = {"0.3": (0.3, 0.3, 0.3), "0.2/0.5/0.8": (0.2, 0.5, 0.8), "0.8/0.5/0.2": (0.8, 0.5, 0.2)}
NETWORKS = {
    "LateFusion": LateFusionClassifier,
    "OGM-GE": OGMGEClassifier,
    "MMPareto": MMParetoClassifier,
    "MLA": MLAClassifier,
    "FrontDoor": FrontDoorMultimodalClassifier,
    "CausalInfoMin": CausalInfoMinClassifier,
    "RedCore": RedCoreClassifier,
}
METHODS = [*NETWORKS, "LogReg (imputed)", "HistGB (NaN)"]


class Concatenated(ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier on the concatenated views (missing blocks stay NaN for it to handle)."""

    _supports_missing = True

    def __init__(self, estimator):
        self.estimator = estimator

    @staticmethod
    def _table(X):
        return np.hstack([np.asarray(v, dtype=np.float64).reshape(len(v), -1) for v in X.values()])

    def fit(self, X, y):
        self.modality_names_ = list(X)
        self.estimator_ = self.estimator.fit(self._table(X), y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self._table(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_model(name, epochs, seed):
    if name in NETWORKS:
        return NETWORKS[name](max_epochs=epochs, random_state=seed, device="cpu")
    if name == "LogReg (imputed)":
        return Concatenated(
            make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
        )
    if name == "HistGB (NaN)":
        return Concatenated(HistGradientBoostingClassifier(max_iter=100, random_state=seed))
    raise ValueError(name)


def pattern_reference(X_train, y_train, X_test, y_test):
    """Logistic regression on the complete training part restricted to each pattern's views."""
    out = {}
    for pattern in availability_patterns(list(X_train)):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(Concatenated._table({m: X_train[m] for m in pattern}), y_train)
        out["+".join(pattern)] = float(model.score(Concatenated._table({m: X_test[m] for m in pattern}), y_test))
    return out


def run_split(X_train, y_train, X_test, y_test, reference, profiles, methods, epochs, seed):
    """Scores of every method on one split: complete, then at each missing-rate profile."""
    names = list(X_train)
    full = "+".join(names)
    lost = reference[full] - float(np.mean([v for k, v in reference.items()]))
    record = {"reference": reference, "complete": {}, "profiles": {p: {} for p in profiles}, "fit_s": {}}
    for method in methods:
        t0 = time.perf_counter()
        model = make_model(method, epochs, seed).fit(X_train, y_train)
        record["fit_s"][method] = time.perf_counter() - t0
        record["complete"][method] = float(model.score(X_test, y_test))
    for profile in profiles:
        masked = mask_modalities(X_train, dict(zip(names, PROFILES[profile])), random_state=seed)
        for method in methods:
            model = make_model(method, epochs, seed).fit(masked, y_train)
            table = availability_scores(model, X_test, y_test)
            average = float(table.loc["average", "accuracy"])
            bound = record["complete"][method] - lost
            record["profiles"][profile][method] = {
                "patterns": {p: float(table.loc[p, "accuracy"]) for p in table.index},
                "average": average,
                "bound": bound,
                "delta": average - bound,
            }
    return record


def run_real(seeds, profiles, methods, epochs, n_rows=None, image=False):
    X, y = load_multiple_features(views=VIEWS, return_X_y=True, image=image)
    X = {k: np.asarray(X[k], dtype=np.float32) for k in VIEWS}
    if n_rows:
        keep = train_test_split(np.arange(len(y)), train_size=n_rows, stratify=y, random_state=0)[0]
        X, y = {k: v[keep] for k, v in X.items()}, y[keep]
    runs = []
    for seed in seeds:
        tr, te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
        Xtr, Xte = {k: v[tr] for k, v in X.items()}, {k: v[te] for k, v in X.items()}
        reference = pattern_reference(Xtr, y[tr], Xte, y[te])
        runs.append(run_split(Xtr, y[tr], Xte, y[te], reference, profiles, methods, epochs, seed))
        print(f"  real seed {seed} done", flush=True)
    return runs


def run_synthetic(seeds, profiles, methods, epochs, n_train, n_test):
    generator = synthetic_model()
    runs = []
    for seed in seeds:
        Xtr, ytr = sample_synthetic(generator, n_train, seed)
        Xte, yte = sample_synthetic(generator, n_test, 10_000 + seed)
        reference = {"+".join(p): bayes_accuracy(generator, Xte, yte, p) for p in availability_patterns(SYNTH_NAMES)}
        runs.append(run_split(Xtr, ytr, Xte, yte, reference, profiles, methods, epochs, seed))
        print(f"  synthetic seed {seed} done", flush=True)
    return runs


def run_contrastive(seeds, n_pairs, rate=0.3, epochs=None):
    """ContrastiveICA on complete pairs and with ``rate`` of each modality missing: identifiability scores."""
    from skcausalmm import ContrastiveICA
    from skcausalmm.datasets import make_partial_causal
    from skcausalmm.metrics import identifiability_scores

    out = {"complete": [], f"{rate} missing": []}
    for seed in seeds:
        d = make_partial_causal(n_pairs, n_latent=3, n_specific=1, random_state=seed)
        held_out = d.sampler(2000, random_state=10_000 + seed)
        for label, data in (("complete", d.data), (f"{rate} missing", mask_modalities(d.data, rate, random_state=seed))):
            params = {} if epochs is None else {"max_epochs": epochs}
            est = ContrastiveICA(n_components=3, random_state=seed, **params).fit(data)
            scores = identifiability_scores(held_out.z_x, est.transform(held_out.data), held_out.m_x)
            out[label].append({k: float(v) for k, v in scores.items()})
        print(f"  contrastive seed {seed} done", flush=True)
    return out


def print_contrastive(runs):
    print("\nContrastiveICA on make_partial_causal (held-out pairs): R²(→z_x), R²(→m_x), MCC after ICA")
    for label, records in runs.items():
        cells = [
            f"{key} {np.mean([r[key] for r in records]):.3f}±{np.std([r[key] for r in records]):.3f}"
            for key in ("r2", "r2_specific", "mcc")
        ]
        print(f"  {label:<14}" + "  ".join(cells))


def summarise(runs, profiles, methods):
    """{profile: {method: {average, delta, bound}: (mean, sd)}} and the complete accuracies."""

    def stat(values):
        return float(np.mean(values)), float(np.std(values))

    out = {"complete": {m: stat([r["complete"][m] for r in runs]) for m in methods}}
    for profile in profiles:
        out[profile] = {
            m: {key: stat([r["profiles"][profile][m][key] for r in runs]) for key in ("average", "bound", "delta")}
            for m in methods
        }
    reference = {p: stat([r["reference"][p] for r in runs]) for p in runs[0]["reference"]}
    out["reference"] = reference
    return out


def print_tables(title, summary, profiles, methods, n_seeds):
    print(f"\n{title}: pattern-average accuracy (Δ to the bound), mean ± sd over {n_seeds} seed(s)")
    width = max(len(m) for m in methods) + 2
    print("".ljust(width) + f"{'complete':>15}" + "".join(f"{p:>26}" for p in profiles))
    for m in methods:
        mean, sd = summary["complete"][m]
        cells = [f"{mean:.3f}±{sd:.3f}".rjust(15)]
        for p in profiles:
            (a, a_sd), (d, _) = summary[p][m]["average"], summary[p][m]["delta"]
            cells.append(f"{a:.3f}±{a_sd:.3f} (Δ {d:+.3f})".rjust(26))
        print(m.ljust(width) + "".join(cells))
    ref = summary["reference"]
    print("reference per pattern: " + ", ".join(f"{p} {v[0]:.3f}" for p, v in ref.items()))


def make_figure(summaries, profiles, methods, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.5 * len(summaries), 3.8), squeeze=False)
    for ax, (title, summary) in zip(axes[0], summaries.items()):
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            means = [summary[p][m]["delta"][0] for p in profiles]
            sds = [summary[p][m]["delta"][1] for p in profiles]
            ax.bar(np.arange(len(profiles)) + i * width, means, width, yerr=sds, label=m)
        ax.axhline(-0.01, color="k", linestyle="--", linewidth=0.8)
        ax.set_xticks(np.arange(len(profiles)) + 0.4 - width / 2)
        ax.set_xticklabels(profiles)
        ax.set_xlabel("missing rates")
        ax.set_ylabel("Δ: pattern average − bound")
        ax.set_title(title)
    axes[0][-1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 3 epochs, 600 rows, one profile")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--no-contrastive", action="store_true", help="leave out the ContrastiveICA part")
    parser.add_argument("--image", action="store_true", help="pix as a 16x15 image through the CNN encoder")
    parser.add_argument(
        "--modality-dropout", type=float, default=None,
        help="override every estimator's modality dropout (the study of its default; None: the defaults)",
    )
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument(
        "--replot", type=Path, nargs="+", default=None,
        help="only draw one figure from the summaries of these result JSONs (e.g. a real and a synthetic run)",
    )
    parser.add_argument("--figure", type=Path, default=None, help="where --replot saves the figure")
    args = parser.parse_args()
    if args.replot:
        saved = [json.loads(path.read_text()) for path in args.replot]
        summaries = {title: summary for run in saved for title, summary in run["summary"].items()}
        figure = args.figure or args.replot[0].with_suffix(".combined.png")
        make_figure(summaries, saved[0]["profiles"], saved[0]["methods"], figure)
        print(f"wrote {figure}")
        return
    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.modality_dropout is not None:
        for cls in NETWORKS.values():
            cls._modality_dropout = args.modality_dropout
    seeds, epochs, profiles, methods = list(range(args.seeds)), args.epochs, args.profiles, args.methods
    n_rows, n_train, n_test = None, 1500, 1500
    if args.quick:
        seeds, epochs, profiles, n_rows, n_train, n_test = [0], 3, ["0.3"], 600, 300, 300

    t0 = time.perf_counter()
    real = [] if args.no_real else run_real(seeds, profiles, methods, epochs, n_rows, args.image)
    synth = [] if args.no_synthetic else run_synthetic(seeds, profiles, methods, epochs, n_train, n_test)
    contrastive = (
        {} if args.no_contrastive
        else run_contrastive(seeds, 600 if args.quick else 4000, epochs=epochs if args.quick else None)
    )
    elapsed = time.perf_counter() - t0
    summaries = {}
    if real:
        pix = "pix as an image" if args.image else "pix"
        summaries[f"Multiple Features ({pix}, fou, mor)"] = summarise(real, profiles, methods)
    if synth:
        summaries["Synthetic (strong, medium, weak)"] = summarise(synth, profiles, methods)
    for title, summary in summaries.items():
        print_tables(title, summary, profiles, methods, len(seeds))
    if contrastive:
        print_contrastive(contrastive)
    print(f"\ntotal {elapsed:.0f} s; {len(seeds)} seed(s), {epochs} epochs")

    RESULTS.mkdir(exist_ok=True)
    stem = ("missing_every_quick" if args.quick else "missing_every") + args.tag
    payload = {
        "command": "python benchmarks/bench_missing_every.py "
        + ("--quick" if args.quick else f"--seeds {args.seeds} --epochs {epochs}")
        + (" --image" if args.image else "")
        + ("" if args.modality_dropout is None else f" --modality-dropout {args.modality_dropout}"),
        "modality_dropout": {name: cls._modality_dropout for name, cls in NETWORKS.items()},
        "seeds": seeds,
        "epochs": epochs,
        "profiles": profiles,
        "methods": methods,
        "elapsed_s": elapsed,
        "real": real,
        "synthetic": synth,
        "contrastive": contrastive,
        "summary": summaries,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    if summaries:
        make_figure(summaries, profiles, methods, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / (stem + '.json')}" + (" and the figure next to it" if summaries else ""))


if __name__ == "__main__":
    main()
