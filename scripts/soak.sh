#!/usr/bin/env bash
# Soak test, bounded and on loopback only: CONNECTIONS clients (default
# 1000) for SECONDS (default 60) against a release ndb-server, mixing
# commands, malformed messages, protocol violations and abrupt disconnects
# (scripts/soak.py). Prints requests served, errors, and the server's RSS
# before, at its peak, and after the clients left.
#
#   scripts/soak.sh                 # 1000 connections, 60 s
#   CONNECTIONS=200 SOAK_SECONDS=10 scripts/soak.sh
#
# Exit status 1 if any reply was wrong, any write was lost, or RSS did not
# come back to within 10% of the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${CONNECTIONS:-1000}
seconds=${SOAK_SECONDS:-60}
port=${PORT:-19870}
max_payload=65536
work=target/soak
mkdir -p "$work"

if ! python3 -c 'import websockets.asyncio.client' 2>/dev/null; then
    echo "soak: needs the Python websockets package (pip install 'websockets>=14')" >&2
    exit 2
fi
ulimit -n "$((connections * 2 + 256))" 2>/dev/null || true

cargo build --quiet --release -p ndb-server
./target/release/ndb-server --port "$port" --max-payload "$max_payload" \
    --max-connections "$((connections * 2))" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$work/server.log" 2>/dev/null && break
    sleep 0.05
done
url="ws://127.0.0.1:$port/"
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }

# The data set the soak overwrites (same-size values), so that what is
# compared is the server's own memory, not the data.
python3 scripts/soak.py "$url" --connections "$connections" --populate
baseline=$(rss_kib)
echo "soak: $connections connections for ${seconds}s against $url (baseline RSS ${baseline} KiB)"

peak=$baseline
python3 scripts/soak.py "$url" --connections "$connections" --seconds "$seconds" \
    --max-payload "$max_payload" >"$work/result.json" &
client=$!
while kill -0 "$client" 2>/dev/null; do
    now=$(rss_kib)
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.5
done
wait "$client"

# Closing connections linger at most 2 s; give the server a moment.
sleep 3
end=$(rss_kib)
python3 - "$work/result.json" "$baseline" "$peak" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
baseline, peak, end = (int(x) for x in sys.argv[2:5])
print("connections opened: %d (plus %d hostile raw ones)" % (r["connections_opened"], r["hostile"]))
print("requests: %d sent, %d replies checked" % (r["requests"], r["replies"]))
print("expected closes: %s; abrupt disconnects: %d" % (r["expected_closes"], r["aborts"]))
print("errors: %d" % r["errors"])
for e in r["first_errors"]:
    print("  " + e)
print("RSS: baseline %d KiB, peak %d KiB, end %d KiB (%+.1f%%)" % (baseline, peak, end, 100.0 * (end - baseline) / baseline))
ok = r["errors"] == 0 and r["replies"] == r["requests"] and end <= baseline * 1.10
print("soak: " + ("passed" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
