"""Debiasing benchmark: CausalInfoMinClassifier (TE-D, ATE-D) against late fusion and friends, over a family of shortcuts.

Run from the repository root::

    python benchmarks/bench_debias.py                # the family, 3 seeds, 20 epochs (about 40 min on 2 cores)
    python benchmarks/bench_debias.py --seeds 1      # one seed
    python benchmarks/bench_debias.py --quick        # smoke run (1 seed, 2 epochs, two settings; < 2 min)

Prints one table per setting and a summary, and writes ``benchmarks/results/debias.json`` and
``benchmarks/results/debias.png`` (``debias_quick.*`` with ``--quick``; ``--figure PATH`` also
saves a small copy of the figure there, e.g. ``docs/figures/infomin_debias.png``).

Settings (``--settings``, comma-separated):

* ``modality@p`` (``make_shortcut_multimodal``): the bundled digits' ``pix`` image and ``fou``
  table plus a ``shortcut`` modality (a noisy one-hot of a label that agrees with the digit
  with probability ``p`` in training and in the in-distribution test set, and is independent
  of it in the out-of-distribution test set); ``p`` in 0.8, 0.9, 0.95, 0.99 by default;
* ``patch@p``: the same agreement, the shortcut drawn as a bright 2x2 patch at a
  class-specific position on the ``pix`` image's border (no extra modality);
* ``none``: ``pix`` and ``fou`` with no shortcut at all (debiasing should then cost nothing);
* ``confounded`` (``make_confounded_multimodal``, image predominant): trained at confounding
  0.9, tested at 0.9 (in distribution) and 0.0 (out of distribution);
* ``digits@p`` and ``digits-none`` (not in the default family: data the defaults were not
  chosen on): scikit-learn's 8x8 digits as an image plus its row and column intensity
  profiles, with a shortcut modality of agreement ``p``, or none.

Methods: late fusion; TE-D (its debiased head); ATE-D with its defaults (the shortcut modality
found from the first stage); ATE-D told the spurious modality (``modality`` settings only);
OGM-GE, MMPareto, MLA; a logistic regression on the concatenated, standardised views; an oracle
late fusion trained without the shortcut (without the ``shortcut`` modality; for the patch, on
training images whose patch is independent of the label; on the confounded data, at
confounding 0); and, with ``--methods``, the front-door classifier with β by CV. Every model
uses its defaults but ``max_epochs``. Reported per method: in- and out-of-distribution
accuracy, spurious sufficiency (``skcausalmm.metrics.spurious_sufficiency`` on the
in-distribution test set: the share of predictions kept when only the spurious evidence is
kept, the rest at its mean) and fit time.
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
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
    "ATE-D",
    "ATE-D (told the modality)",
    "OGM-GE",
    "MMPareto",
    "MLA",
    "LogisticRegression",
    "FrontDoor (β by CV)",
    "Oracle (no shortcut)",
]
DEFAULT_METHODS = [m for m in ORDER if m != "FrontDoor (β by CV)"]
FAMILY = "none,modality@0.8,modality@0.9,modality@0.95,modality@0.99,patch@0.8,patch@0.9,patch@0.95,patch@0.99,confounded"


def _mean_rows(X, keep=()):
    """X with every modality not in ``keep`` replaced by its mean over the samples."""
    return {k: (v if k in keep else np.repeat(v.mean(axis=0, keepdims=True), len(v), axis=0)) for k, v in X.items()}


def _keep_border(image_key):
    """Keep only the 2-pixel border of ``image_key`` (where the patches and traces are); the rest at its mean."""

    def keep(X):
        out = _mean_rows(X)
        image = np.array(X[image_key], copy=True)
        inner = np.zeros(image.shape[-2:], dtype=bool)
        inner[2:-2, 2:-2] = True
        image[..., inner] = X[image_key].mean(axis=0)[..., inner]
        out[image_key] = image
        return out

    return keep


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


class _ConcatLogistic:
    """scikit-learn's logistic regression on the flattened, standardised, concatenated views."""

    def __init__(self, seed):
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))

    @staticmethod
    def _table(X):
        return np.concatenate([np.asarray(v, dtype=np.float64).reshape(len(v), -1) for v in X.values()], axis=1)

    def fit(self, X, y):
        self.model.fit(self._table(X), y)
        return self

    def predict(self, X):
        return self.model.predict(self._table(X))

    def predict_proba(self, X):
        return self.model.predict_proba(self._table(X))

    @property
    def classes_(self):
        return self.model.classes_


