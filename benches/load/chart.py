"""results.png of benches/load/run.sh: req/s per row as horizontal bars, grouped by what is authenticated, each
bar annotated with its p99 and the server's CPU per request. Usage: chart.py ROWS_TSV OUT_PNG SUBTITLE (ROWS_TSV: run.sh's WORK/rows.tsv)."""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import StrMethodFormatter  # noqa: E402

GROUPS = [  # (title, rows), top to bottom
    ("no authentication", ["a", "p", "b", "i", "j", "k"]),
    ("Basic", ["c", "h", "m"]),
    ("bearer RS256, same token", ["d", "f-d", "g-d", "i-d"]),
    ("bearer RS256, distinct tokens", ["e", "f-e", "g-e", "i-e"]),
]
COLORS = {
    "authgate": "#1f77b4",
    "Envoy": "#ff7f0e",
    "Apache": "#2ca02c",
    "nginx": "#7f7f7f",
    "HAProxy": "#d62728",
    "Caddy": "#8c564b",
    "pingora": "#17becf",
}


def color(server):
    return next((c for name, c in COLORS.items() if server.startswith(name)), "#9467bd")


def latency(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def main(tsv, out, subtitle):
    with open(tsv, newline="") as f:
        rows = {r[0]: r for r in csv.reader(f, delimiter="\t")}
    labels, values, p99s, cpus, colors, ys, group_marks = [], [], [], [], [], [], []
    y = 0.0
    for title, ids in GROUPS:
        present = [i for i in ids if i in rows]
        if not present:
            continue
        group_marks.append((y - 0.6, title))
        for i in present:
            _, server, auth, rps, _p50, p99 = rows[i][:6]
            labels.append(f"({i}) {server}")
            values.append(float(rps))
            p99s.append(float(p99))
            cpus.append(float(rows[i][10]) if len(rows[i]) > 10 else None)
            colors.append(color(server))
            ys.append(y)
            y += 1.0
        y += 1.0  # room for the next group's title
    fig, ax = plt.subplots(figsize=(10, 0.45 * y + 1.6))
    ax.barh(ys, values, color=colors, height=0.7)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    top = max(values) if values else 1.0
    for yy, v, p, c in zip(ys, values, p99s, cpus):
        cpu = f"   CPU {c:.1f} µs/req" if c is not None else ""
        ax.text(v + top * 0.01, yy, f"{int(v + 0.5):,} req/s   p99 {latency(p)}{cpu}", va="center", fontsize=9)
    for yy, title in group_marks:
        ax.text(0, yy, title, fontsize=10, fontweight="bold", va="center")
    ax.set_xlim(0, top * 1.6)
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("requests per second (higher is better)")
    ax.set_title(f"authgate load benchmark\n{subtitle}", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main(*sys.argv[1:4])
