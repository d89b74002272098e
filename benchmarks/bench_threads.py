"""Issue 29's thread study in one run: the thread policy, what a fit costs against scikit-learn, and
whether results depend on the thread count.

For every estimator with its defaults (the front door with ``predominant`` named), on three data
sets (the bundled Multiple Features views ``pix + fou``, an image and a table, and ``fou + kar``,
two tables; scikit-learn's 8 x 8 digits cut into two tables, ``digits``), on a stratified 70/30
split, fit and predict are timed under each torch thread setting:

* ``auto``: the package's default policy (``skcausalmm.set_config(torch_threads="auto")``);
* every fixed count from 1 to the machine's cores (at most 4), through
  ``skcausalmm.config_context(torch_threads=k)``;

on a quiet machine and with a concurrent busy process (``--busy`` processes spinning on a core,
"another job running"). Beside them, logistic regression and histogram gradient boosting on the
concatenated views (standardised), timed with their default threads and with one thread
(threadpoolctl). The table reports accuracy, fit and predict seconds, and the policy's time
relative to the best fixed count (target: within 1.2x, quiet and loaded). From the same fits,
the predictions at 1 and 2 threads are compared (largest probability difference and accuracy
difference), and the policy's against one thread's (identical where it picks one thread).

Also the README's example fit as written (``--parts readme``), under each setting, quiet and
loaded: the times the README states come from it.

Read the ratios, not the seconds: they are one run's on whatever machine ran them.

    python benchmarks/bench_threads.py              # everything (about 40 minutes on 2 cores)
    python benchmarks/bench_threads.py --quick      # smoke run (CI): two estimators, two epochs, one data set
    python benchmarks/bench_threads.py --parts readme   # only the README's example fit, quiet and loaded
    python benchmarks/bench_threads.py --parts study --sets "fou + kar,digits" --repeats 3 --tag _tables
    python benchmarks/bench_threads.py --from-json benchmarks/results/threads.json   # table + figure only

Results go to ``benchmarks/results/threads[_quick].json`` and a figure beside it (or ``--figure``).
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skcausalmm
from skcausalmm import ContrastiveICA, LateFusionClassifier
from skcausalmm.datasets import load_multiple_features

sys.path.insert(0, str(Path(__file__).parent))
from bench_training_cost import estimators as training_cost_estimators  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TARGET = 1.2


def datasets(quick):
    sets = {}
    for views in (["fou", "kar"], ["pix", "fou"]):
        X, y = load_multiple_features(views=views, return_X_y=True)
        sets[" + ".join(views)] = (dict(X), y)
    if quick:
        return {"fou + kar": sets["fou + kar"]}
    X, y = load_digits(return_X_y=True)
    return {"fou + kar": sets["fou + kar"], "digits": ({"top": X[:, :32], "bottom": X[:, 32:]}, y),
            "pix + fou": sets["pix + fou"]}


def estimators(first, quick):
    """``bench_training_cost``'s classifiers (the front door in its default role) and ContrastiveICA."""
    makers = {name.replace(" (TE-D)", ""): make for name, make in training_cost_estimators(first).items()
              if name != "FrontDoor (confounder)"}
    makers["ContrastiveICA"] = lambda **kw: ContrastiveICA(**kw)
    if quick:
        return {name: makers[name] for name in ("LateFusion", "FrontDoor")}
    return makers


def baselines():
    return {
        "logistic regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "gradient boosting": lambda: HistGradientBoostingClassifier(random_state=0),
    }