def _probe(clf, train, test, target, seed):
    """Accuracy on ``test`` of a logistic regression fitted on the training codes to predict ``target``."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    probe.fit(clf.confounder_transform(train.data), train[target])
    return float(np.mean(probe.predict(clf.confounder_transform(test.data)) == test[target]))


def _sklearn_digits(p, seed):
    """Confirmation data nobody tuned on: scikit-learn's 8x8 digits as an image plus its row and
    column intensity profiles, and (``p`` not None) a shortcut modality (a one-hot of a label
    that agrees with the digit with probability ``p`` in training and in distribution, is
    independent of it out of distribution, plus N(0, 0.1) noise); 70/30 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.utils import Bunch

    digits = load_digits()
    images = digits.images.astype(np.float32)
    views = {"image": images[:, None], "profiles": np.concatenate([images.sum(1), images.sum(2)], axis=1)}
    rng = np.random.RandomState(seed)
    train_idx, test_idx = train_test_split(np.arange(len(digits.target)), test_size=0.3, stratify=digits.target,
                                           random_state=seed)

    def part(idx, agreement):
        y = digits.target[idx]
        data = {k: v[idx] for k, v in views.items()}
        out = Bunch(data=data, target=y)
        if p is not None:
            s = np.where(rng.uniform(size=len(y)) < agreement, y, (y + rng.randint(1, 10, len(y))) % 10)
            data["shortcut"] = (np.eye(10)[s] + 0.1 * rng.standard_normal((len(y), 10))).astype(np.float32)
            out.shortcut = s
        return out

    train, test_id = part(train_idx, p), part(test_idx, p)
    test_ood = part(test_idx, 0.1)
    test_ood.data = {**test_ood.data, **{k: v for k, v in test_id.data.items() if k != "shortcut"}}
    if p is None:
        return train, test_id, test_ood, None, None, None

    def view(X):
        return {k: v for k, v in X.items() if k != "shortcut"}

    def spurious(X):
        return _mean_rows(X, keep=("shortcut",))

    return train, test_id, test_ood, spurious, "shortcut", (view(train.data), train.target, view)


def load_setting(setting, seed, cfg):
    """``(train, test_id, test_ood, spurious, told, oracle)`` of one setting and seed.

    ``spurious`` keeps only the spurious evidence (None: there is none); ``told`` is the
    spurious modality (None: there is none); ``oracle`` is ``(X, y, view)``: what the oracle
    trains on and how it sees a test set.
    """
    kind, _, p = setting.partition("@")
    if kind in ("modality", "patch"):
        p = float(p)
        d = make_shortcut_multimodal(views=["pix", "fou"], shortcut=kind, p_train=p, random_state=seed)
        if kind == "modality":
            def view(X):
                return {k: v for k, v in X.items() if k != "shortcut"}

            oracle = (view(d.train.data), d.train.target, view)
            return d.train, d.test_id, d.test_ood, (lambda X: _mean_rows(X, keep=("shortcut",))), "shortcut", oracle
        # the same split and pixel noise, the patch independent of the digit
        clean = make_shortcut_multimodal(views=["pix", "fou"], shortcut="patch", p_train=0.1, random_state=seed)
        return d.train, d.test_id, d.test_ood, _keep_border("pix"), None, (clean.train.data, clean.train.target, None)
    if kind in ("digits", "digits-none"):
        return _sklearn_digits(None if kind == "digits-none" else float(p), seed)
    if kind == "none":
        d = make_shortcut_multimodal(views=["pix", "fou"], p_train=0.1, random_state=seed)
        parts = []
        for part in (d.train, d.test_id, d.test_ood):
            part = type(part)(**part)
            part.data = {k: v for k, v in part.data.items() if k != "shortcut"}
            parts.append(part)
        return parts[0], parts[1], parts[2], None, None, None
    if kind == "confounded":
        n_train, n_test = cfg["n_train"], cfg["n_test"]
        train = make_confounded_multimodal(n_train, predominant="image", random_state=seed)
        test_id = make_confounded_multimodal(n_test, predominant="image", random_state=1000 + seed)
        test_ood = make_confounded_multimodal(n_test, confounding=0.0, predominant="image", random_state=2000 + seed)
        clean = make_confounded_multimodal(n_train, confounding=0.0, predominant="image", random_state=seed)
        return train, test_id, test_ood, _keep_border("image"), None, (clean.data, clean.target, None)
    raise ValueError(f"unknown setting {setting!r}")


