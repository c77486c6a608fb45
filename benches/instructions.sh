#!/usr/bin/env bash
# Instructions per request of every variant of benches/common (sections 1 to 3 of
# RESULTS.md and issue 19's rows), counted by valgrind's callgrind: unlike timings, these
# counts do not depend on the machine's load, so they show what a change to a layer costs
# or saves, and several can run at once.
#
#   benches/instructions.sh                      # every variant (about 5 minutes on 2 cores)
#   benches/instructions.sh retry cache          # the variants whose name contains a word,
#                                                # their peers and their baselines
#   benches/instructions.sh --csv out.csv retry  # also write the counts as CSV
#
# Each variant runs N and 2N requests (RECOURSE_BENCH_ONLY mode of benches/interleaved.rs);
# the difference divided by N is the cost of one request, set-up excluded. Prints every
# variant's instructions over its baseline, then issue 19's rows: ours over the baseline,
# the peer's over the same baseline, and the ratio (benches/instructions.py).
# N (default 2000) and JOBS (valgrind processes at once, default nproc) tune the run;
# BENCH_BIN=PATH measures that interleaved bench binary instead of building one.
# Needs valgrind and python3.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "instructions: valgrind is missing (apt-get install -y valgrind)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "instructions: python3 is missing" >&2; exit 2; }

if [ -n "${BENCH_BIN:-}" ]; then
    bin=$BENCH_BIN # an interleaved bench built already (benches/issue19.sh)
else
    echo "building (release)..." >&2
    bin=$(cargo bench --bench interleaved --no-run --message-format json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "interleaved" and m.get("executable"):
        print(m["executable"])')
fi
[ -x "$bin" ] || { echo "instructions: cannot build the interleaved bench" >&2; exit 1; }
work=$(mktemp -d -t recourse-instr.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A copy: a later build cannot replace the binary while it is measured.
cp "$bin" "$work/bench"

python3 "$root/benches/instructions.py" --bench "$work/bench" "$@"
