#!/usr/bin/env bash
# The client against the server's ceiling: `wrk` and the project's client polling the same
# `get_result` URL of a `bfl-sim` whose task never finishes (no request log), the simulator
# pinned to CPU 0 and the load generator (wrk, then the client) to CPU 1, at 1, 100 and
# 10 000 connections / tasks in flight. Prints both figures and their ratio.
#
#   scripts/ceiling.sh [SECONDS] [IN_FLIGHT...]     (defaults: 5 s; 1 100 10000)
#
# Installs wrk (and GNU time) from the distribution's packages where missing (apt-get). Beside
# each figure it prints the share of CPU 1 each program got (CPU seconds / wall seconds): on a
# machine where other work shares that core, a ratio is only as fair as those shares are equal.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-5}
shift || true
IN_FLIGHT=("${@:-1 100 10000}")
read -r -a IN_FLIGHT <<<"${IN_FLIGHT[*]}"
PORT=${CEILING_PORT:-18787}

if ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
    apt-get install -y time >/dev/null
fi
cargo build --release -q -p bfl-sim --bin bfl-sim
cargo build --release -q --example ceiling_client

scenario=$(mktemp --suffix=.json)
echo '{"record_requests": false, "progress": false, "durations": {"*": "fixed:1000000"}}' >"$scenario"
taskset -c 0 target/release/bfl-sim --port "$PORT" --scenario "$scenario" --active-limit 1000000 \
    >/dev/null 2>&1 &
sim=$!
times_w=$(mktemp)
times_c=$(mktemp)
trap 'kill "$sim" 2>/dev/null; rm -f "$scenario" "$times_w" "$times_c"' EXIT
# The share of the core a run got, from GNU time's "elapsed user system".
cpu_share() { awk '{printf "%.2f", ($2 + $3) / $1}' "$1"; }
base="http://127.0.0.1:$PORT"
for _ in $(seq 50); do
    curl -s -o /dev/null "$base/v1/get_result?id=x" && break
    sleep 0.1
done
submitted=$(curl -s -X POST "$base/v1/flux-2-pro" -H 'x-key: bfl_ceiling' \
    -H 'content-type: application/json' -d '{"prompt": "ceiling"}')
id=$(sed -E 's/.*"id": *"([^"]+)".*/\1/' <<<"$submitted")
polling_url=$(sed -E 's/.*"polling_url": *"([^"]+)".*/\1/' <<<"$submitted")

printf '%-10s %12s %12s %7s %8s %8s\n' "in flight" "wrk req/s" "client/s" "ratio" "wrk cpu" "cli cpu"
for n in "${IN_FLIGHT[@]}"; do
    # wrk needs at least one connection per thread; one thread, as the client has one core.
    w=$(/usr/bin/time -f '%e %U %S' -o "$times_w" taskset -c 1 \
        wrk -t1 -c"$n" -d"${SECONDS_EACH}s" -H 'x-key: bfl_ceiling' "$polling_url" \
        | awk '/Requests\/sec/ {print $2}')
    c=$(/usr/bin/time -f '%e %U %S' -o "$times_c" taskset -c 1 \
        target/release/examples/ceiling_client "$base" "$polling_url" "$id" "$n" "$SECONDS_EACH" \
        | awk '{print $(NF-1)}')
    printf '%-10s %12.0f %12.0f %7.2f %8s %8s\n' "$n" "$w" "$c" \
        "$(awk -v a="$c" -v b="$w" 'BEGIN {print a / b}')" "$(cpu_share "$times_w")" \
        "$(cpu_share "$times_c")"
done