def run_setting(setting, seeds, cfg, methods):
    rows = {}
    for seed in seeds:
        t_seed = time.time()
        train, test_id, test_ood, spurious, told, oracle = load_setting(setting, seed, cfg)
        X, y = train.data, train.target
        common = dict(max_epochs=cfg["epochs"], random_state=seed, device="cpu")

        def record(method, clf, fit_s, view=None):
            view = view or (lambda X: X)
            rec = rows.setdefault(method, {"id": [], "ood": [], "kept": [], "fit_s": []})
            rec["id"].append(_score(clf, view(test_id.data), test_id.target))
            rec["ood"].append(_score(clf, view(test_ood.data), test_ood.target))
            kept = np.nan
            if spurious is not None and view(test_id.data).keys() == test_id.data.keys():
                kept = spurious_sufficiency(clf, test_id.data, test_id.target, spurious)["unchanged"]
            rec["kept"].append(kept)
            rec["fit_s"].append(fit_s)
            if hasattr(clf, "confounder_transform") and "shortcut" in test_ood:
                # a fresh probe on the confounder code, scored where the shortcut is independent of the digit
                for target, key in (("shortcut", "code_reads_shortcut"), ("target", "code_reads_digit")):
                    rec.setdefault(key, []).append(_probe(clf, train, test_ood, target, seed))

        def fit(clf, data=X, target=y):
            t0 = time.time()
            clf.fit(data, target)
            return clf, time.time() - t0

        for method in methods:
            if method == "LateFusion":
                record(method, *fit(LateFusionClassifier(**common)))
            elif method == "TE-D":
                record(method, *fit(CausalInfoMinClassifier(method="te", **common)))
            elif method == "ATE-D":
                clf, t = fit(CausalInfoMinClassifier(method="ate", **common))
                record(method, clf, t)
                rows[method].setdefault("found", []).append(list(clf.confounder_modalities_))
            elif method == "ATE-D (told the modality)":
                if told is not None:
                    record(method, *fit(CausalInfoMinClassifier(method="ate", confounder_modality=told, **common)))
            elif method == "OGM-GE":
                record(method, *fit(OGMGEClassifier(**common)))
            elif method == "MMPareto":
                record(method, *fit(MMParetoClassifier(**common)))
            elif method == "MLA":
                record(method, *fit(MLAClassifier(**common)))
            elif method == "LogisticRegression":
                record(method, *fit(_ConcatLogistic(seed)))
            elif method == "FrontDoor (β by CV)":
                fd = FrontDoorMultimodalClassifier(dictionary_size=cfg["dictionary_size"], **common)
                t0 = time.time()
                beta = _front_door_beta(fd, X, y, seed, cfg["cv_folds"])
                fd.set_params(beta=beta).fit(X, y)
                record(method, fd, time.time() - t0)
                rows[method].setdefault("beta", []).append(beta)
            elif method == "Oracle (no shortcut)":
                if oracle is not None:
                    data, target, view = oracle
                    clf, t = fit(LateFusionClassifier(**common), data, target)
                    record(method, clf, t, view=view)
            else:
                raise ValueError(method)
        print(f"  [{setting}] seed {seed} done in {time.time() - t_seed:.0f} s", flush=True)
    return rows


def _ms(values):
    values = np.asarray(values, dtype=float)
    if np.all(np.isnan(values)):
        return float("nan"), float("nan")
    return float(np.nanmean(values)), float(np.nanstd(values))


def summarise(rows):
    lf_id, lf_ood = np.asarray(rows["LateFusion"]["id"]), np.asarray(rows["LateFusion"]["ood"])
    lf_kept = np.asarray(rows["LateFusion"]["kept"], dtype=float)
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
            "kept": _ms(r["kept"]),
            "delta_kept_vs_latefusion": _ms(np.asarray(r["kept"], dtype=float) - lf_kept),
            "fit_s": _ms(r["fit_s"]),
        }
        for extra in ("beta", "found"):
            if extra in r:
                out[method][extra] = r[extra]
        for key in ("code_reads_shortcut", "code_reads_digit"):
            if key in r:
                out[method][key] = _ms(r[key])
    return out


