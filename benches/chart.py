#!/usr/bin/env python3
"""Draws benches/overhead.svg from the JSON of the interleaved (and loopback) bench.

For each row of issue 19's table (benches/common/mod.rs, ISSUE19): a horizontal bar of
Recourse's overhead over the bare baseline next to the peer's, measured in the same run,
each labelled in ns, the goal as a red tick. With --loopback, a second panel gives the
full stack's throughput over loopback as a fraction of the bare client's (goal 0.95).
With --instructions (the CSV of benches/instructions.sh), each row's label also gives the
callgrind instruction counts over the baseline, ours and the peer's.

    RECOURSE_BENCH_JSON=benches/results/interleaved.json cargo bench --bench interleaved
    RECOURSE_BENCH_JSON=benches/results/loopback.json cargo bench --bench loopback
    python3 benches/chart.py --interleaved benches/results/interleaved.json \\
        --loopback benches/results/loopback.json --out benches/overhead.svg

Standard library only: the SVG is written by hand.
"""

import argparse
import csv
import json
import math
import sys
from xml.sax.saxutils import escape, quoteattr

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
OURS = "#2563eb"  # blue
PEER = "#f59e0b"  # amber
REFERENCE = "#cbd5e1"  # grey: a peer that does not do the same job
GOAL = "#dc2626"  # red
MET = "#15803d"  # green
TEXT = "#111827"
MUTED = "#6b7280"

WIDTH = 1180
LABEL_X = 16  # row labels
BAR_X0 = 330  # x of 0 ns
BAR_X1 = 800  # x of the axis maximum
VERDICT_X = 940  # ratio to the peer and the goal, per row
ROW_H = 52
BAR_H = 15


def fmt_ns(ns):
    """As the benches print: ns below 1 µs, µs above."""
    a = abs(ns)
    if a >= 10_000:
        s = f"{a / 1000:.1f} µs"
    elif a >= 1000:
        s = f"{a / 1000:.2f} µs"
    else:
        s = f"{a:.0f} ns"
    return ("−" if ns < 0 else "") + s


def fmt_tick(ns):
    """An axis label: 50 ns, 2 µs, 100 µs."""
    if ns < 1000:
        return f"{ns:g} ns"
    return f"{ns / 1000:g} µs"


def fmt_ratio(x):
    """Two decimals, three below 0.1 (a cache hit is a hundredth of its peer's)."""
    return f"{x:.3f}" if abs(x) < 0.1 else f"{x:.2f}"


def log_axis(values):
    """The axis ends (powers of ten around every positive value) and its grid lines
    (1, 2 and 5 × 10^k)."""
    positive = [v for v in values if v > 0] or [1.0]
    lo = 10 ** math.floor(math.log10(min(positive)))
    hi = 10 ** math.ceil(math.log10(max(positive) * 1.05))
    ticks = []
    k = lo
    while k <= hi * 1.0001:
        for m in (1, 2, 5):
            if m * k <= hi * 1.0001:
                ticks.append(m * k)
        k *= 10
    return lo, hi, ticks


class Svg:
    def __init__(self):
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, fill=TEXT, anchor="start", weight="normal", family=FONT):
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-family={quoteattr(family)} font-size="{size}" '
            f'fill="{fill}" text-anchor="{anchor}" font-weight="{weight}">{escape(s)}</text>'
        )

    def rect(self, x, y, w, h, fill, extra=""):
        self.add(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" '
            f'fill="{fill}"{extra}/>'
        )

    def line(self, x1, y1, x2, y2, stroke, width=1, extra=""):
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="{width}"{extra}/>'
        )


