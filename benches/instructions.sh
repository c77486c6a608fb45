#!/usr/bin/env bash
# Instructions per request of every variant of benches/common (sections 1 to 3 of
# RESULTS.md), counted by valgrind's callgrind: unlike timings, these counts do not depend
# on the machine's load, so they show what a change to a layer costs or saves.
#
#   benches/instructions.sh              # every variant (about 10 minutes)
#   benches/instructions.sh retry cache  # the variants whose name contains one of the words
#
# Each variant runs N and 2N requests (RECOURSE_BENCH_ONLY mode of benches/interleaved.rs);
# the difference divided by N is the cost of one request, set-up excluded. The table also
# gives the instructions over the variant's baseline. Needs valgrind.
set -euo pipefail

N=${N:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "instructions: valgrind is missing (apt-get install -y valgrind)" >&2; exit 2; }

echo "building (release)..." >&2
bin=$(cargo bench --bench interleaved --no-run --message-format json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "interleaved" and m.get("executable"):
        print(m["executable"])')
[ -x "$bin" ] || { echo "instructions: cannot build the interleaved bench" >&2; exit 1; }
work=$(mktemp -d -t recourse-instr.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/bench"

# Variant names and their baselines, from the bench itself.
RECOURSE_BENCH_LIST=1 "$work/bench" >"$work/list"

count() { # variant iterations -> instructions
    RECOURSE_BENCH_ONLY="$1" RECOURSE_BENCH_ITERS="$2" valgrind --tool=callgrind \
        --callgrind-out-file="$work/out" "$work/bench" >/dev/null 2>"$work/log"
    awk '/^summary:/ { print $2 }' "$work/out"
}

declare -A per
printf '| variant | instructions per request | over baseline |\n|---|---|---|\n'
while IFS=$'\t' read -r name baseline; do
    if [ $# -gt 0 ]; then
        keep=""
        for word in "$@"; do
            if [[ "$name" == *"$word"* || "$name" == baseline* ]]; then keep=1; fi
        done
        [ -n "$keep" ] || continue
    fi
    one=$(count "$name" "$N")
    two=$(count "$name" $((2 * N)))
    per[$name]=$(((two - one) / N))
    over="—"
    if [ -n "$baseline" ] && [ -n "${per[$baseline]:-}" ]; then
        over=$((per[$name] - per[$baseline]))
    fi
    printf '| %s | %s | %s |\n' "$name" "${per[$name]}" "$over"
done <"$work/list"