def print_table(title, summary, n_seeds):
    print(f"\n{title} ({n_seeds} seed{'s' if n_seeds > 1 else ''}; mean ± sd; Δ paired vs LateFusion)")
    head = f"{'method':28s} {'in-dist':>13s} {'out-of-dist':>13s} {'ΔID':>7s} {'ΔOOD':>7s} {'kept':>6s} {'fit s':>6s}"
    print(head)
    print("-" * len(head))
    for method, s in summary.items():
        print(
            f"{method:28s} {s['id'][0]:6.3f}±{s['id'][1]:.3f}  {s['ood'][0]:6.3f}±{s['ood'][1]:.3f} "
            f"{s['delta_id_vs_latefusion'][0]:+7.3f} {s['delta_ood_vs_latefusion'][0]:+7.3f} "
            f"{s['kept'][0]:6.3f} {s['fit_s'][0]:6.1f}"
        )
    for method in ("TE-D", "ATE-D"):
        if "code_reads_shortcut" in summary.get(method, {}):
            print(f"{method} confounder code, fresh probe out of distribution: shortcut "
                  f"{summary[method]['code_reads_shortcut'][0]:.3f}, digit {summary[method]['code_reads_digit'][0]:.3f}")
    if "found" in summary.get("ATE-D", {}):
        print(f"ATE-D found (per seed): {summary['ATE-D']['found']}")


def targets(summaries):
    """The issue's targets per shortcut setting: one line each, 'met' or 'not met'."""
    lines = []
    for setting, s in summaries.items():
        if setting == "confounded" or "LateFusion" not in s:
            continue
        lf = s["LateFusion"]
        best_imb = max((s[m]["ood"][0] for m in ("OGM-GE", "MMPareto", "MLA") if m in s), default=np.nan)
        for method in ("TE-D", "ATE-D"):
            if method not in s:
                continue
            m = s[method]
            d_ood, d_id = m["ood"][0] - lf["ood"][0], m["id"][0] - lf["id"][0]
            ok = d_ood >= -0.01 and d_id >= -0.01
            lines.append(f"{setting:15s} {method:6s} ΔOOD {d_ood:+.3f} ΔID {d_id:+.3f}: "
                         f"{'met' if ok else 'NOT met'} (never worse than late fusion by more than 1 point)")
        if "@" in setting and float(setting.split("@")[1]) >= 0.9 and "ATE-D" in s:
            better = max(("TE-D", "ATE-D"), key=lambda k: s[k]["ood"][0] if k in s else -1)
            m = s[better]
            gain = m["ood"][0] - lf["ood"][0]
            ok = gain >= 0.05 and m["ood"][0] >= best_imb
            lines.append(f"{setting:15s} {better:6s} OOD gain {gain:+.3f}, best imbalance baseline {best_imb:.3f}: "
                         f"{'met' if ok else 'NOT met'} (≥ +5 points and ≥ the best imbalance baseline)")
            if not np.isnan(m["kept"][0]):
                ok = m["kept"][0] < lf["kept"][0]
                lines.append(f"{setting:15s} {better:6s} spurious sufficiency {m['kept'][0]:.3f} vs late fusion "
                             f"{lf['kept'][0]:.3f}: {'met' if ok else 'NOT met'}")
    return lines