@contextlib.contextmanager
def busy(n):
    """``n`` processes spinning on a core each, for the block ("another job running")."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def flat(X):
    return np.hstack([np.asarray(v).reshape(len(v), -1) for v in X.values()])


def run_estimator(make, X_train, y_train, X_test, y_test, setting, quick, repeats=1):
    """Fit and predict ``repeats`` times (same seed); the median seconds, the accuracy and the last output."""
    kw = {"random_state": 0, **({"max_epochs": 2} if quick else {})}
    fits, predicts = [], []
    for _ in range(repeats):
        with warnings.catch_warnings(), skcausalmm.config_context(torch_threads=setting):
            warnings.simplefilter("ignore")
            est = make(**kw)
            start = time.perf_counter()
            est.fit(X_train, y_train)
            fits.append(time.perf_counter() - start)
            start = time.perf_counter()
            if hasattr(est, "predict_proba"):
                out = est.predict_proba(X_test)
            else:
                out = est.transform(X_test)
            predicts.append(time.perf_counter() - start)
    acc = float(np.mean(est.classes_[out.argmax(1)] == y_test)) if hasattr(est, "classes_") else None
    return {"fit_s": float(np.median(fits)), "predict_s": float(np.median(predicts)), "accuracy": acc,
            "fit_runs_s": fits}, out


def run_baseline(make, X_train, y_train, X_test, y_test, limit):
    with threadpool_limits(limits=limit):
        est = make()
        start = time.perf_counter()
        est.fit(flat(X_train), y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        pred = est.predict(flat(X_test))
        predict_s = time.perf_counter() - start
    return {"fit_s": fit_s, "predict_s": predict_s, "accuracy": float(np.mean(pred == y_test))}


def run(args, save=None):
    """The study: every estimator and baseline, on every data set, under every setting, quiet and loaded.

    ``save(result)``, if given, is called after each data set with the results so far.
    """
    counts = list(range(1, min(os.cpu_count() or 1, 4) + 1))
    settings = ["auto", *counts]
    rows, agreement = [], []
    result = {"cores": os.cpu_count(), "busy": args.busy, "repeats": args.repeats, "torch_threads_at_start": torch.get_num_threads(),
              "small_network_flops": skcausalmm._core.threads.SMALL_NETWORK_FLOPS, "quick": args.quick,
              "rows": rows, "agreement": agreement}
    for set_name, (X, y) in datasets(args.quick).items():
        if args.sets and set_name not in args.sets.split(","):
            continue
        idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=0)
        X_train = {k: np.asarray(v)[idx_train] for k, v in X.items()}
        X_test = {k: np.asarray(v)[idx_test] for k, v in X.items()}
        y_train, y_test = y[idx_train], y[idx_test]
        for load in ("quiet", "loaded"):
            with busy(args.busy) if load == "loaded" else contextlib.nullcontext():
                for setting in settings:  # warm-up: the first calls after a change are slower; not timed
                    run_estimator(LateFusionClassifier, X_train, y_train, X_test, y_test, setting, quick=True)
                chosen = estimators(next(iter(X)), args.quick)
                if args.estimators:
                    chosen = {k: v for k, v in chosen.items() if k in args.estimators.split(",")}
                for i, (name, make) in enumerate(chosen.items()):
                    outputs = {}
                    # the settings in a rotated order: none is always first after another estimator
                    for setting in settings[i % len(settings):] + settings[:i % len(settings)]:
                        res, outputs[setting] = run_estimator(make, X_train, y_train, X_test, y_test, setting, args.quick,
                                                              args.repeats)
                        rows.append({"data": set_name, "load": load, "estimator": name, "threads": setting, **res})
                        print(f"{set_name:9s} {load:6s} {name:15s} threads={setting!s:4s} fit {res['fit_s']:6.2f} s  "
                              f"predict {res['predict_s']:.3f} s  accuracy {res['accuracy']}", flush=True)
                    if load == "quiet":
                        agreement.append(compare(set_name, name, outputs, y_test, counts))
                for name, make in baselines().items():
                    for limit in (None, 1):
                        res = run_baseline(make, X_train, y_train, X_test, y_test, limit)
                        setting = "default" if limit is None else 1
                        rows.append({"data": set_name, "load": load, "estimator": name, "threads": setting, **res})
                        print(f"{set_name:9s} {load:6s} {name:15s} threads={setting!s:4s} fit {res['fit_s']:6.2f} s  "
                              f"predict {res['predict_s']:.3f} s  accuracy {res['accuracy']:.3f}", flush=True)
        if save is not None:
            save(result)
    return result


def readme_fit(args):
    """The README's example as written (LateFusion, 30 epochs, all 2,000 pix + fou rows): its fit seconds."""
    X, y = load_multiple_features(views=["pix", "fou"], return_X_y=True)
    X = {"image": X["pix"], "tabular": X["fou"]}
    epochs = 2 if args.quick else 30
    counts = list(range(1, min(os.cpu_count() or 1, 4) + 1))
    out = []
    for load in ("quiet", "loaded"):
        with busy(args.busy) if load == "loaded" else contextlib.nullcontext():
            for setting in ["auto", *counts]:
                with skcausalmm.config_context(torch_threads=setting):
                    start = time.perf_counter()
                    LateFusionClassifier(max_epochs=epochs, random_state=0).fit(X, y)
                    out.append({"load": load, "threads": setting, "fit_s": time.perf_counter() - start})
                print(f"README example, {load}, threads={setting}: {out[-1]['fit_s']:.1f} s", flush=True)
    return out


