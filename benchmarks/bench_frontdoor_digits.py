"""Benchmark of FrontDoorMultimodalClassifier on the confounded SCM with real digits.

Run from the repository root::

    python benchmarks/bench_frontdoor_digits.py            # full: 3 seeds, 4000 training rows
    python benchmarks/bench_frontdoor_digits.py --quick    # smoke run (1 seed, 5 epochs, 600 rows)
    python benchmarks/bench_frontdoor_digits.py --figure docs/figures/frontdoor_digits.png
    python benchmarks/bench_frontdoor_digits.py --n-train 8000 --objective decorrelation
    python benchmarks/bench_frontdoor_digits.py --from-json benchmarks/results/frontdoor_digits.json \
        --figure docs/figures/frontdoor_digits.png         # re-print and redraw, no training

Data: :func:`skcausalmm.datasets.make_confounded_digits` (content = a real bundled ``pix``
digit, trace of the hidden confounder = a 2x2 patch in the image frame). Training at
confounding 0.9 on the "train" images; two test sets on the disjoint "test" images, at
confounding 0.9 (in distribution) and 0.0 (out of distribution, the trace is then independent
of the confounder).

Methods: the front-door classifier (``predominant="image"``, defaults otherwise) at
β = 0, 0.5, 1 (one fit: ``set_params(beta=...)`` changes the prediction only) and at the β
chosen by :class:`~skcausalmm.model_selection.FrontDoorBetaSearchCV` (``cv=3``, applied to the
same fit); late fusion of the traced image and the auxiliary table; references trained on the
clean image (no trace): clean image only, clean image + auxiliary (the oracle of β = 0), and
auxiliary only. Reported: accuracy in / out of distribution, the mean total-variation distance
of ``predict_proba`` to the true ``P(y | do(x_p), a)`` out of distribution, and
:func:`~skcausalmm.metrics.mediator_diagnostics` of the front door's mediator on held-out rows
(trace and content decodability). The analytic ceilings assume a perfectly readable content;
the *content readability* (accuracy of a network trained on clean images to predict the
content, on the held-out images) gives the ceilings at that readability too.

Prints a table and writes ``benchmarks/results/frontdoor_digits.json`` and
``benchmarks/results/frontdoor_digits.png`` (or the ``--figure`` path).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from skcausalmm import FrontDoorMultimodalClassifier, LateFusionClassifier
from skcausalmm.datasets import make_confounded_digits
from skcausalmm.datasets._confounded import _bayes_rule, _scm_joint
from skcausalmm.metrics import mediator_diagnostics
from skcausalmm.model_selection import FrontDoorBetaSearchCV

RESULTS = Path(__file__).parent / "results"
PARAMS = dict(confounder_effect=0.7, auxiliary_quality=0.8, n_classes=4)
CONFOUNDING_TRAIN, CONFOUNDING_OOD = 0.9, 0.0
BETAS = (0.0, 0.5, 1.0)
SEARCH_BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: the front door's settings (``--role``): the declared role of the auxiliary modality
ROLES = {"confounder": dict(auxiliary="confounder"), "view": dict(auxiliary="view")}
CEILING_NAMES = {"content_trace_auxiliary": "(C,T,A)", "content_auxiliary": "(C,A)", "content": "C"}


def _tv(proba, truth):
    """Mean total-variation distance between predicted and true distributions."""
    return float(0.5 * np.abs(proba - truth).sum(axis=1).mean())


def ceilings_at_readability(readability, confounding_train, confounding_test, confounder_effect,
                            auxiliary_quality, n_classes):
    """Bayes accuracies of the three predictors when the content is read with accuracy ``readability``.

    The reading ``Ĉ`` equals ``C`` with probability ``readability`` and is uniform over the
    other classes otherwise; the predictors see ``Ĉ`` in place of ``C`` (exact enumeration,
    rules fitted at ``confounding_train``). ``readability=1`` gives ``confounded_ceilings``.
    """
    k = n_classes
    off = (1.0 - readability) / (k - 1)
    confusion = np.full((k, k), off) + (readability - off) * np.eye(k)  # [c, ĉ]
    joints = [np.einsum("cutay,cd->dutay", _scm_joint(conf, confounder_effect, auxiliary_quality, k), confusion)
              for conf in (confounding_train, confounding_test)]
    out = {}
    for name, features in (("content_trace_auxiliary", "cta"), ("content_auxiliary", "ca"), ("content", "c")):
        rule = _bayes_rule(joints[0], features)
        out[name] = {key: float(np.sum(np.einsum(f"cutay->{features}y", joint) * rule))
                     for key, joint in zip(("in_distribution", "out_of_distribution"), joints)}
    return out


def run_seed(seed, cfg):
    t0 = time.time()
    train = make_confounded_digits(cfg["n_train"], CONFOUNDING_TRAIN, images="train", random_state=seed,
                                   ood_confounding=CONFOUNDING_OOD, **PARAMS)
    test_in = make_confounded_digits(cfg["n_test"], CONFOUNDING_TRAIN, images="test", random_state=1000 + seed,
                                     return_truth=True, **PARAMS)
    test_out = make_confounded_digits(cfg["n_test"], CONFOUNDING_OOD, images="test", random_state=2000 + seed,
                                      return_truth=True, **PARAMS)
    truth = test_out.interventional
    common = dict(max_epochs=cfg["epochs"], random_state=seed)
    res = {"accuracy_in": {}, "accuracy_out": {}, "tv_out": {}, "fit_time_s": {}}

    def record(name, model, view):
        res["accuracy_in"][name] = float(model.score(view(test_in), test_in.target))
        res["accuracy_out"][name] = float(model.score(view(test_out), test_out.target))
        res["tv_out"][name] = _tv(model.predict_proba(view(test_out)), truth)

    # the front door: one fit, β changed at prediction time
    start = time.time()
    fd_params = {**common, **cfg.get("frontdoor", {})}
    fd = FrontDoorMultimodalClassifier(predominant="image", **fd_params).fit(train.data, train.target)
    res["fit_time_s"]["FrontDoor"] = time.time() - start
    # the decorrelation weight each epoch used (adaptive_adversary); None where no schedule ran
    res["decor_weight"] = [row.get("decor_weight") for row in fd.history_]
    for beta in BETAS:
        fd.set_params(beta=beta)
        record(f"FrontDoor β={beta:g}", fd, lambda d: d.data)
    start = time.time()
    search = FrontDoorBetaSearchCV(FrontDoorMultimodalClassifier(predominant="image", **fd_params),
                                   betas=SEARCH_BETAS, cv=3, refit=False).fit(train.data, train.target)
    res["fit_time_s"]["FrontDoorBetaSearchCV"] = time.time() - start
    res["chosen_beta"] = search.best_beta_
    res["cv_scores"] = dict(zip(map(str, SEARCH_BETAS), map(float, search.cv_results_["mean_test_score"])))
    fd.set_params(beta=search.best_beta_)
    record("FrontDoor β by CV", fd, lambda d: d.data)

    # diagnostics of the mediator on held-out rows (both test sets; out of distribution the
    # trace is independent of the label, the content and the auxiliary label)
    variables = lambda d: {"trace": d.trace, "content": d.content}  # noqa: E731
    res["diagnostics_out"] = mediator_diagnostics(fd, test_out.data, test_out.target, variables=variables(test_out))
    res["diagnostics_in"] = mediator_diagnostics(fd, test_in.data, test_in.target, variables=variables(test_in))

    views = {
        "LateFusion": lambda d: d.data,
        "clean image only": lambda d: {"image": d.clean_image},
        "clean image + auxiliary (oracle)": lambda d: {"image": d.clean_image, "auxiliary": d.data["auxiliary"]},
        "auxiliary only": lambda d: {"auxiliary": d.data["auxiliary"]},
    }
    for name, view in views.items():
        start = time.time()
        model = LateFusionClassifier(**common).fit(view(train), train.target)
        res["fit_time_s"][name] = time.time() - start
        record(name, model, view)

    # content readability: a network of the same kind trained on clean images to predict C
    reader = LateFusionClassifier(**common).fit({"image": train.clean_image}, train.content)
    res["content_readability"] = float(np.mean(
        [reader.score({"image": d.clean_image}, d.content) for d in (test_in, test_out)]))
    res["ceilings"] = train.ceilings
    res["ceilings_at_readability"] = ceilings_at_readability(
        res["content_readability"], CONFOUNDING_TRAIN, CONFOUNDING_OOD, **PARAMS)
    res["wall_time_s"] = time.time() - t0
    weights = [w for w in res["decor_weight"] if w is not None]
    reached = f", decorrelation weight {weights[0]:g} → {weights[-1]:g}" if weights else ""
    print(f"  seed {seed}: {res['wall_time_s']:.0f} s (β chosen {search.best_beta_}, "
          f"content readability {res['content_readability']:.3f}{reached})", flush=True)
    return res


def _ms(values, digits=3):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def summarise(runs):
    methods = list(runs[0]["accuracy_in"])
    table = {m: {key: [r[key][m] for r in runs] for key in ("accuracy_in", "accuracy_out", "tv_out")}
             for m in methods}
    diag = {}
    for split in ("diagnostics_in", "diagnostics_out"):
        diag[split] = {k: [r[split][k] for r in runs] for k in runs[0][split]}
    readability = [r["content_readability"] for r in runs]
    at_r = {name: {key: [r["ceilings_at_readability"][name][key] for r in runs]
                   for key in ("in_distribution", "out_of_distribution")} for name in CEILING_NAMES}
    return dict(table=table, diagnostics=diag, content_readability=readability, ceilings_at_readability=at_r,
                ceilings=runs[0]["ceilings"], chosen_beta=[r["chosen_beta"] for r in runs])


def print_summary(s, seeds, confounder_effect):
    print(f"\nConfounded real digits (K=4, e={confounder_effect:g}, q=0.8; train confounding {CONFOUNDING_TRAIN}, "
          f"OOD {CONFOUNDING_OOD}); seeds {seeds} (mean ± std)")
    print("TV: mean total-variation distance of predict_proba to the true P(y | do(x_p), a), out of distribution")
    ref = {"FrontDoor β=0": "content_auxiliary", "FrontDoor β=1": "content", "LateFusion": "content_trace_auxiliary",
           "clean image only": "content", "clean image + auxiliary (oracle)": "content_auxiliary"}
    print(f"| {'method':34s} | {'accuracy in':>13s} | {'accuracy OOD':>13s} | {'TV OOD':>13s} | {'ceiling (r=1)':>13s} "
          f"| {'ceiling (r)':>13s} |")
    print("|" + "|".join("-" * (w + 2) for w in (34, 13, 13, 13, 13, 13)) + "|")
    for name, v in s["table"].items():
        key = ref.get(name)
        c1 = (f"{s['ceilings'][key]['in_distribution']:.3f}/{s['ceilings'][key]['out_of_distribution']:.3f}"
              if key else "")
        cr = (f"{np.mean(s['ceilings_at_readability'][key]['in_distribution']):.3f}/"
              f"{np.mean(s['ceilings_at_readability'][key]['out_of_distribution']):.3f}" if key else "")
        print(f"| {name:34s} | {_ms(v['accuracy_in']):>13s} | {_ms(v['accuracy_out']):>13s} | "
              f"{_ms(v['tv_out']):>13s} | {c1:>13s} | {cr:>13s} |")
    print(f"β chosen by FrontDoorBetaSearchCV (cv=3) per seed: {s['chosen_beta']}")
    print(f"content readability r (network on clean images -> C, held-out images): {_ms(s['content_readability'])}")
    print("\nmediator_diagnostics of the front door's m on held-out rows (fresh linear probes, 5-fold):")
    print(f"| {'probe':24s} | {'in distribution':>15s} | {'out of distribution':>19s} |")
    print(f"|{'-' * 26}|{'-' * 17}|{'-' * 21}|")
    for key in s["diagnostics"]["diagnostics_out"]:
        print(f"| {key:24s} | {_ms(s['diagnostics']['diagnostics_in'][key]):>15s} | "
              f"{_ms(s['diagnostics']['diagnostics_out'][key]):>19s} |")


def plot(s, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(s["table"])
    short = [n.replace("FrontDoor ", "FD ").replace(" (oracle)", "").replace("clean image", "clean img")
             .replace(" + auxiliary", " + aux").replace("auxiliary only", "aux only") for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for offset, key, label in ((-0.2, "accuracy_in", "in distribution (conf. 0.9)"),
                               (0.2, "accuracy_out", "out of distribution (conf. 0)")):
        means = [np.mean(s["table"][n][key]) for n in names]
        stds = [np.std(s["table"][n][key]) for n in names]
        ax.bar(x + offset, means, 0.4, yerr=stds, capsize=2, label=label)
    colors = {"content_trace_auxiliary": "grey", "content_auxiliary": "green", "content": "red"}
    for key, color in colors.items():
        c = s["ceilings"][key]
        ax.axhline(c["out_of_distribution"], color=color, lw=0.9,
                   label=f"{CEILING_NAMES[key]} ceiling OOD ({c['out_of_distribution']:.2f})")
        if key == "content_trace_auxiliary":
            ax.axhline(c["in_distribution"], color=color, lw=0.9, ls=":",
                       label=f"{CEILING_NAMES[key]} ceiling in distribution ({c['in_distribution']:.2f})")
        else:
            r = np.mean(s["ceilings_at_readability"][key]["out_of_distribution"])
            ax.axhline(r, color=color, lw=0.9, ls="--", label=f"{CEILING_NAMES[key]} at readability ({r:.2f})")
    ax.set_xticks(x, short, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("confounded real digits: front door vs references", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, ..., first-seed + seeds - 1")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 5 epochs, 600 training rows")
    parser.add_argument("--n-train", type=int, default=None, help="training rows (default 4000, quick 600)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every network (default 40, quick 5)")
    parser.add_argument("--confounder-effect", type=float, default=0.7,
                        help="P(Y = U) (default 0.7, as bench_frontdoor.py; 0.4 makes the content matter)")
    parser.add_argument("--params", type=json.loads, default={},
                        help='extra front-door parameters as JSON, e.g. \'{"adversary_weight": 10}\'')
    parser.add_argument("--role", choices=sorted(ROLES), default="confounder",
                        help="the declared role of the auxiliary modality (the data hold a confounder: 'confounder')")
    parser.add_argument("--figure", type=Path, default=None, help="PNG path (default: next to the JSON)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="re-print the table and redraw the figure from a results JSON (no training)")
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        print_summary(saved["summary"], saved["seeds"], saved["config"].get("scm", PARAMS)["confounder_effect"])
        figure = args.figure or args.from_json.with_suffix(".png")
        plot(saved["summary"], figure)
        print(f"wrote {figure}")
        return
    PARAMS["confounder_effect"] = args.confounder_effect
    torch.set_num_threads(1)  # shared 2-core machine: one thread per process
    if args.quick:
        cfg = dict(n_train=600, n_test=400, epochs=5)
        seeds = [0]
    else:
        cfg = dict(n_train=4000, n_test=2000, epochs=40)
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.n_train is not None:
        cfg["n_train"] = args.n_train
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    cfg["scm"] = dict(PARAMS)
    cfg["frontdoor"] = {**ROLES[args.role], **args.params}
    print("configuration:", json.dumps(cfg), "seeds:", seeds, flush=True)
    t_start = time.time()
    runs = [run_seed(seed, cfg) for seed in seeds]
    summary = summarise(runs)
    print_summary(summary, seeds, PARAMS["confounder_effect"])
    wall = time.time() - t_start
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "frontdoor_digits" + ("_quick" if args.quick else "")
    stem += "" if args.confounder_effect == 0.7 else f"_e{args.confounder_effect:g}"
    stem += "" if args.n_train is None else f"_n{args.n_train}"
    stem += "" if args.role == "confounder" else f"_{args.role}"
    stem += "" if not args.params else "_" + "_".join(f"{k}{v}" for k, v in sorted(args.params.items()))
    stem += "" if args.first_seed == 0 else f"_from{args.first_seed}"
    out = RESULTS / f"{stem}.json"
    figure = args.figure or out.with_suffix(".png")
    out.write_text(json.dumps(dict(config=cfg, seeds=seeds, summary=summary, runs=runs, wall_time_s=wall,
                                   torch=torch.__version__), indent=1, default=float))
    plot(summary, figure)
    print(f"\nwall time {wall:.0f} s; wrote {out} and {figure}")


if __name__ == "__main__":
    main()
