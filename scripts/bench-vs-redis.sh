#!/usr/bin/env bash
# Measures ndb against Redis on this machine, side by side, and prints the
# table of docs/performance.md: server CPU per request and requests/s at
# 50 connections x 16 in flight (SET and GET, 16-byte values), p99 latency
# at 1 x 1, resident memory per key (1,000,000 keys of 16-byte keys and
# values), per idle WebSocket/TCP connection (2,000 of them), and ndb's
# stripped binary size and idle RSS.
#
# The servers run pinned to one core (SERVER_CORE, default 0) and the load
# generators to another (CLIENT_CORE, default 1). Each throughput and
# latency figure is the median of REPEAT runs (default 3). Machines are
# noisy: compare the ratios, which come from the same session.
#
# Usage: scripts/bench-vs-redis.sh            (installs redis if missing)
#        REPEAT=5 REQUESTS=4000000 scripts/bench-vs-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
REPEAT=${REPEAT:-3}
REQUESTS=${REQUESTS:-2000000}
KEYS=${KEYS:-1000000}
IDLE=${IDLE:-2000}
NDB_PORT=${NDB_PORT:-21987}
REDIS_PORT=${REDIS_PORT:-26379}
WORK=$(mktemp -d)
trap 'cleanup' EXIT

cleanup() {
    [[ -n "${NDB_PID:-}" ]] && kill "$NDB_PID" 2>/dev/null || true
    [[ -n "${REDIS_PID:-}" ]] && kill "$REDIS_PID" 2>/dev/null || true
    rm -rf "$WORK"
}

need() { command -v "$1" >/dev/null 2>&1; }

if ! need redis-server || ! need redis-benchmark || ! need redis-cli; then
    echo "== installing redis-server and redis-tools"
    apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if [[ $(nproc) -lt 2 ]]; then
    echo "needs at least 2 cores (server and client pinned apart)" >&2
    exit 1
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The shipped build (fat LTO), as docs/performance.md's figures are.
echo "== building ndb (profile dist)"
cargo build --profile dist --quiet -p ndb-server -p ndb-bench
NDB_SERVER=target/dist/ndb-server
NDB_BENCH=target/dist/ndb-bench

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ticks_per_sec=$(getconf CLK_TCK)

start_ndb() {
    taskset -c "$SERVER_CORE" "$NDB_SERVER" --port "$NDB_PORT" >"$WORK/ndb.log" 2>&1 &
    NDB_PID=$!
    for _ in $(seq 100); do
        grep -q listening "$WORK/ndb.log" 2>/dev/null && return
        sleep 0.05
    done
    echo "ndb-server did not start" >&2
    cat "$WORK/ndb.log" >&2
    exit 1
}
stop_ndb() { kill -INT "$NDB_PID"; wait "$NDB_PID" 2>/dev/null || true; NDB_PID=; }

start_redis() {
    taskset -c "$SERVER_CORE" redis-server --port "$REDIS_PORT" --save "" --appendonly no \
        --maxclients 10000 --logfile "$WORK/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return
        sleep 0.05
    done
    echo "redis-server did not start" >&2
    exit 1
}
stop_redis() { redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=; }

json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['tests'][0]$1)"; }
csv_get() { awk -F'","' -v col="$1" 'NR == 2 {gsub(/"/, "", $col); print $col}'; }

# One throughput run: prints "rps cpu_us_per_request".
ndb_rate() {
    local test=$1 before after rps
    before=$(cpu_ticks "$NDB_PID")
    rps=$(taskset -c "$CLIENT_CORE" "$NDB_BENCH" -p "$NDB_PORT" -c 50 -P 16 -n "$REQUESTS" -d 16 -r 100000 -t "$test" --json | json_get "['rps']")
    after=$(cpu_ticks "$NDB_PID")
    echo "$rps $(awk -v t=$((after - before)) -v n="$REQUESTS" -v hz="$ticks_per_sec" 'BEGIN {print t / hz * 1e6 / n}')"
}
redis_rate() {
    local test=$1 before after rps
    before=$(cpu_ticks "$REDIS_PID")
    rps=$(taskset -c "$CLIENT_CORE" redis-benchmark -p "$REDIS_PORT" -c 50 -P 16 -n "$REQUESTS" -d 16 -r 100000 -t "$test" --csv 2>/dev/null | csv_get 2)
    after=$(cpu_ticks "$REDIS_PID")
    echo "$rps $(awk -v t=$((after - before)) -v n="$REQUESTS" -v hz="$ticks_per_sec" 'BEGIN {print t / hz * 1e6 / n}')"
}

declare -A R
measure_rates() {
    local server=$1 test=$2 name=$3 runs=() i
    for i in $(seq "$REPEAT"); do runs+=("$("${server}_rate" "$test")"); done
    R[$name.rps]=$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | median)
    R[$name.cpu]=$(printf '%s\n' "${runs[@]}" | awk '{print $2}' | median)
}

echo "== throughput and CPU per request, 50 x 16, 16-byte values (median of $REPEAT)"
start_redis
taskset -c "$CLIENT_CORE" redis-benchmark -p "$REDIS_PORT" -c 50 -P 16 -n 200000 -d 16 -r 100000 -t set -q >/dev/null 2>&1
measure_rates redis set redis.set
measure_rates redis get redis.get
echo "== p99 latency at 1 x 1"
p99s=()
for i in $(seq "$REPEAT"); do
    p99s+=("$(taskset -c "$CLIENT_CORE" redis-benchmark -p "$REDIS_PORT" -c 1 -P 1 -n 100000 -d 16 -r 100000 -t get --csv 2>/dev/null | csv_get 7)")