def compare(set_name, name, outputs, y_test, counts):
    """Predictions at one thread against two threads (if the machine has them) and against the policy."""
    one = outputs[1]
    out = {"data": set_name, "estimator": name, "auto_equals_1": bool(np.array_equal(outputs["auto"], one))}
    if 2 in counts:
        two = outputs[2]
        out["max_abs_diff_1_vs_2"] = float(np.max(np.abs(one - two)))
        if one.shape[1] > 1 and name != "ContrastiveICA":
            out["labels_differ_1_vs_2"] = float(np.mean(one.argmax(1) != two.argmax(1)))
    return out


def summarise(result):
    rows = result["rows"]
    keys = list(dict.fromkeys((r["data"], r["estimator"]) for r in rows))
    table = []
    for data, name in keys:
        mine = [r for r in rows if r["data"] == data and r["estimator"] == name]
        line = {"data": data, "estimator": name}
        for load in ("quiet", "loaded"):
            at = {r["threads"]: r for r in mine if r["load"] == load}
            if "auto" in at:
                fixed = {k: v["fit_s"] for k, v in at.items() if k != "auto"}
                best = min(fixed, key=fixed.get)
                line[load] = {"auto_fit_s": at["auto"]["fit_s"], "best_fixed": best, "best_fit_s": fixed[best],
                              "ratio": at["auto"]["fit_s"] / fixed[best],
                              "fit_s": {str(k): v["fit_s"] for k, v in at.items()},
                              "predict_s": {str(k): v["predict_s"] for k, v in at.items()},
                              "predict_ratio": at["auto"]["predict_s"] / min(v["predict_s"] for k, v in at.items()
                                                                              if k != "auto")}
                line["accuracy"] = at["auto"]["accuracy"]
            else:
                line[load] = {"fit_s": {str(k): v["fit_s"] for k, v in at.items()},
                              "predict_s": {str(k): v["predict_s"] for k, v in at.items()}}
                line["accuracy"] = at["default"]["accuracy"]
        table.append(line)
    return table


def print_tables(result):
    table = summarise(result)
    if not table:
        return table
    counts = sorted({r["threads"] for r in result["rows"] if isinstance(r["threads"], int)})
    print(f"\n{result['cores']} cores; loaded = {result['busy']} busy process(es); torch's threads at start "
          f"{result['torch_threads_at_start']}; fit seconds (predict seconds on the 30 % test split), median of "
          f"{result.get('repeats', 1)}")
    head = " | ".join(f"{load} {k}" for load in ("quiet", "loaded") for k in ["auto", *counts])
    print(f"| data | estimator | accuracy | {head} | auto ÷ best fixed, quiet / loaded | predict auto ÷ best, quiet / loaded |")
    print("|---|---|---|" + "---|" * (2 * (len(counts) + 1)) + "---|---|")
    worst = 0.0
    for line in table:
        cells = []
        for load in ("quiet", "loaded"):
            fit_s, pred_s = line[load]["fit_s"], line[load]["predict_s"]
            for k in ["auto", *counts]:
                key = str(k) if str(k) in fit_s else ("default" if k == "auto" else None)
                cells.append(f"{fit_s[key]:.2f} ({pred_s[key]:.3f})" if key in fit_s else "–")
        acc = "–" if line["accuracy"] is None else f"{line['accuracy']:.3f}"
        if "ratio" in line["quiet"]:
            ratios = f"{line['quiet']['ratio']:.2f}× / {line['loaded']['ratio']:.2f}×"
            pratios = f"{line['quiet']['predict_ratio']:.2f}× / {line['loaded']['predict_ratio']:.2f}×"
            worst = max(worst, line["quiet"]["ratio"], line["loaded"]["ratio"])
        else:
            ratios = pratios = "(default threads / 1 thread)"
        print(f"| {line['data']} | {line['estimator']} | {acc} | " + " | ".join(cells) + f" | {ratios} | {pratios} |")
    print(f"\nworst fit time of the policy against the best fixed count: {worst:.2f}× (target ≤ {TARGET}×: "
          f"{'met' if worst <= TARGET else 'NOT met'})")
    print("\nSame seed, one thread against two (quiet runs):")
    print("| data | estimator | policy = 1 thread, bit for bit | largest probability difference, 1 vs 2 | labels that differ |")
    print("|---|---|---|---|---|")
    for a in result["agreement"]:
        print(f"| {a['data']} | {a['estimator']} | {'yes' if a['auto_equals_1'] else 'no'} | "
              f"{a.get('max_abs_diff_1_vs_2', float('nan')):.2g} | {a.get('labels_differ_1_vs_2', float('nan')):.3f} |")
    return table


