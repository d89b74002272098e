"""Choosing the front door's role and β with environments held out (LeaveOneGroupOut).

Training data come from environments of different confounding (0.9, 0.75, 0.6 by default;
the table rendering of the confounded SCM); the test set has none (confounding 0). For each
declared role of the auxiliary modality (``auxiliary="view"`` or ``"confounder"``),
``FrontDoorBetaSearchCV`` scores β ∈ {0, 0.5, 1} twice: with whole environments held out
(``LeaveOneGroupOut``) and with ordinary stratified 3-fold CV that mixes the environments.
Each scheme picks the (role, β) with the best mean held-out accuracy (what
``FrontDoorBetaSearchCV(roles=["view", "confounder"])`` does in one search); the table compares
what each picked with the best setting out of distribution (known here, not in practice).

    python benchmarks/bench_environments.py            # 3 seeds
    python benchmarks/bench_environments.py --quick    # 1 seed, small data (CI)
    python benchmarks/bench_environments.py --environments 0.9 0.5 0.1   # environments further apart
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold

from skcausalmm import FrontDoorMultimodalClassifier
from skcausalmm.datasets import make_confounded_multimodal
from skcausalmm.model_selection import FrontDoorBetaSearchCV

ENVIRONMENTS = (0.9, 0.75, 0.6)
BETAS = (0.0, 0.5, 1.0)
#: The declared roles of the auxiliary modality, chosen together with β
OBJECTIVES = {"view": dict(auxiliary="view"), "confounder": dict(auxiliary="confounder")}


def run_seed(seed, n_env, n_test, epochs, environments=ENVIRONMENTS):
    parts = [make_confounded_multimodal(n_env, confounding=c, predominant="table", random_state=seed * 10 + i)
             for i, c in enumerate(environments)]
    X = {k: np.concatenate([p.data[k] for p in parts]) for k in parts[0].data}
    y = np.concatenate([p.target for p in parts])
    groups = np.repeat(np.arange(len(environments)), n_env)
    test = make_confounded_multimodal(n_test, confounding=0.0, predominant="table", random_state=seed * 10 + 9)
    rows = []
    for name, params in OBJECTIVES.items():
        clf = FrontDoorMultimodalClassifier(predominant="table", max_epochs=epochs, random_state=seed, **params)
        logo = FrontDoorBetaSearchCV(clf, betas=BETAS, cv=LeaveOneGroupOut()).fit(X, y, groups=groups)
        iid = FrontDoorBetaSearchCV(clf, betas=BETAS, cv=StratifiedKFold(3, shuffle=True, random_state=seed),
                                    refit=False).fit(X, y)
        model = logo.best_estimator_
        for i, beta in enumerate(BETAS):
            model.set_params(beta=beta)
            rows.append({"seed": seed, "objective": name, "beta": beta,
                         "logo_cv": float(logo.cv_results_["mean_test_score"][i]),
                         "iid_cv": float(iid.cv_results_["mean_test_score"][i]),
                         "ood": float(model.score(test.data, test.target))})
    return rows


def summarize(rows):
    seeds = sorted({r["seed"] for r in rows})
    picks = []
    for seed in seeds:
        mine = [r for r in rows if r["seed"] == seed]
        best = max(mine, key=lambda r: r["ood"])
        logo = max(mine, key=lambda r: r["logo_cv"])
        iid = max(mine, key=lambda r: r["iid_cv"])
        picks.append({"seed": seed, "best": best, "logo": logo, "iid": iid})
    return picks


def table(rows, picks):
    lines = ["| role | β | held-out environments (LOGO) | mixed 3-fold CV | out of distribution |",
             "|---|---|---|---|---|"]
    for name in OBJECTIVES:
        for beta in BETAS:
            sel = [r for r in rows if r["objective"] == name and r["beta"] == beta]
            cell = [np.mean([r[k] for r in sel]) for k in ("logo_cv", "iid_cv", "ood")]
            lines.append(f"| {name} | {beta:g} | {cell[0]:.3f} | {cell[1]:.3f} | {cell[2]:.3f} |")
    lines += ["", "| seed | picked by LOGO (its OOD acc.) | picked by mixed CV (its OOD acc.) | best OOD setting |",
              "|---|---|---|---|"]
    for p in picks:
        fmt = lambda r: f"{r['objective']}, β={r['beta']:g} ({r['ood']:.3f})"  # noqa: E731
        lines.append(f"| {p['seed']} | {fmt(p['logo'])} | {fmt(p['iid'])} | {fmt(p['best'])} |")
    mean = lambda key: np.mean([p[key]["ood"] for p in picks])  # noqa: E731
    lines.append(f"\nmean OOD accuracy of the pick: LOGO {mean('logo'):.3f}, mixed CV {mean('iid'):.3f}, "
                 f"best setting {mean('best'):.3f}")
    return "\n".join(lines)


def figure(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for marker, name in zip("osD", OBJECTIVES):
        sel = [r for r in rows if r["objective"] == name]
        ax.scatter([r["logo_cv"] for r in sel], [r["ood"] for r in sel], marker=marker, label=f"{name} (LOGO)")
        ax.scatter([r["iid_cv"] for r in sel], [r["ood"] for r in sel], marker=marker, facecolors="none",
                   edgecolors="grey", label=f"{name} (mixed CV)")
    ax.set_xlabel("held-out accuracy used for the choice")
    ax.set_ylabel("accuracy out of distribution")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--environments", type=float, nargs="+", default=list(ENVIRONMENTS),
                        help="confounding of each training environment")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    seeds, n_env, n_test, epochs = (1, 150, 300, 2) if args.quick else (args.seeds, 800, 2000, 40)
    start = time.perf_counter()
    rows = []
    for seed in range(seeds):
        rows += run_seed(seed, n_env, n_test, epochs, tuple(args.environments))
        print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    picks = summarize(rows)
    print(table(rows, picks))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    suffix = ("_quick" if args.quick else "") + ("" if tuple(args.environments) == ENVIRONMENTS else
                                                  "_" + "-".join(f"{c:g}" for c in args.environments))
    (out / f"environments{suffix}.json").write_text(json.dumps({"rows": rows, "picks": picks}, indent=1))
    fig_path = args.figure or out / f"environments{suffix}.png"
    figure(rows, fig_path)
    print(f"total {time.perf_counter() - start:.0f} s; wrote {out / f'environments{suffix}.json'} and {fig_path}")


if __name__ == "__main__":
    main()
