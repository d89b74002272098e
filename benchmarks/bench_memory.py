"""Peak memory of ``fit`` and ``predict_proba`` per input form, and a fit on a memory-mapped table.

Each measurement runs in a fresh Python process: it builds the input, resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``), records the resident set
size, runs ``LateFusionClassifier.fit`` (then ``predict_proba``) and reads the
peak (``VmHWM``). The table reports ``(peak - RSS before) / raw data size``: the
memory the estimator needs *on top of* the data it was given (targets, issue 16:
at most +0.6x for every input form).

Input forms: a dict of float32 arrays, a dict of float64 arrays, a 2-D float64
array split by ``modalities={...}`` slices, a DataFrame split by column names,
and a float32 ``numpy.memmap`` per modality. The last part fits on a float32
memory-mapped table larger than a stated RSS budget (peak RSS above the
interpreter's < ``--budget`` x file size) and reports the peak.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000] [--cols 50] [--big-mb 1500] [--quick]

Linux only (``/proc``). ``--quick`` (200k rows, a 100 MB memory-mapped file) runs
in well under a minute.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
FORMS = ["dict float32", "dict float64", "table float64", "DataFrame", "memmap float32"]


def _status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _measure(fn):
    """Run ``fn()``; return (peak RSS above the RSS before, seconds)."""
    _reset_peak()
    before = _status("VmRSS")
    t = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t
    return _status("VmHWM") - before, seconds


def _make(form, rows, cols, directory):
    """The input of one form, its raw size in bytes, and the labels."""
    rng = np.random.default_rng(0)
    half = cols // 2
    y = rng.integers(0, 2, rows)
    if form == "memmap float32":
        X = {}
        for name, width in (("a", half), ("b", cols - half)):
            path = os.path.join(directory, f"{name}.f32")
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, width))
            for s in range(0, rows, 65536):
                mm[s : s + 65536] = rng.standard_normal((min(65536, rows - s), width), dtype=np.float32)
            mm.flush()
            del mm
            X[name] = np.load(path, mmap_mode="r")
        return X, None, rows * cols * 4, y
    if form == "dict float32":
        X = {"a": rng.standard_normal((rows, half), dtype=np.float32),
             "b": rng.standard_normal((rows, cols - half), dtype=np.float32)}
        return X, None, rows * cols * 4, y
    if form == "dict float64":
        X = {"a": rng.standard_normal((rows, half)), "b": rng.standard_normal((rows, cols - half))}
        return X, None, rows * cols * 8, y
    table = rng.standard_normal((rows, cols))
    if form == "table float64":
        return table, {"a": slice(0, half), "b": slice(half, cols)}, rows * cols * 8, y
    import pandas as pd

    names = [f"c{i}" for i in range(cols)]
    frame = pd.DataFrame(table, columns=names, copy=False)
    del table
    return frame, {"a": names[:half], "b": names[half:]}, rows * cols * 8, y


def _warm_up():
    """A tiny fit first, so that one-off allocations (libraries, thread pools) are not counted."""
    from skcausalmm import LateFusionClassifier

    rng = np.random.default_rng(1)
    X = {"a": rng.standard_normal((300, 4)), "b": rng.standard_normal((300, 4))}
    LateFusionClassifier(hidden_size=8, max_epochs=1, random_state=0, device="cpu").fit(X, rng.integers(0, 2, 300))


def child(form, rows, cols, epochs):
    """One measurement (in its own process): print a JSON line."""
    import torch

    from skcausalmm import LateFusionClassifier

    torch.set_num_threads(1)
    _warm_up()
    with tempfile.TemporaryDirectory() as directory:
        X, modalities, raw, y = _make(form, rows, cols, directory)
        est = LateFusionClassifier(
            modalities=modalities, hidden_size=8, max_epochs=epochs, batch_size=1024, random_state=0, device="cpu"
        )
        fit_peak, fit_s = _measure(lambda: est.fit(X, y))
        pred_peak, pred_s = _measure(lambda: est.predict_proba(X))
        result = {"form": form, "rows": rows, "cols": cols, "raw_mb": raw / 2**20,
                  "fit_extra_mb": fit_peak / 2**20, "fit_extra_x": fit_peak / raw, "fit_s": fit_s,
                  "predict_extra_mb": pred_peak / 2**20, "predict_extra_x": pred_peak / raw, "predict_s": pred_s,
                  "peak_rss_mb": _status("VmHWM") / 2**20}
    print(json.dumps(result))


def big_child(megabytes, cols, epochs, budget):
    """Fit on a float32 memory-mapped table of about ``megabytes`` (created in a temp dir, then deleted)."""
    import torch

    from skcausalmm import LateFusionClassifier

    torch.set_num_threads(1)
    _warm_up()
    rows = int(megabytes * 2**20 // (cols * 4))
    half = cols // 2
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "table.f32")
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
        rng = np.random.default_rng(0)
        w = rng.standard_normal(cols, dtype=np.float32)
        y = np.empty(rows, dtype=np.int64)
        for s in range(0, rows, 65536):
            block = rng.standard_normal((min(65536, rows - s), cols), dtype=np.float32)
            mm[s : s + len(block)] = block
            y[s : s + len(block)] = block @ w > 0
        mm.flush()
        del mm
        table = np.load(path, mmap_mode="r")
        size = table.nbytes
        # the modalities are column slices of the mapped table: views, kept out of RAM
        X = {"a": table[:, :half], "b": table[:, half:]}
        before = _status("VmRSS")
        _reset_peak()
        t = time.perf_counter()
        est = LateFusionClassifier(hidden_size=8, max_epochs=epochs, batch_size=4096, random_state=0, device="cpu")
        est.fit(X, y)
        proba = est.predict_proba({k: v[:100000] for k, v in X.items()})
        seconds = time.perf_counter() - t
        peak = _status("VmHWM") - before
        acc = float((proba.argmax(1) == y[:100000]).mean())
        del X, table, est
    print(json.dumps({"file_mb": size / 2**20, "rows": rows, "cols": cols, "epochs": epochs,
                      "peak_extra_mb": peak / 2**20, "peak_extra_x": peak / size, "budget_x": budget,
                      "within_budget": bool(peak < budget * size), "seconds": seconds, "train_acc_100k": acc}))


def _run(args):
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def plot(rows, big, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3))
    names = [r["form"] for r in rows]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [r["fit_extra_x"] for r in rows], 0.4, label="fit")
    ax.bar(x + 0.2, [r["predict_extra_x"] for r in rows], 0.4, label="predict_proba")
    ax.axhline(0.6, color="k", ls="--", lw=1, label="target +0.6x")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("peak RSS above data / data size")
    ax.set_title(f"{rows[0]['rows']:,} x {rows[0]['cols']}; memmap fit on {big['file_mb']:.0f} MB: "
                 f"+{big['peak_extra_x']:.2f}x", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--big-mb", type=float, default=1500.0, help="size of the memory-mapped table")
    parser.add_argument("--budget", type=float, default=0.5, help="RSS budget of the memmap fit, x file size")
    parser.add_argument("--quick", action="store_true", help="200k rows, a 100 MB memmap, 1 epoch")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child[0] == "big":
            return big_child(float(args.child[1]), args.cols, args.epochs, args.budget)
        return child(" ".join(args.child), args.rows, args.cols, args.epochs)
    if args.quick:
        args.rows, args.big_mb, args.epochs = 200_000, 100.0, 1
    common = ["--rows", str(args.rows), "--cols", str(args.cols), "--epochs", str(args.epochs),
              "--budget", str(args.budget)]
    rows = []
    print(f"Peak RSS above the data, LateFusionClassifier, {args.rows:,} rows x {args.cols} columns "
          f"(two modalities), {args.epochs} epoch(s); each in a fresh process")
    print(f"{'input form':16s} {'data MB':>8s} {'fit +MB':>8s} {'fit +x':>7s} {'pred +MB':>9s} {'pred +x':>8s}")
    for form in FORMS:
        r = _run([*common, "--child", *form.split()])
        rows.append(r)
        print(f"{form:16s} {r['raw_mb']:8.0f} {r['fit_extra_mb']:8.0f} {r['fit_extra_x']:7.2f} "
              f"{r['predict_extra_mb']:9.0f} {r['predict_extra_x']:8.2f}")
    worst = max(max(r["fit_extra_x"], r["predict_extra_x"]) for r in rows)
    print(f"target: at most +0.6x for every input form -> {'met' if worst <= 0.6 else 'NOT met'} (worst +{worst:.2f}x)")
    big = _run([*common, "--child", "big", str(args.big_mb)])
    print(f"memmap fit: {big['file_mb']:.0f} MB float32 file ({big['rows']:,} x {big['cols']}), {big['epochs']} "
          f"epoch(s): peak RSS +{big['peak_extra_mb']:.0f} MB = +{big['peak_extra_x']:.2f}x the file "
          f"(budget < {args.budget}x: {'met' if big['within_budget'] else 'NOT met'}), {big['seconds']:.1f} s")
    RESULTS.mkdir(exist_ok=True)
    stem = "memory_quick" if args.quick else "memory"
    out = RESULTS / f"{stem}.json"
    out.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "child"},
                               "forms": rows, "memmap_fit": big}, indent=2))
    plot(rows, big, RESULTS / f"{stem}.png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