def figure(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neural = [line for line in table if "ratio" in line["quiet"]]
    data_sets = list(dict.fromkeys(line["data"] for line in neural))
    fig, axes = plt.subplots(1, len(data_sets), figsize=(4.2 * len(data_sets), 3.6), sharey=True, squeeze=False)
    for ax, data in zip(axes[0], data_sets):
        lines = [line for line in neural if line["data"] == data]
        names = [line["estimator"] for line in lines]
        x = np.arange(len(names))
        for offset, load, colour in ((-0.2, "quiet", "tab:blue"), (0.2, "loaded", "tab:red")):
            ratios = [line[load]["ratio"] for line in lines]
            ax.bar(x + offset, ratios, width=0.4, color=colour, label=f"policy, {load}")
            default = [line[load]["fit_s"][str(max(int(k) for k in line[load]["fit_s"] if k != "auto"))]
                       / line[load]["best_fit_s"] for line in lines]
            ax.scatter(x + offset, default, marker="x", color="black", zorder=3,
                       label="torch's default count" if load == "quiet" else None)
        ax.axhline(TARGET, color="grey", ls="--", lw=1)
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
        ax.set_title(data)
    axes[0][0].set_ylabel("fit time ÷ best fixed thread count")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (CI): two estimators, two epochs, one data set")
    parser.add_argument("--busy", type=int, default=1, help="busy processes in the loaded runs (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="fits per estimator and setting (median seconds)")
    parser.add_argument("--sets", default=None, help="comma-separated data sets (fou + kar, digits, pix + fou)")
    parser.add_argument("--estimators", default=None, help="comma-separated estimators (e.g. LateFusion,MLA)")
    parser.add_argument("--tag", default="", help="suffix of the JSON file's name")
    parser.add_argument("--parts", default="study,readme",
                        help="study (every estimator, data set, setting and load), readme (the README's example fit)")
    parser.add_argument("--figure", type=Path, default=None, help="PNG path (default: next to the JSON)")
    parser.add_argument("--from-json", type=Path, default=None, help="re-print and redraw from a saved run")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text())
        if result["rows"]:
            figure(print_tables(result), args.figure or args.from_json.with_suffix(".png"))
        for row in result.get("readme", []):
            print(f"README example ({row['load']}, threads={row['threads']}): fit {row['fit_s']:.1f} s")
        return
    start = time.perf_counter()
    parts = args.parts.split(",")
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.parts == "study,readme" else "_" + args.parts.replace(",", "_")
    out = RESULTS / f"threads{suffix}{args.tag}{'_quick' if args.quick else ''}.json"

    def save(result):
        out.write_text(json.dumps(result, indent=1))

    result = run(args, save) if "study" in parts else {"rows": [], "agreement": []}
    if "readme" in parts:
        result["readme"] = readme_fit(args)
    result["seconds"] = time.perf_counter() - start
    save(result)
    if result["rows"]:
        figure(print_tables(result), args.figure or out.with_suffix(".png"))
    for row in result.get("readme", []):
        print(f"README example ({row['load']}, threads={row['threads']}): fit {row['fit_s']:.1f} s")
    print(f"results: {out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
