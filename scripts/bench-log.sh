#!/usr/bin/env bash
# Measures what the durable log costs, in one run, the modes interleaved:
# server CPU per SET and SET requests/s at 50 connections x 16 in flight
# with the log off, `everysec` and `always` (each round a fresh server on
# an empty persist path), then the restart time of a store of KEYS keys
# written with the log on (kill -9, start again, time until it answers).
#
# Server CPU is utime + stime of the whole process (the log thread
# included) from /proc/PID/stat. The server runs pinned to SERVER_CORE
# (default 0), the load generator to CLIENT_CORE (default 1). The figures
# printed per mode are medians of ROUNDS rounds (default 3). Machines are
# noisy: compare the ratios, which come from the same run.
#
# Usage: scripts/bench-log.sh
#        ROUNDS=5 REQUESTS=2000000 KEYS=1000000 scripts/bench-log.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-1000000}
KEYS=${KEYS:-1000000}
PORT=${PORT:-21990}
WORK=$(mktemp -d)
trap 'cleanup' EXIT

cleanup() {
    [[ -n "${PID:-}" ]] && kill -9 "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}

if [[ $(nproc) -lt 2 ]]; then
    echo "needs at least 2 cores (server and client pinned apart)" >&2
    exit 1
fi

echo "== building ndb (profile dist)"
cargo build --profile dist --quiet -p ndb-server -p ndb-bench -p ndb-cli
SERVER=target/dist/ndb-server
BENCH=target/dist/ndb-bench
CLI=target/dist/ndb-cli
ticks_per_sec=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['tests'][0]$1)"; }

# start MODE DIR: a server on an existing persist path DIR, with the log
# off or with the given fsync policy; waits until it listens.
start() {
    local mode=$1 dir=$2 args=()
    printf '{"version":5,"persist":{"enabled":true,"path":"%s"}}' "$dir" >"$WORK/config.json"
    [[ $mode != off ]] && args=(--log --log-fsync "$mode")
    RUST_LOG=warn taskset -c "$SERVER_CORE" "$SERVER" --config "$WORK/config.json" \
        --port "$PORT" "${args[@]}" >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 2000); do
        (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return
        sleep 0.005
    done
    echo "ndb-server did not start" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

# The server's KV_COUNT.
count() {
    "$CLI" -p "$PORT" --raw KV_COUNT | python3 -c "import json,sys; print(json.load(sys.stdin)['KV_COUNT_RSP']['cnt'])"
}

declare -A RPS CPU
for round in $(seq "$ROUNDS"); do
    for mode in off everysec always; do
        rm -rf "$WORK/data" && mkdir -p "$WORK/data"
        start "$mode" "$WORK/data"
        before=$(cpu_ticks "$PID")
        rps=$(taskset -c "$CLIENT_CORE" "$BENCH" -p "$PORT" -c 50 -P 16 -n "$REQUESTS" -d 16 \
            -r 100000 -t kv_set --json | json_get "['rps']")
        after=$(cpu_ticks "$PID")
        cpu=$(awk -v t=$((after - before)) -v n="$REQUESTS" -v hz="$ticks_per_sec" \
            'BEGIN {print t / hz * 1e6 / n}')
        echo "round $round, log $mode: $rps SET/s, $cpu us of server CPU per SET"
        RPS[$mode]+="$rps "
        CPU[$mode]+="$cpu "
        kill -9 "$PID" && wait "$PID" 2>/dev/null || true
        PID=
    done
done

echo "== restart of $KEYS keys written with the log on (everysec), after kill -9"
rm -rf "$WORK/data" && mkdir -p "$WORK/data"
start everysec "$WORK/data"
taskset -c "$CLIENT_CORE" "$BENCH" -p "$PORT" -c 50 -P 16 -d 16 --preload "$KEYS" \
    -t kv_count -n 1000 -q >/dev/null
sleep 2 # everysec: let the last second reach the disk
keys_before=$(count)
kill -9 "$PID" && wait "$PID" 2>/dev/null || true
log_bytes=$(du -sb "$WORK/data" | awk '{print $1}')
t0=$(date +%s.%N)
start everysec "$WORK/data"
# The listener is bound before the log is replayed: the first reply is
# what says the server serves.
keys_after=$(count)
t1=$(date +%s.%N)
kill -9 "$PID" && wait "$PID" 2>/dev/null || true
PID=
restart=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')

echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $(date -u +%F)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| log | SET/s (median of $ROUNDS) | server CPU per SET (us) | vs off |"
echo "|---|---:|---:|---|"
off_rps=$(echo "${RPS[off]}" | tr ' ' '\n' | grep . | median)
off_cpu=$(echo "${CPU[off]}" | tr ' ' '\n' | grep . | median)
for mode in off everysec always; do
    rps=$(echo "${RPS[$mode]}" | tr ' ' '\n' | grep . | median)
    cpu=$(echo "${CPU[$mode]}" | tr ' ' '\n' | grep . | median)
    vs=$(awk -v r="$rps" -v c="$cpu" -v R="$off_rps" -v C="$off_cpu" \
        'BEGIN {printf "throughput %.2f, CPU %+.0f %%", r / R, (c / C - 1) * 100}')
    [[ $mode == off ]] && vs=""
    echo "| $mode | $rps | $cpu | $vs |"
done
echo
echo "restart: $keys_before keys before kill -9, $keys_after after; $log_bytes bytes under persist.path; serving (its first reply) after $restart s"
