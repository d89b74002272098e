"""Benchmark of the exact discrete front-door adjustment estimator: accuracy and counting speed.

1. Accuracy.  On a fixed confounded smoking (X) / tar (M) / cancer (Y) SCM with a hidden
   genotype U and a noisy genetic test A of U, draw n rows for several seeds and report the
   max-abs error of the front-door estimates (Pearl, β = 1, and the covariate variant at
   β = 0.5) and of the naive P(y|x) against the true P(y|do(x)), and the fit time.
2. Speed.  ``FrontDoorAdjustment.fit`` side by side with plain pandas implementations of the
   same count table (``DataFrame.groupby(...).size()`` and ``pd.crosstab``, both on a DataFrame
   built beforehand, then made dense) and with the previous sort-based counting (``np.unique``
   per column), on integer columns, string columns and a DataFrame given to ``fit(X, y)``; runs
   interleaved, medians; a ratio below 1 means our fit is faster.  Every method's table is
   checked to equal ours.

Results go to ``benchmarks/results/adjustment.json``.

Run with ``python benchmarks/bench_adjustment.py`` (accuracy up to n = 10^6, speed at 10^5,
10^6 and 10^7) or ``--quick`` (accuracy up to 10^5, speed at 10^5 and 10^6 without the crosstab
reference; under 20 s).
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skcausalmm import FrontDoorAdjustment

P_U = np.array([0.5, 0.5])
P_X_U = np.array([[0.8, 0.2], [0.2, 0.8]])
P_A_U = np.array([[0.85, 0.15], [0.2, 0.8]])
P_M_X = np.array([[0.85, 0.15], [0.15, 0.85]])
P_Y_MU = np.array([[[0.9, 0.1], [0.4, 0.6]], [[0.7, 0.3], [0.1, 0.9]]])  # [m, u, y]
LABELS = {
    "x": np.array(["non-smoker", "smoker"], dtype=object),
    "a": np.array(["test-", "test+"], dtype=object),
    "m": np.array(["clean", "tar"], dtype=object),
    "y": np.array(["healthy", "cancer"], dtype=object),
}
ROLES = ("x", "a", "m", "y")


def scm():
    """Observed joint over (x, a, m, y) and the true P(y | do(x))."""
    full = np.einsum("u,ux,ua,xm,muy->uxamy", P_U, P_X_U, P_A_U, P_M_X, P_Y_MU)
    truth = np.einsum("u,xm,muy->xy", P_U, P_M_X, P_Y_MU)
    return full.sum(axis=0), truth


def _sample(joint, n, seed):
    rng = np.random.default_rng(seed)
    cells = rng.choice(joint.size, size=n, p=joint.ravel())
    return np.unravel_index(cells, joint.shape)


# ---------------------------------------------------------------------------
# 1. Accuracy.
# ---------------------------------------------------------------------------


def run_accuracy(sizes, seeds):
    """Return one record per sample size."""
    joint, truth = scm()
    records = []
    for n in sizes:
        fd_err, cov_err, naive_err, times = [], [], [], []
        for seed in range(seeds):
            x, a, m, y = _sample(joint, n, seed)
            start = time.perf_counter()
            est = FrontDoorAdjustment(beta=1.0).fit(np.column_stack([x, m, a]), y)
            times.append(time.perf_counter() - start)
            fd_err.append(np.abs(est.interventional_proba_ - truth).max())
            naive_err.append(np.abs(est.observational_proba_ - truth).max())
            est.set_params(beta=0.5)  # recomputed from the stored counts
            cov_err.append(np.abs(est.interventional_proba_ - truth).max())
        records.append(
            {
                "n": n,
                "seeds": seeds,
                "fd_beta1_error_mean": float(np.mean(fd_err)),
                "fd_beta1_error_std": float(np.std(fd_err)),
                "covariate_beta05_error_mean": float(np.mean(cov_err)),
                "naive_error_mean": float(np.mean(naive_err)),
                "fit_seconds_median": float(np.median(times)),
            }
        )
    base = records[0]["fit_seconds_median"]
    for record in records:
        record["fit_time_ratio"] = record["fit_seconds_median"] / base
    return records


# ---------------------------------------------------------------------------
# 2. Speed: references.
# ---------------------------------------------------------------------------


def _dense(index, values):
    """Dense (x, a, m, y) table from a MultiIndex of observed combinations and their counts."""
    counts = np.zeros([len(level) for level in index.levels], dtype=np.int64)
    counts[tuple(np.asarray(codes) for codes in index.codes)] = values
    return counts


def pandas_groupby(frame):
    """Plain pandas: ``groupby(...).size()`` over the four columns, made dense."""
    sizes = frame.groupby(list(ROLES), observed=True).size()
    return _dense(sizes.index, sizes.to_numpy())


def pandas_crosstab(frame):
    """Plain pandas: ``pd.crosstab`` of (x, a) against (m, y), made dense."""
    table = pd.crosstab([frame["x"], frame["a"]], [frame["m"], frame["y"]])
    stacked = table.stack(list(range(table.columns.nlevels)))
    stacked = stacked[stacked > 0]
    index = stacked.index.remove_unused_levels()
    return _dense(index, stacked.to_numpy())


def sort_based(columns):
    """The previous counting of ``FrontDoorAdjustment.fit``: ``np.unique`` per column (sorting)."""
    codes, shape = [], []
    for role in ROLES:
        labels, inverse = np.unique(columns[role], return_inverse=True)
        codes.append(inverse.reshape(-1))
        shape.append(len(labels))
    flat = np.ravel_multi_index(tuple(codes), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)


def _inputs(n, seed=0):
    """The three inputs at size n: an int array, a string array, a string DataFrame (columns x, m, a, y)."""
    joint, _ = scm()
    cells = dict(zip(ROLES, _sample(joint, n, seed)))
    ints = {role: cells[role].astype(np.int64) for role in ROLES}
    strings = {role: LABELS[role][cells[role]] for role in ROLES}
    return {
        "int array, fit(X, y)": (ints, pd.DataFrame(ints)),
        "str array, fit(X, y)": (strings, pd.DataFrame(strings)),
        "str DataFrame, fit(X, y)": (None, pd.DataFrame(strings)),
    }


def _ours(columns, frame):
    if columns is None:
        return FrontDoorAdjustment().fit(frame[["x", "m", "a"]], frame["y"]).counts_
    return FrontDoorAdjustment().fit(np.column_stack([columns["x"], columns["m"], columns["a"]]), columns["y"]).counts_


def run_speed(sizes, repeats, crosstab=True):
    """Median seconds of each method per input and size, with ratios to pandas."""
    records = []
    for n in sizes:
        for name, (columns, frame) in _inputs(n).items():
            methods = {
                "ours": lambda c=columns, f=frame: _ours(c, f),
                "pandas_groupby": lambda f=frame: pandas_groupby(f),
            }
            if crosstab:
                methods["pandas_crosstab"] = lambda f=frame: pandas_crosstab(f)
            if name.startswith("int"):
                methods["previous_np_unique"] = lambda c=columns: sort_based(c)
            reference = None
            times = {method: [] for method in methods}
            for _ in range(repeats[n]):
                for method, run in methods.items():  # interleaved: the machine is shared
                    start = time.perf_counter()
                    counts = run()
                    times[method].append(time.perf_counter() - start)
                    if reference is None:
                        reference = counts
                    elif not np.array_equal(counts, reference):
                        raise AssertionError(f"{method} counts differ from ours on {name}, n={n}")
            record = {"input": name, "n": n, "repeats": repeats[n]}
            for method, values in times.items():
                record[f"{method}_seconds"] = statistics.median(values)
            for method in methods:
                if method != "ours":
                    record[f"ratio_to_{method}"] = record["ours_seconds"] / record[f"{method}_seconds"]
            records.append(record)
            print(_speed_row(record), flush=True)
        del columns, frame
    return records


def _speed_row(r):
    def ms(key):
        return f"{1e3 * r[key]:>9.1f}" if key in r else f"{'-':>9}"

    def ratio(key):
        return f"{r[key]:>7.2f}" if key in r else f"{'-':>7}"

    return (
        f"{r['input']:<30} {r['n']:>9} {ms('ours_seconds')} {ms('pandas_groupby_seconds')} "
        f"{ms('pandas_crosstab_seconds')} {ms('previous_np_unique_seconds')} "
        f"{ratio('ratio_to_pandas_groupby')} {ratio('ratio_to_pandas_crosstab')} "
        f"{ratio('ratio_to_previous_np_unique')}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="accuracy up to 10^5, speed at 10^5 and 10^6 without crosstab (< 20 s)"
    )
    args = parser.parse_args()
    start = time.perf_counter()

    sizes = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6]
    accuracy = run_accuracy(sizes, args.seeds)
    _, truth = scm()
    print(f"1. accuracy: true P(y=1|do(x)) = {truth[:, 1].round(4).tolist()}; {args.seeds} seeds per n")
    header = f"{'n':>9} {'FD β=1 err':>16} {'cov β=.5 err':>13} {'naive err':>10} {'fit [ms]':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for r in accuracy:
        print(
            f"{r['n']:>9} {r['fd_beta1_error_mean']:>8.4f} ± {r['fd_beta1_error_std']:.4f} "
            f"{r['covariate_beta05_error_mean']:>13.4f} {r['naive_error_mean']:>10.4f} "
            f"{1e3 * r['fit_seconds_median']:>9.2f} {r['fit_time_ratio']:>7.1f}"
        )

    speed_sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    repeats = {10**5: 3 if args.quick else 5, 10**6: 3 if args.quick else 5, 10**7: 3}
    print("\n2. speed: median fit time [ms]; ratio = ours / reference (< 1: ours is faster)")
    header = (
        f"{'input':<30} {'n':>9} {'ours':>9} {'groupby':>9} {'crosstab':>9} {'np.unique':>9} "
        f"{'/groupby':>7} {'/xtab':>7} {'/unique':>7}"
    )
    print(header)
    print("-" * len(header))
    speed = run_speed(speed_sizes, repeats, crosstab=not args.quick)

    out = Path(__file__).resolve().parent / "results" / "adjustment.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_adjustment",
        "command": "python benchmarks/bench_adjustment.py" + (" --quick" if args.quick else ""),
        "truth": truth.tolist(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "records": accuracy,
        "speed": speed,
        "total_seconds": time.perf_counter() - start,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out} ({payload['total_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
