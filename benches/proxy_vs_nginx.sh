#!/usr/bin/env bash
# recourse-proxy against nginx, both in front of the same hyper upstream
# (examples/bench_upstream.rs), measured with wrk in interleaved rounds, on 127.0.0.1 only.
#
#   benches/proxy_vs_nginx.sh            # 5 rounds of 3 s per measurement (about 2 minutes)
#   ROUNDS=3 SECS=2 benches/proxy_vs_nginx.sh
#   PROXY_ARGS="--no-cache --no-retry" SCENARIOS=pass benches/proxy_vs_nginx.sh   # the proxy without layers
#
# Scenarios: pass-through (GET /pass: Cache-Control: no-store, forwarded every time) and
# cache hits (GET /cached: Cache-Control: public, max-age=3600, primed once). Each round
# measures, in alternating order, recourse-proxy and nginx on both paths, plus the upstream
# directly. The script checks that cache hits never reached the upstream.
#
# Set-up: nginx with worker_processes 1, proxy_cache, an upstream block with keepalive
# connections, access log off; recourse-proxy with its defaults (shared cache and retry on),
# --no-access-log and --threads 1 (a current-thread runtime, like nginx's single worker
# process); a minimal hyper-util proxy (crates/recourse-proxy/examples/minimal_proxy.rs:
# current-thread runtime, no header work, no logs) on the pass-through path, as the floor
# any hyper-based proxy stands on; the upstream with one worker thread; wrk with one thread
# and CONNS connections.
# Needs: nginx and wrk (apt-get install -y nginx wrk), cargo, python3 (free ports).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
CONNS=${CONNS:-32}
BODY_BYTES=${BODY_BYTES:-1024}
PROXY_THREADS=${PROXY_THREADS:-1}
PROXY_ARGS=${PROXY_ARGS:-}   # extra recourse-proxy options, e.g. "--no-cache --no-retry"
SCENARIOS=${SCENARIOS:-pass hit}
hits=""
case " $SCENARIOS " in *" hit "*) hits=1 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in nginx wrk python3; do
    command -v "$tool" >/dev/null || { echo "proxy_vs_nginx: $tool is missing (apt-get install -y nginx wrk)" >&2; exit 2; }
done

echo "building (release)..." >&2
cargo build --release --quiet -p recourse-proxy
cargo build --release --quiet -p recourse-proxy --example minimal_proxy
cargo build --release --quiet --example bench_upstream
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
proxy_bin="$target/release/recourse-proxy"
upstream_bin="$target/release/examples/bench_upstream"
minimal_bin="$target/release/examples/minimal_proxy"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
up_port=$(free_port)
proxy_port=$(free_port)
nginx_port=$(free_port)
while [ "$proxy_port" = "$up_port" ]; do proxy_port=$(free_port); done
while [ "$nginx_port" = "$up_port" ] || [ "$nginx_port" = "$proxy_port" ]; do nginx_port=$(free_port); done
min_port=$(free_port)
while [ "$min_port" = "$up_port" ] || [ "$min_port" = "$proxy_port" ] || [ "$min_port" = "$nginx_port" ]; do min_port=$(free_port); done

work=$(mktemp -d -t recourse-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # url
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "proxy_vs_nginx: $1 did not answer" >&2
    exit 1
}

"$upstream_bin" --listen "127.0.0.1:$up_port" --body-bytes "$BODY_BYTES" --threads 1 2>"$work/upstream.log" &
pids+=($!)
wait_for "http://127.0.0.1:$up_port/stats"

RUST_LOG=warn TOKIO_WORKER_THREADS=$PROXY_THREADS "$proxy_bin" \
    --listen "127.0.0.1:$proxy_port" --upstream "http://127.0.0.1:$up_port" \
    --no-access-log --threads "$PROXY_THREADS" $PROXY_ARGS >"$work/proxy.log" 2>&1 &
pids+=($!)
"$minimal_bin" "127.0.0.1:$min_port" "127.0.0.1:$up_port" 2>"$work/minimal.log" &
pids+=($!)

user_line=""
if [ "$(id -u)" = 0 ]; then user_line="user root;"; fi
mkdir -p "$work/nginx/cache" "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/client;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=60m use_temp_path=off;
    upstream bench_upstream {
        server 127.0.0.1:$up_port;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
        }
    }
}
EOF
nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

