#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client against examples/autobahn_echo
# (ndb's own upgrade and connection code) and prints a summary.
#
#   scripts/autobahn.sh            # every case but compression (12.*, 13.*)
#   CASES='["1.*","5.*"]' scripts/autobahn.sh
#
# The suite needs Python 2.7: PYTHON2, else python2.7 on PATH, else pyenv's
# 2.7.18. Without one it says so and exits 0 (SKIPPED). Everything it sets
# up lives in target/autobahn/. Exit status 1 if any case FAILED.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/autobahn
mkdir -p "$work"

is_python27() {
    "$1" -c 'import sys; assert sys.version_info[:2] == (2, 7)' >/dev/null 2>&1
}
python2=
for candidate in ${PYTHON2:-} python2.7 "$HOME/.pyenv/versions/2.7.18/bin/python"; do
    if command -v "$candidate" >/dev/null 2>&1 && is_python27 "$candidate"; then
        python2=$(command -v "$candidate")
        break
    fi
done
if [ -z "$python2" ]; then
    echo "autobahn: SKIPPED (no Python 2.7; set PYTHON2 to one)"
    exit 0
fi

venv=$work/venv
if [ ! -x "$venv/bin/wstest" ]; then
    echo "== setting up a Python 2.7 virtualenv in $venv"
    "$python2" -m pip install --quiet --disable-pip-version-check --target "$work/bootstrap" 'virtualenv<20.16'
    PYTHONPATH=$work/bootstrap "$python2" -m virtualenv --quiet "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'autobahntestsuite==25.10.1'
fi

echo "== building the echo example"
cargo build --quiet --release --features internals --example autobahn_echo
port=${PORT:-9001}
"$root/target/release/examples/autobahn_echo" "$port" >"$work/echo.log" 2>&1 &
echo_pid=$!
trap 'kill "$echo_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "echo on" "$work/echo.log" 2>/dev/null && break
    sleep 0.05
done

cases=${CASES:-'["*"]'}
rm -rf "$work/reports"
cat >"$work/fuzzingclient.json" <<SPEC
{
  "outdir": "$work/reports",
  "servers": [{"agent": "ndb", "url": "ws://127.0.0.1:$port"}],
  "cases": $cases,
  "exclude-cases": ["12.*", "13.*"],
  "exclude-agent-cases": {}
}
SPEC
echo "== wstest -m fuzzingclient (compression cases 12.* and 13.* excluded: not implemented by design)"
(cd "$work" && "$venv/bin/wstest" -m fuzzingclient -s fuzzingclient.json >"$work/wstest.log" 2>&1)

if ! kill -0 "$echo_pid" 2>/dev/null; then
    echo "autobahn: the echo server died; see $work/echo.log"
    exit 1
fi

python3 - "$work/reports/index.json" <<'PY'
import collections, json, sys
index = json.load(open(sys.argv[1]))
results = next(iter(index.values()))
counts = collections.Counter()
closes = collections.Counter()
notable = []
for case, r in sorted(results.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
    counts[r["behavior"]] += 1
    closes[r["behaviorClose"]] += 1
    if r["behavior"] != "OK" or r["behaviorClose"] not in ("OK", "INFORMATIONAL"):
        notable.append("  %-8s %s (close: %s)" % (case, r["behavior"], r["behaviorClose"]))
print("autobahn: %d cases: %s" % (sum(counts.values()), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
print("close behaviour: %s" % ", ".join("%s %d" % kv for kv in sorted(closes.items())))
if notable:
    print("not plain OK:")
    print("\n".join(notable))
sys.exit(1 if counts["FAILED"] or closes["FAILED"] else 0)
PY