def plot(summaries, path, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = {k: v for k, v in summaries.items() if k.startswith(("modality", "patch"))}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), squeeze=False)
    for ax, kind in zip(axes[0], ("modality", "patch")):
        settings = [k for k in family if k.startswith(kind)]
        if not settings:
            ax.set_visible(False)
            continue
        ps = [float(k.split("@")[1]) for k in settings]
        for method in ("Oracle (no shortcut)", "LateFusion", "TE-D", "ATE-D", "MLA", "MMPareto", "LogisticRegression"):
            if all(method in family[k] for k in settings):
                ood = [family[k][method]["ood"][0] for k in settings]
                err = [family[k][method]["ood"][1] for k in settings]
                style = dict(lw=2.5, ls="--", zorder=5) if method == "ATE-D" else dict(lw=1.2)
                ax.errorbar(ps, ood, yerr=err, marker="o", ms=4, capsize=2, label=method, **style)
        ax.set_xlabel("agreement of the shortcut with the label in training (p_train)")
        ax.set_ylabel("out-of-distribution accuracy")
        ax.set_title(f"shortcut as a {'modality' if kind == 'modality' else 'patch in the image'}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def markdown(summaries):
    """A summary table (out- / in-distribution accuracy per setting and method), then one table per setting."""
    methods = [m for m in ORDER if any(m in s for s in summaries.values()) and m != "ATE-D (told the modality)"]
    lines = ["| setting | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for setting, summary in summaries.items():
        cells = [f"{summary[m]['ood'][0]:.3f} / {summary[m]['id'][0]:.3f}" if m in summary else "" for m in methods]
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    lines.append("")
    for setting, summary in summaries.items():
        lines += [f"**{setting}**", "", "| method | in distribution | out of distribution | ΔID | ΔOOD | kept by the shortcut alone |",
                  "|---|---|---|---|---|---|"]
        for method, s in summary.items():
            kept = "" if np.isnan(s["kept"][0]) else f"{s['kept'][0]:.3f}"
            lines.append(f"| {method} | {s['id'][0]:.3f} ± {s['id'][1]:.3f} | {s['ood'][0]:.3f} ± {s['ood'][1]:.3f} | "
                         f"{s['delta_id_vs_latefusion'][0]:+.3f} | {s['delta_ood_vs_latefusion'][0]:+.3f} | {kept} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs, two settings")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of every model (default 20)")
    parser.add_argument("--settings", default=None, help=f"comma-separated settings (default {FAMILY})")
    parser.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    parser.add_argument("--figure", default=None, help="also save a small copy of the figure here")
    parser.add_argument("--from-json", default=None,
                        help="print the tables (as markdown) and redraw the figure from a saved run; trains nothing")
    parser.add_argument("--output", default=None,
                        help="JSON path (default benchmarks/results/debias.json, debias_quick.json with --quick)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        print(markdown(saved["summary"]))
        print("\n".join(saved.get("targets", [])))
        png = Path(args.from_json).with_suffix(".png")
        plot(saved["summary"], png, dpi=110)
        if args.figure:
            plot(saved["summary"], args.figure, dpi=72)
        return saved

    if args.quick:
        seeds = [0]
        cfg = dict(epochs=2, n_train=400, n_test=300, dictionary_size=64, cv_folds=2)
        settings = (args.settings or "none,modality@0.9,patch@0.9").split(",")
    else:
        seeds = list(range(args.seeds))
        cfg = dict(epochs=args.epochs, n_train=3000, n_test=2000, dictionary_size=500, cv_folds=3)
        settings = (args.settings or FAMILY).split(",")
    methods = DEFAULT_METHODS
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",")]
        unknown = [m for m in wanted if m not in ORDER]
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {ORDER}")
        methods = [m for m in ORDER if m in wanted]
    if "LateFusion" not in methods:
        methods = ["LateFusion"] + methods

    t0 = time.time()
    out = {"config": {**cfg, "seeds": seeds, "methods": methods, "settings": settings, "quick": args.quick},
           "results": {}, "summary": {}}
    for setting in [s.strip() for s in settings]:
        rows = run_setting(setting, seeds, cfg, methods)
        summary = summarise(rows)
        print_table(setting, summary, len(seeds))
        out["results"][setting] = rows
        out["summary"][setting] = summary
    out["targets"] = targets(out["summary"])
    print("\nTargets:")
    for line in out["targets"]:
        print("  " + line)
    out["elapsed_s"] = time.time() - t0
    print(f"\ntotal {out['elapsed_s']:.0f} s")

    path = Path(args.output or RESULTS / ("debias_quick.json" if args.quick else "debias.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    png = path.with_suffix(".png")
    plot(out["summary"], png, dpi=110)
    if args.figure:
        plot(out["summary"], args.figure, dpi=72)
    print(f"wrote {path} and {png}" + (f" and {args.figure}" if args.figure else ""))
    return out


if __name__ == "__main__":
    main()