wait_for "http://127.0.0.1:$proxy_port/pass"
wait_for "http://127.0.0.1:$nginx_port/pass"
wait_for "http://127.0.0.1:$min_port/pass"
# Prime both caches, and check that a second request is a hit (it does not reach the upstream).
for port in ${hits:+"$proxy_port" "$nginx_port"}; do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/cached"
    sleep 0.2
    before=$(curl -fsS "http://127.0.0.1:$up_port/stats")
    curl -fsS -o /dev/null "http://127.0.0.1:$port/cached"
    after=$(curl -fsS "http://127.0.0.1:$up_port/stats")
    if [ "$before" != "$after" ]; then
        echo "proxy_vs_nginx: the proxy on port $port did not serve /cached from its cache ($before -> $after)" >&2
        exit 1
    fi
done

run_wrk() { # name url -> appends "name rps" to results
    local out rps
    out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" "$2")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
        echo "proxy_vs_nginx: $1 had errors:" >&2
        echo "$out" >&2
    fi
    echo "$1 $rps" >>"$work/results"
    printf '  %-26s %10s req/s\n' "$1" "$rps" >&2
}

echo "warm-up..." >&2
for port in "$proxy_port" "$nginx_port" "$min_port"; do
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/pass" >/dev/null
    if [ "$port" = "$min_port" ]; then continue; fi
    if [ -n "$hits" ]; then wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/cached" >/dev/null; fi
done
hits_before=$(curl -fsS "http://127.0.0.1:$up_port/stats")

: >"$work/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    case $((round % 3)) in
        1) order="recourse nginx minimal" ;;
        2) order="nginx minimal recourse" ;;
        *) order="minimal recourse nginx" ;;
    esac
    for who in $order; do
        case $who in
            recourse) port=$proxy_port ;;
            nginx) port=$nginx_port ;;
            *) port=$min_port ;;
        esac
        run_wrk "$who-pass" "http://127.0.0.1:$port/pass"
        if [ -n "$hits" ] && [ "$who" != minimal ]; then run_wrk "$who-hit" "http://127.0.0.1:$port/cached"; fi
    done
    run_wrk "upstream-direct" "http://127.0.0.1:$up_port/pass"
done
hits_after=$(curl -fsS "http://127.0.0.1:$up_port/stats")
cached_before=${hits_before##*cached=}
cached_after=${hits_after##*cached=}

median() { # name
    awk -v n="$1" '$1 == n { print $2 }' "$work/results" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() { # name
    awk -v n="$1" '$1 == n { print $2 }' "$work/results" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f–%.0f", lo, hi }'
}
rp=$(median recourse-pass); np=$(median nginx-pass)
rh=$(median recourse-hit); nh=$(median nginx-hit)
rh=${rh:-0}; nh=${nh:-1}
ud=$(median upstream-direct)
mp=$(median minimal-pass)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { # ratio goal
    awk -v r="$1" -v g="$2" 'BEGIN { if (r >= g) printf "met (+%.2f)", r - g; else printf "**not met** (%.2f short)", g - r }'
}
pass_ratio=$(ratio "$rp" "$np")
min_ratio=$(ratio "$rp" "$mp")
min_nginx=$(ratio "$mp" "$np")
hit_ratio=$(ratio "$rh" "$nh")

{
    echo "recourse-proxy vs nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk -t1 -c$CONNS, $ROUNDS interleaved rounds of ${SECS} s, body $BODY_BYTES bytes;"
    echo "requests/s, median (min–max). $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "recourse-proxy: --threads $PROXY_THREADS --no-access-log, options: ${PROXY_ARGS:-defaults (shared cache, retry)}; nginx: worker_processes 1, access_log off; minimal hyper-util proxy: current-thread."
    echo
    echo "| scenario | recourse-proxy | nginx | recourse / nginx | goal | met |"
    echo "|---|---|---|---|---|---|"
    echo "| pass-through (no-store) | $(printf %.0f "$rp") ($(range recourse-pass)) | $(printf %.0f "$np") ($(range nginx-pass)) | $pass_ratio | ≥ 1.00 | $(verdict "$pass_ratio" 1.0) |"
    echo "| pass-through vs the minimal hyper-util proxy | $(printf %.0f "$rp") | minimal: $(printf %.0f "$mp") ($(range minimal-pass)); minimal / nginx: $min_nginx | $min_ratio | ≥ 1.00 | $(verdict "$min_ratio" 1.0) |"
    if [ -n "$hits" ]; then
        echo "| cache hit (max-age) | $(printf %.0f "$rh") ($(range recourse-hit)) | $(printf %.0f "$nh") ($(range nginx-hit)) | $hit_ratio | ≥ 1.50 | $(verdict "$hit_ratio" 1.5) |"
    fi
    echo "| upstream alone (for scale) | $(printf %.0f "$ud") ($(range upstream-direct)) | | | | |"
    if [ -n "$hits" ]; then
        echo
        echo "Upstream requests to /cached during the measured rounds: $((cached_after - cached_before)) (0: every hit came from a cache)."
    fi
}
