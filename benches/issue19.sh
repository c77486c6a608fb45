#!/usr/bin/env bash
# Everything issue 19 measures, in one command, on the working tree as it is:
#
#   benches/issue19.sh
#
# 1. build the benches (release; the later steps run that build even if the sources change);
# 2. `cargo bench --bench interleaved` (timings of every variant and issue 19's rows next to
#    their peers, interleaved rounds)      -> benches/results/interleaved.{md,json}
# 3. `cargo bench --bench loopback` (the full stack around hyper-util's Client over
#    127.0.0.1, next to the bare client)   -> benches/results/loopback.{md,json}
# 4. `cargo bench --bench alloc` (allocations per request)
#                                          -> benches/results/alloc.{md,json}
# 5. `benches/instructions.sh` (callgrind instructions per request, ours and the peers')
#                                          -> benches/results/instructions.{md,csv}
# 6. `benches/chart.py`                    -> benches/overhead.svg
#
# and prints the wall time of each step (also in benches/results/steps.txt). The timing
# steps run one after the other with nothing else of ours beside them; run on a quiet
# machine for figures worth publishing. With the defaults on 2 cores (2026-12-07, load 4–5
# from other builds): 14 min in all, of which 8 min building the benches after others'
# changes; interleaved 25 s, loopback 31 s, alloc 2 s, instructions 5 min, chart < 1 s.
#
# Settings (environment): ROUNDS (interleaved rounds, default 201), LOOPBACK_ROUNDS
# (default 15), N (instructions.sh requests, default 2000), JOBS (valgrind processes at
# once, default nproc), STEPS (which measuring steps, default "interleaved loopback alloc
# instructions chart"; the build always runs), OUT (the results directory, default benches/results).
# Needs python3 and valgrind (steps 5 and 6).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-benches/results}
steps=${STEPS:-interleaved loopback alloc instructions chart}
mkdir -p "$out"
: >"$out/steps.txt"

has() { [[ " $steps " == *" $1 "* ]]; }

step() { # name command...: runs a step, prints and records its wall time
    local name=$1
    shift
    echo "== $name: $*" >&2
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    local took
    took=$(python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{int(s//60)} min {s%60:.0f} s')" "$start" "$end")
    echo "== $name took $took" >&2
    printf '%s\t%s\t%s\n' "$name" "$took" "$*" >>"$out/steps.txt"
}

total_start=$(date +%s)
echo "issue 19 run on $(git describe --always --dirty --abbrev=10 2>/dev/null || echo 'no git'), $(date -u '+%Y-%m-%d %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The bench binaries are built once, then run directly (what `cargo bench --bench NAME`
# runs, from the same directory): the other steps measure that build even if the sources
# change meanwhile.
bins=$(mktemp -d -t recourse-issue19.XXXXXX)
trap 'rm -rf "$bins"' EXIT
build() {
    cargo bench --no-run --bench interleaved --bench loopback --bench alloc --message-format json |
        python3 -c 'import json,shutil,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        shutil.copy(m["executable"], sys.argv[1] + "/" + m["target"]["name"])' "$bins"
    for b in interleaved loopback alloc; do
        [ -x "$bins/$b" ] || { echo "issue19: the $b bench did not build (cargo bench --no-run shows why)" >&2; exit 1; }
    done
}
step build build

has interleaved && step interleaved bash -c "RECOURSE_BENCH_ROUNDS=${ROUNDS:-201} RECOURSE_BENCH_JSON='$out/interleaved.json' '$bins/interleaved' >'$out/interleaved.md'"

has loopback && step loopback bash -c "RECOURSE_BENCH_ROUNDS=${LOOPBACK_ROUNDS:-15} RECOURSE_BENCH_JSON='$out/loopback.json' '$bins/loopback' >'$out/loopback.md'"

has alloc && step alloc bash -c "RECOURSE_BENCH_JSON='$out/alloc.json' '$bins/alloc' >'$out/alloc.md'"

has instructions && step instructions bash -c "BENCH_BIN='$bins/interleaved' benches/instructions.sh --csv '$out/instructions.csv' >'$out/instructions.md'"

if has chart; then
    args=(--interleaved "$out/interleaved.json" --out benches/overhead.svg)
    [ -f "$out/loopback.json" ] && args+=(--loopback "$out/loopback.json")
    [ -f "$out/instructions.csv" ] && args+=(--instructions "$out/instructions.csv")
    step chart python3 benches/chart.py "${args[@]}"
    python3 -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" benches/overhead.svg
fi

total=$(($(date +%s) - total_start))
echo >&2
echo "wall time per step:" >&2
column -t -s $'\t' "$out/steps.txt" >&2 || cat "$out/steps.txt" >&2
echo "total: $((total / 60)) min $((total % 60)) s; results in $out/, chart in benches/overhead.svg" >&2
printf 'total\t%d min %d s\n' $((total / 60)) $((total % 60)) >>"$out/steps.txt"
