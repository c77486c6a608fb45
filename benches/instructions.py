#!/usr/bin/env python3
"""Instructions per request of the variants of benches/common, counted by callgrind.

Run through benches/instructions.sh, which builds the interleaved bench and passes its
binary here. Each variant runs N and 2N requests (RECOURSE_BENCH_ONLY mode of
benches/interleaved.rs) under valgrind's callgrind; the difference divided by N is the
cost of one request, set-up excluded. Prints two Markdown tables: every variant with its
instructions over its baseline, then issue 19's rows (common::ISSUE19), each Recourse
variant next to its peer over the same baseline, with the ratio. `--csv FILE` also writes
one CSV line per variant.

Standard library only.
"""

import argparse
import concurrent.futures
import csv
import os
import subprocess
import sys
import tempfile


def variants(bench):
    """The bench's variants: name, baseline, by, peer, peer kind, goal (ns), issue 19 row
    and its place in the table."""
    out = subprocess.run(
        [bench],
        env={**os.environ, "RECOURSE_BENCH_LIST": "1"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 8:
            sys.exit(f"instructions: unexpected line from RECOURSE_BENCH_LIST: {line!r}")
        name, baseline, by, peer, kind, goal, what, place = fields
        rows.append(
            {
                "name": name,
                "baseline": baseline or None,
                "by": by,
                "peer": peer or None,
                "reference": kind == "reference",
                "goal_ns": float(goal) if goal else None,
                "what": what or None,
                "place": int(place) if place else None,
            }
        )
    return rows


def select(rows, words):
    """The variants whose name contains one of `words` (all without words), the peers of
    the Recourse ones, and the baselines of all of them."""
    if not words:
        return [r["name"] for r in rows]
    by_name = {r["name"]: r for r in rows}
    keep = {r["name"] for r in rows if any(w in r["name"] for w in words)}
    keep |= {by_name[n]["peer"] for n in list(keep) if by_name[n]["peer"]}
    keep |= {by_name[n]["baseline"] for n in list(keep) if by_name[n]["baseline"]}
    return [r["name"] for r in rows if r["name"] in keep]


def count(bench, work, name, iters):
    """Instructions of one run of `iters` requests of `name` (callgrind's summary)."""
    fd, out = tempfile.mkstemp(dir=work, suffix=".callgrind")
    os.close(fd)
    log = out + ".log"
    env = {
        **os.environ,
        "RECOURSE_BENCH_ONLY": name,
        "RECOURSE_BENCH_ITERS": str(iters),
    }
    with open(log, "w") as err:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", bench],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    if done.returncode != 0:
        with open(log) as err:
            tail = err.read()[-2000:]
        raise RuntimeError(f"{name} ({iters} requests) failed:\n{tail}")
    with open(out) as f:
        for line in f:
            if line.startswith("summary:"):
                total = int(line.split()[1])
                break
        else:
            raise RuntimeError(f"{name}: no summary line in callgrind's output")
    os.remove(out)
    os.remove(log)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", required=True, help="the interleaved bench binary")
    parser.add_argument("--csv", help="also write the counts to this CSV file")
    parser.add_argument("words", nargs="*", help="keep the variants whose name has one")
    args = parser.parse_args()
    n = int(os.environ.get("N", "2000"))
    jobs = int(os.environ.get("JOBS", str(os.cpu_count() or 1)))
    if n <= 0 or jobs <= 0:
        sys.exit("instructions: N and JOBS must be positive")

    rows = variants(args.bench)
    by_name = {r["name"]: r for r in rows}
    names = select(rows, args.words)
    if not names:
        sys.exit("instructions: no variant matches " + " ".join(args.words))
    print(
        f"counting {len(names)} variants ({n} and {2 * n} requests each, {jobs} at a time)...",
        file=sys.stderr,
    )
    totals = {}
    with tempfile.TemporaryDirectory(prefix="recourse-instr.") as work:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(count, args.bench, work, name, iters): (name, iters)
                for name in names
                for iters in (n, 2 * n)
            }
            for done, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                name, iters = futures[fut]
                totals[(name, iters)] = fut.result()
                print(f"  [{done}/{len(futures)}] {name} x{iters}", file=sys.stderr)

    per = {name: (totals[(name, 2 * n)] - totals[(name, n)]) // n for name in names}

    def over(name):
        base = by_name[name]["baseline"]
        if name not in per or base is None or base not in per:
            return None
        return per[name] - per[base]

    print("| variant | instructions per request | over baseline |")
    print("|---|---|---|")
    for name in names:
        o = over(name)
        print(f"| {name} | {per[name]} | {'—' if o is None else o} |")

    # In the order of issue 19's table.
    issue19 = sorted(
        (by_name[name] for name in names if by_name[name]["what"]), key=lambda r: r["place"]
    )
    lines = {}
    if issue19:
        print()
        print("| what | ours over baseline | peer | peer over baseline | ours / peer |")
        print("|---|---|---|---|---|")
    for r in issue19:
        ours = over(r["name"])
        peer = r["peer"]
        peer_over = over(peer) if peer else None
        ratio = ours / peer_over if ours is not None and peer_over else None
        lines[r["name"]] = (peer_over, ratio)
        peer_s = "—" if not peer else peer + (" (reference)" if r["reference"] else "")
        print(
            f"| {r['what']} | {ours} | {peer_s} | "
            f"{'—' if peer_over is None else peer_over} | "
            f"{'—' if ratio is None else f'{ratio:.3f}' if ratio < 0.1 else f'{ratio:.2f}'} |"
        )

    if args.csv:
        directory = os.path.dirname(args.csv)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(
                [
                    "variant",
                    "by",
                    "baseline",
                    "instructions_per_request",
                    "over_baseline",
                    "issue19_row",
                    "peer",
                    "peer_is_reference",
                    "peer_over_baseline",
                    "ratio",
                    "requests",
                ]
            )
            for name in names:
                r = by_name[name]
                peer_over, ratio = lines.get(name, (None, None))
                w.writerow(
                    [
                        name,
                        r["by"],
                        r["baseline"] or "",
                        per[name],
                        "" if over(name) is None else over(name),
                        r["what"] or "",
                        r["peer"] or "",
                        "yes" if r["reference"] else "",
                        "" if peer_over is None else peer_over,
                        "" if ratio is None else f"{ratio:.3f}",
                        n,
                    ]
                )
        print(f"wrote {args.csv}", file=sys.stderr)


if __name__ == "__main__":
    main()
