"""Does the front door's mediator carry the confounder? Fresh probes per adversary objective.

For each declared role and way of keeping the mediator ``m`` free of the auxiliary modality
(``auxiliary="view"``: nothing stripped; ``"confounder"`` with its defaults, without the
mediator's label loss, with gradient reversal, with the penalty per class), on the confounded
SCM (table and image renderings; train at confounding 0.9) this fits the front-door classifier
and reports, on held-out rows, what fresh linear probes read from ``m``
(:func:`skcausalmm.metrics.mediator_diagnostics`: the confounder's trace, the content, the
auxiliary input beyond the label) beside the accuracy at β = 0 and β = 1 in and out of
distribution (confounding 0). On the unconfounded bundled digits (pix predominant + fou) it
reports what each costs against late fusion. Last, for the confounder role's defaults, the
trace left in ``m`` against the training size, probed on the training rows and on held-out rows.

    python benchmarks/bench_mediator_leakage.py            # 3 seeds
    python benchmarks/bench_mediator_leakage.py --quick    # 1 seed, small data (CI)
    python benchmarks/bench_mediator_leakage.py --from-json benchmarks/results/mediator_leakage.json \
        --figure docs/figures/mediator_leakage.png          # redraw from a saved run
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm.datasets import load_multiple_features, make_confounded_multimodal
from skcausalmm.metrics import mediator_diagnostics

OBJECTIVES = {
    "view (nothing stripped)": dict(auxiliary="view"),
    "confounder (its defaults)": dict(auxiliary="confounder"),
    "confounder, unimodal_weight=0": dict(auxiliary="confounder", unimodal_weight=0.0),
    "confounder, reversal": dict(auxiliary="confounder", adversary_objective="reversal"),
    "confounder, per class": dict(auxiliary="confounder", conditional_adversary=True),
}


def confounded_rows(rendering, n, epochs, seed):
    tr = make_confounded_multimodal(n, predominant=rendering, random_state=seed)
    te = make_confounded_multimodal(n, predominant=rendering, random_state=seed + 100)
    ood = make_confounded_multimodal(n, predominant=rendering, confounding=0.0, random_state=seed + 200)
    rows = []
    for name, params in OBJECTIVES.items():
        start = time.perf_counter()
        clf = FrontDoorMultimodalClassifier(predominant=rendering, max_epochs=epochs, random_state=seed, **params)
        clf.fit(tr.data, tr.target)
        probes = mediator_diagnostics(clf, te.data, te.target, variables={"trace": te.trace, "content": te.content})
        row = {"rendering": rendering, "objective": name, "seed": seed, "fit_s": time.perf_counter() - start}
        row.update({k: probes[k] for k in ("trace_accuracy", "trace_chance", "content_accuracy",
                                            "label_accuracy", "auxiliary_r2_given_label")})
        for beta in (0.0, 1.0):
            clf.set_params(beta=beta)
            row[f"beta{beta:g}_in"] = clf.score(te.data, te.target)
            row[f"beta{beta:g}_out"] = clf.score(ood.data, ood.target)
        rows.append(row)
        print(f"  {rendering:5s} seed {seed} {name:18s} trace {row['trace_accuracy']:.3f} content "
              f"{row['content_accuracy']:.3f} | β=0 {row['beta0_in']:.3f}/{row['beta0_out']:.3f} "
              f"β=1 {row['beta1_in']:.3f}/{row['beta1_out']:.3f} ({row['fit_s']:.1f} s)", flush=True)
    return rows


def size_rows(sizes, epochs, seed, objective="confounder (its defaults)"):
    """The trace left in m against the training size, probed on training rows and on held-out rows.

    The penalty is estimated on the training batches, so an encoder can meet it on the rows it
    trains on while new rows still show the trace: the gap between the two probes measures that.
    """
    te = make_confounded_multimodal(2000, predominant="table", random_state=seed + 100)
    rows = []
    for n in sizes:
        tr = make_confounded_multimodal(n, predominant="table", random_state=seed)
        clf = FrontDoorMultimodalClassifier(predominant="table", max_epochs=epochs, random_state=seed,
                                            **OBJECTIVES[objective]).fit(tr.data, tr.target)
        own = slice(0, min(n, 2000))
        on_train = mediator_diagnostics(clf, {k: v[own] for k, v in tr.data.items()}, tr.target[own],
                                        variables={"trace": tr.trace[own]})
        held_out = mediator_diagnostics(clf, te.data, te.target, variables={"trace": te.trace, "content": te.content})
        rows.append({"n_train": n, "seed": seed, "objective": objective,
                     "trace_on_training_rows": on_train["trace_accuracy"],
                     "trace_held_out": held_out["trace_accuracy"], "trace_chance": held_out["trace_chance"],
                     "content_held_out": held_out["content_accuracy"]})
        print(f"  table seed {seed} n={n} {objective}: trace on training rows {on_train['trace_accuracy']:.3f}, "
              f"held out {held_out['trace_accuracy']:.3f} (chance {held_out['trace_chance']:.3f})", flush=True)
    return rows


def real_rows(epochs, seed, n):
    data = load_multiple_features(views=["pix", "fou"])
    idx = np.arange(len(data.target))
    if n < len(idx):
        idx = train_test_split(idx, train_size=n, stratify=data.target, random_state=seed)[0]
    tr, te = train_test_split(idx, test_size=0.3, stratify=data.target[idx], random_state=seed)
    X = {k: v for k, v in data.data.items()}
    Xtr, Xte = ({k: v[i] for k, v in X.items()} for i in (tr, te))
    ytr, yte = data.target[tr], data.target[te]
    late = LateFusionClassifier(max_epochs=epochs, random_state=seed).fit(Xtr, ytr).score(Xte, yte)
    rows = []
    for name, params in OBJECTIVES.items():
        clf = FrontDoorMultimodalClassifier(predominant="pix", max_epochs=epochs, random_state=seed, beta=0.0, **params)
        acc = clf.fit(Xtr, ytr).score(Xte, yte)
        rows.append({"objective": name, "seed": seed, "beta0": acc, "late_fusion": late})
        print(f"  pix+fou seed {seed} {name:18s} β=0 {acc:.3f} (late fusion {late:.3f})", flush=True)
    return rows


def mean(rows, key, **where):
    values = [r[key] for r in rows if all(r[k] == v for k, v in where.items())]
    return float(np.mean(values)), float(np.std(values))


def table(conf, real, sizes=()):
    lines = []
    for rendering in sorted({r["rendering"] for r in conf}):
        lines += [f"\nConfounded SCM, {rendering} rendering (probes on held-out rows; trace chance "
                  f"{mean(conf, 'trace_chance', rendering=rendering)[0]:.2f}; β = 1 ceiling 0.475, β = 0 ceiling 0.670)",
                  "| objective | trace from m | content from m | label from m | aux beyond y (R²) "
                  "| β=0 in | β=0 out | β=1 in | β=1 out |", "|---|---|---|---|---|---|---|---|---|"]
        for name in OBJECTIVES:
            cells = [mean(conf, k, rendering=rendering, objective=name) for k in
                     ("trace_accuracy", "content_accuracy", "label_accuracy", "auxiliary_r2_given_label",
                      "beta0_in", "beta0_out", "beta1_in", "beta1_out")]
            lines.append(f"| {name} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in cells) + " |")
    if real:
        lines += ["\nUnconfounded digits, pix predominant + fou (70/30 split, β = 0)",
                  "| objective | front door | late fusion |", "|---|---|---|"]
        for name in OBJECTIVES:
            fd, lf = mean(real, "beta0", objective=name), mean(real, "late_fusion", objective=name)
            lines.append(f"| {name} | {fd[0]:.3f} ± {fd[1]:.3f} | {lf[0]:.3f} ± {lf[1]:.3f} |")
    if sizes:
        lines += [f"\nTrace left in m against the training size ({sizes[0]['objective']}, table rendering; "
                  f"target: held out ≤ chance + 0.05 = {mean(sizes, 'trace_chance')[0] + 0.05:.3f})",
                  "| training rows | trace, training rows | trace, held-out rows | content, held-out rows |",
                  "|---|---|---|---|"]
        for n in sorted({r["n_train"] for r in sizes}):
            cells = [mean(sizes, k, n_train=n) for k in ("trace_on_training_rows", "trace_held_out", "content_held_out")]
            lines.append(f"| {n} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in cells) + " |")
    return "\n".join(lines)


def figure(conf, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    renderings = sorted({r["rendering"] for r in conf})
    fig, axes = plt.subplots(1, len(renderings), figsize=(4.8 * len(renderings), 3.4), squeeze=False)
    names = list(OBJECTIVES)
    x = np.arange(len(names))
    for ax, rendering in zip(axes[0], renderings):
        for offset, key, label in ((-0.2, "trace_accuracy", "trace from m"), (0.0, "content_accuracy", "content from m"),
                                   (0.2, "beta1_out", "β=1 accuracy, out of distribution")):
            ax.bar(x + offset, [mean(conf, key, rendering=rendering, objective=n)[0] for n in names], 0.2, label=label)
        ax.axhline(mean(conf, "trace_chance", rendering=rendering)[0], color="grey", ls=":", lw=1, label="chance")
        ax.axhline(0.475, color="black", ls="--", lw=1, label="β=1 ceiling")
        ax.set_xticks(x, names, rotation=15, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{rendering} rendering")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, small data, few epochs (CI smoke run)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--figure", type=Path, default=None, help="where to write the PNG")
    parser.add_argument("--from-json", type=Path, default=None, help="redraw the table and figure from a saved run")
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        print(table(saved["confounded"], saved["real"], saved.get("sizes", [])))
        figure(saved["confounded"], args.figure or args.from_json.with_suffix(".png"))
        return
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    seeds = 1 if args.quick else args.seeds
    n, epochs = (400, 3) if args.quick else (2000, None)
    fd_epochs = epochs or 40
    start = time.perf_counter()
    conf, real, sizes = [], [], []
    for seed in range(seeds):
        for rendering in (("table",) if args.quick else ("table", "image")):
            conf += confounded_rows(rendering, n, fd_epochs, seed)
        if not args.quick:
            real += real_rows(30, seed, 2000)
        sizes += size_rows((400, 800) if args.quick else (2000, 8000), fd_epochs, seed)
    print(table(conf, real, sizes))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (out / f"mediator_leakage{suffix}.json").write_text(json.dumps({"confounded": conf, "real": real, "sizes": sizes}, indent=1))
    fig_path = args.figure or out / f"mediator_leakage{suffix}.png"
    figure(conf, fig_path)
    print(f"total {time.perf_counter() - start:.0f} s; wrote {out / f'mediator_leakage{suffix}.json'} and {fig_path}")


if __name__ == "__main__":
    main()