def load_instructions(path):
    """{variant: (over baseline, peer over baseline)} from instructions.sh's CSV."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("over_baseline"):
                peer = r.get("peer_over_baseline") or None
                out[r["variant"]] = (int(r["over_baseline"]), int(peer) if peer else None)
    return out


def run_line(run):
    """One line saying when, on which commit and with which command a run was made."""
    commit = run.get("commit") or "unknown commit"
    return (
        f"{run.get('date_utc', '?')} UTC · commit {commit} · {run.get('command', '?')} · "
        f"{run.get('cpus', '?')} CPUs, load {run.get('load_average', '?')}"
    )


def bar(svg, x_of, y, value, color, label, label_color=TEXT):
    """A bar from the axis' start to `value` (nothing for an overhead at or below 0, which
    the label says), then its label."""
    end = x_of(value) if value > 0 else BAR_X0
    svg.rect(BAR_X0, y, end - BAR_X0, BAR_H, color, ' rx="2"')
    svg.text(end + 6, y + BAR_H - 3, label, size=12, fill=label_color)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interleaved", required=True, help="RECOURSE_BENCH_JSON of interleaved")
    ap.add_argument("--loopback", help="RECOURSE_BENCH_JSON of loopback")
    ap.add_argument("--instructions", help="the --csv of benches/instructions.sh")
    ap.add_argument("--out", default="benches/overhead.svg")
    args = ap.parse_args()

    with open(args.interleaved) as f:
        inter = json.load(f)
    rows = inter.get("issue19") or []
    if not rows:
        sys.exit("chart: no issue 19 row in " + args.interleaved)
    loop = None
    if args.loopback:
        with open(args.loopback) as f:
            loop = json.load(f)
    instr = load_instructions(args.instructions) if args.instructions else {}

    # A log axis: the overheads go from tens of ns to hundreds of µs (a peer's cache hit),
    # and on it the distance between two bars' ends is their ratio.
    values = [r["ours_overhead_ns"] for r in rows] + [r["goal_ns"] for r in rows]
    values += [r["peer_overhead_ns"] for r in rows if r.get("peer_overhead_ns") is not None]
    lo, hi, ticks = log_axis(values)

    def x_of(ns):
        ns = min(max(ns, lo), hi)
        return BAR_X0 + (BAR_X1 - BAR_X0) * math.log10(ns / lo) / math.log10(hi / lo)

    svg = Svg()
    y = 34
    svg.text(
        LABEL_X,
        y,
        "Recourse: cost added per request, next to each layer's peer in the same run",
        size=19,
        weight="bold",
    )
    y += 22
    svg.text(LABEL_X, y, run_line(inter["run"]), size=12, fill=MUTED)
    y += 17
    svg.text(
        LABEL_X,
        y,
        f"{inter['run'].get('rounds', '?')} interleaved rounds; overhead = median(layer) − "
        "median(bare in-memory tower::service_fn) over the same rounds; log scale, lower "
        "is better; goals: issue 19",
        size=12,
        fill=MUTED,
    )
    # Legend.
    y += 24
    lx = LABEL_X
    for color, name in (
        (OURS, "Recourse"),
        (PEER, "peer (same job)"),
        (REFERENCE, "reference (a layer doing less, for scale)"),
    ):
        svg.rect(lx, y - 11, 14, 12, color, ' rx="2"')
        svg.text(lx + 19, y, name, size=12)
        lx += 26 + 7.2 * len(name)
    svg.line(lx + 4, y - 13, lx + 4, y + 3, GOAL, 3)
    svg.text(lx + 12, y, "goal", size=12)
    lx += 60

    # Column heads.
    y += 26
    svg.text(VERDICT_X, y - 4, "ours ÷ peer · goal", size=12, weight="bold")

    # Grid and axis labels.
    grid_top = y
    grid_bottom = y + 8 + ROW_H * len(rows)
    last = -1e9
    for tick in ticks:
        x = x_of(tick)
        major = math.isclose(math.log10(tick), round(math.log10(tick)))
        svg.line(x, grid_top, x, grid_bottom, "#d1d5db" if major else "#eef0f2")
        if x - last >= 44:  # room for the label
            last = x
            svg.text(x, grid_top - 4, fmt_tick(tick), size=11, fill=MUTED, anchor="middle")
            svg.text(x, grid_bottom + 14, fmt_tick(tick), size=11, fill=MUTED, anchor="middle")

    y = grid_top + 8
    for r in rows:
        # Label: the row, then the peer (and the instruction counts).
        svg.text(LABEL_X, y + 15, r["what"], size=13, weight="bold")
        peer = r.get("peer")
        sub = f"vs {peer}" + (" (reference)" if r.get("peer_is_reference") else "") if peer else "no peer"
        svg.text(LABEL_X, y + 31, sub, size=11, fill=MUTED)
        if r["ours"] in instr:
            ours_i, peer_i = instr[r["ours"]]
            s = f"callgrind: +{ours_i:,} instructions"
            if peer_i is not None:
                s += f" (peer +{peer_i:,})"
            svg.text(LABEL_X, y + 45, s, size=11, fill=MUTED)

        ours = r["ours_overhead_ns"]
        met = ours <= r["goal_ns"]
        label = "+" + fmt_ns(ours) if ours >= 0 else fmt_ns(ours)
        bar(svg, x_of, y + 4, ours, OURS, label, TEXT)
        ratio = r.get("ratio")
        if ratio is not None and not r.get("peer_is_reference"):
            ratio_s = f"{fmt_ratio(ratio)}× the peer"
        elif ratio is not None:
            ratio_s = f"{fmt_ratio(ratio)}× the reference"
        else:
            ratio_s = "no peer"
        svg.text(VERDICT_X, y + 16, ratio_s, size=12, fill=TEXT)
        verdict = f"goal ≤ {fmt_ns(r['goal_ns'])}: " + (
            f"met ({fmt_ns(r['goal_ns'] - ours)} under)"
            if met
            else f"missed by {fmt_ns(ours - r['goal_ns'])}"
        )
        svg.text(VERDICT_X, y + 33, verdict, size=12, fill=MET if met else GOAL, weight="bold")
        p = r.get("peer_overhead_ns")
        if peer and p is not None:
            color = REFERENCE if r.get("peer_is_reference") else PEER
            bar(svg, x_of, y + 4 + BAR_H + 4, p, color, ("+" if p >= 0 else "") + fmt_ns(p), MUTED)
        elif peer:
            svg.text(BAR_X0 + 6, y + 4 + 2 * BAR_H, "peer not measured in this run", size=11, fill=MUTED)
        gx = x_of(r["goal_ns"])
        svg.line(gx, y + 1, gx, y + 4 + 2 * BAR_H + 7, GOAL, 3)
        y += ROW_H
    y = grid_bottom + 34

    if loop:
        svg.text(
            LABEL_X,
            y,
            "Full stack around hyper-util's Client over loopback: throughput as a fraction "
            "of the bare client's (higher is better)",
            size=15,
            weight="bold",
        )
        y += 18
        svg.text(LABEL_X, y, run_line(loop["run"]), size=12, fill=MUTED)
        y += 14
        goal = loop.get("goal_ratio", 0.95)
        levels = loop.get("levels", [])
        lmax = max(
            [1.05]
            + [c["ratio"] for lv in levels for c in lv["clients"] if c.get("ratio") is not None]
        )

        def rx(v):
            return BAR_X0 + (BAR_X1 - BAR_X0) * v / lmax

        top = y + 14
        bottom = top + 4 + 34 * len(levels)
        for t in (0, 0.25, 0.5, 0.75, 1.0):
            svg.line(rx(t), top, rx(t), bottom, "#e5e7eb" if t else "#9ca3af")
            svg.text(rx(t), top - 3, f"{t:.2f}", size=11, fill=MUTED, anchor="middle")
        svg.text(VERDICT_X, top - 3, "paired · CPU ratio · goal", size=12, weight="bold")
        y = top + 8
        for lv in levels:
            stack = next((c for c in lv["clients"] if c.get("goal_ratio") is not None), None)
            if stack is None:
                continue
            ratio = stack["ratio"]
            met = ratio >= goal
            svg.text(LABEL_X, y + 14, f"concurrency {lv['concurrency']}", size=13, weight="bold")
            svg.rect(BAR_X0, y + 2, rx(ratio) - BAR_X0, BAR_H, OURS, ' rx="2"')
            svg.text(rx(ratio) + 6, y + BAR_H - 1, f"{ratio:.3f}", size=12)
            svg.line(rx(goal), y - 1, rx(goal), y + BAR_H + 5, GOAL, 3)
            detail = f"paired {stack['paired_ratio']:.3f}"
            if stack.get("cpu_ratio") is not None:
                detail += f" · CPU ratio {stack['cpu_ratio']:.3f}"
            svg.text(VERDICT_X, y + 8, detail, size=12)
            verdict = f"goal ≥ {goal:.2f}: " + (
                f"met (+{ratio - goal:.3f})" if met else f"missed by {goal - ratio:.3f}"
            )
            svg.text(VERDICT_X, y + 24, verdict, size=12, fill=MET if met else GOAL, weight="bold")
            y += 34
        y = bottom + 20

    height = int(y)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img">\n'
        "<title>Recourse: overhead per layer next to its peer (issue 19)</title>\n"
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>\n'
    )
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(head + "\n".join(svg.parts) + "\n</svg>\n")
    print(f"wrote {args.out} ({len(rows)} rows{', loopback' if loop else ''})", file=sys.stderr)


if __name__ == "__main__":
    main()