done
R[redis.p99]=$(printf '%s\n' "${p99s[@]}" | awk '{print $1 * 1000}' | median)
stop_redis

start_ndb
taskset -c "$CLIENT_CORE" "$NDB_BENCH" -p "$NDB_PORT" -c 50 -P 16 -n 200000 -d 16 -r 100000 -t kv_set -q >/dev/null
measure_rates ndb kv_set ndb.set
measure_rates ndb kv_get ndb.get
p99s=()
for i in $(seq "$REPEAT"); do
    p99s+=("$(taskset -c "$CLIENT_CORE" "$NDB_BENCH" -p "$NDB_PORT" -c 1 -P 1 -n 100000 -d 16 -r 100000 -t kv_get --json | json_get "['latency_us']['p99']")")
done
R[ndb.p99]=$(printf '%s\n' "${p99s[@]}" | median)
stop_ndb

echo "== memory per key: $KEYS keys, 16-byte keys and values"
python3 - "$KEYS" >"$WORK/keys.resp" <<'EOF'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    out.write(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nxxxxxxxxxxxxxxxx\r\n" % i)
EOF
start_redis
before=$(rss_kib "$REDIS_PID")
redis-cli -p "$REDIS_PORT" --pipe <"$WORK/keys.resp" >/dev/null
after=$(rss_kib "$REDIS_PID")
R[redis.key]=$(( (after - before) * 1024 / KEYS ))
stop_redis
start_ndb
before=$(rss_kib "$NDB_PID")
taskset -c "$CLIENT_CORE" "$NDB_BENCH" -p "$NDB_PORT" -c 50 -P 16 --preload "$KEYS" -d 16 -t kv_count -n 1 -q >/dev/null
after=$(rss_kib "$NDB_PID")
R[ndb.key]=$(( (after - before) * 1024 / KEYS ))
stop_ndb

echo "== memory per idle connection: $IDLE connections"
start_redis
before=$(rss_kib "$REDIS_PID")
redis-benchmark -p "$REDIS_PORT" -c "$IDLE" -I >/dev/null 2>&1 &
client=$!
until [[ $(redis-cli -p "$REDIS_PORT" info clients | awk -F: '/^connected_clients/ {print $2+0}') -gt $IDLE ]]; do sleep 0.1; done
sleep 1
after=$(rss_kib "$REDIS_PID")
kill "$client"; wait "$client" 2>/dev/null || true
R[redis.conn]=$(( (after - before) * 1024 / IDLE ))
stop_redis
start_ndb
before=$(rss_kib "$NDB_PID")
"$NDB_BENCH" -p "$NDB_PORT" -c "$IDLE" -I --duration 30 >"$WORK/idle.out" &
client=$!
until grep -q "idle connections open" "$WORK/idle.out" 2>/dev/null; do sleep 0.1; done
sleep 1
after=$(rss_kib "$NDB_PID")
kill "$client"; wait "$client" 2>/dev/null || true
R[ndb.conn]=$(( (after - before) * 1024 / IDLE ))
stop_ndb

echo "== binary and idle RSS"
cp "$NDB_SERVER" "$WORK/ndb-server" && strip "$WORK/ndb-server"
R[ndb.binary]=$(stat -c %s "$WORK/ndb-server")
start_ndb
sleep 0.5
R[ndb.idle]=$(rss_kib "$NDB_PID")
stop_ndb

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "Machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ //'); $(date -u +%Y-%m-%d)"
echo "redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2); ndb $(grep -m1 '^version = ' Cargo.toml | cut -d'"' -f2)"
echo
printf '| %-44s | %12s | %12s | %11s |\n' "figure" "ndb" "Redis" "ndb / Redis"
printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "--------------" "--------------" "-------------"
row() { printf '| %-44s | %12s | %12s | %11s |\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
row "server CPU per SET, 50 x 16 (us)" "$(printf %.3f "${R[ndb.set.cpu]}")" "$(printf %.3f "${R[redis.set.cpu]}")"
row "server CPU per GET, 50 x 16 (us)" "$(printf %.3f "${R[ndb.get.cpu]}")" "$(printf %.3f "${R[redis.get.cpu]}")"
row "SET requests/s, 50 x 16" "$(printf %.0f "${R[ndb.set.rps]}")" "$(printf %.0f "${R[redis.set.rps]}")"
row "GET requests/s, 50 x 16" "$(printf %.0f "${R[ndb.get.rps]}")" "$(printf %.0f "${R[redis.get.rps]}")"
row "GET p99 latency, 1 x 1 (us)" "$(printf %.1f "${R[ndb.p99]}")" "$(printf %.1f "${R[redis.p99]}")"
row "resident memory per key (bytes)" "${R[ndb.key]}" "${R[redis.key]}"
row "resident memory per idle connection (bytes)" "${R[ndb.conn]}" "${R[redis.conn]}"
printf '| %-44s | %12s | %12s | %11s |\n' "stripped ndb-server binary (bytes)" "${R[ndb.binary]}" "-" "-"
printf '| %-44s | %12s | %12s | %11s |\n' "ndb-server RSS at idle (KiB)" "${R[ndb.idle]}" "-" "-"
