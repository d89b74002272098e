"""Draw docs/figures/frontdoor_beta_sweep.png from the benchmark tables on docs/reports/frontdoor.md.

``python benchmarks/bench_frontdoor.py`` measures the tables (3 seeds, about 20 minutes on 2
cores) and they are pasted into docs/reports/frontdoor.md; this script reads them back from that page and
draws the β sweep, in and out of distribution, for the tabular and the image rendering, beside
late fusion and the analytic ceilings. Run from the repository root::

    python docs/figures/frontdoor_beta_sweep.py
"""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "reports" / "frontdoor.md"
OUT = HERE / "frontdoor_beta_sweep.png"
ROW = re.compile(r"^\| (?P<model>[^|]+?)\s*\| (?P<in_m>[\d.]+) ± (?P<in_s>[\d.]+)\s*\| (?P<out_m>[\d.]+) ± (?P<out_s>[\d.]+)")


def tables(text):
    """{predominant: {model: (in mean, in std, out mean, out std)}} from the page's tables."""
    out, current = {}, None
    for line in text.splitlines():
        header = re.match(r"Confounded data, predominant='(\w+)'", line)
        if header:
            current = out.setdefault(header.group(1), {})
        elif line.startswith("chosen β"):  # end of that table
            current = None
        elif current is not None and (row := ROW.match(line)):
            current[row["model"]] = tuple(float(row[k]) for k in ("in_m", "in_s", "out_m", "out_s"))
    return out


def main():
    data = tables(PAGE.read_text(encoding="utf-8"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, predominant in zip(axes, ["table", "image"]):
        rows = data[predominant]
        betas = sorted(float(m.split("=")[1]) for m in rows if re.fullmatch(r"FrontDoor β=[\d.]+", m))
        sweep = [rows[f"FrontDoor β={b:g}"] for b in betas]
        ax.errorbar(betas, [r[0] for r in sweep], yerr=[r[1] for r in sweep], marker="o", label="FrontDoor, in dist.")
        ax.errorbar(betas, [r[2] for r in sweep], yerr=[r[3] for r in sweep], marker="s", label="FrontDoor, out of dist.")
        late = rows["LateFusion"]
        ax.axhline(late[0], color="C0", linestyle=":", label="late fusion, in dist.")
        ax.axhline(late[2], color="C1", linestyle=":", label="late fusion, out of dist.")
        ax.scatter([0, 1], [0.670, 0.475], marker="_", s=500, color="k", label="ceilings: (C, A) at β=0, C at β=1")
        ax.set_xlabel("β")
        ax.set_title(f"predominant = {predominant!r}")
    axes[0].set_ylabel("accuracy (mean over seeds)")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle("Front-door classifier on the confounded benchmark: the β sweep", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
