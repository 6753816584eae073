#!/usr/bin/env bash
# Builds ndb-server the ways docs/performance.md ("Build size and idle
# memory") compares, and measures each in one run: stripped size, and
# VmRSS from /proc/PID/status after start-up with no connection and with
# CONNECTIONS (default 1000) idle WebSocket connections (scripts/idle_rss.py),
# and (all builds, with valgrind) the instructions per request of
# REQUESTS KV_SETs and as many KV_GETs (scripts/request_instructions.py).
# Prints a markdown table with ratios to the default build, then runs the
# smoke test of every KV, SH and SV command (scripts/min_smoke.py) against
# the minimal static build.
#
#   scripts/build-sizes.sh          # every build, the table, the smoke test
#   scripts/build-sizes.sh min      # CI: the minimal static build only; fails
#                                   # past MAX_BYTES (default 1 MiB) stripped
#                                   # or MAX_RSS_KIB (default 1024) at start
#                                   # (the median of STARTS, default 3)
#
# The builds (what each one is):
#   default      cargo build --profile dist -p ndb-server
#   min-profile  cargo build --profile min -p ndb-server
#   min          cargo build --profile min -p ndb-server --no-default-features
#   min-static   cargo build --profile min -p ndb-server --no-default-features \
#                    --target x86_64-unknown-linux-musl
# `dist` is not stripped by its profile: its size is that of a stripped copy
# (`strip`), as installed binaries are.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
connections=${CONNECTIONS:-1000}
requests=${REQUESTS:-5000}
# RSS at start is the median of this many start-ups (scripts/idle_rss.py).
starts=${STARTS:-3}
max_bytes=${MAX_BYTES:-1048576}
max_rss_kib=${MAX_RSS_KIB:-1024}
musl=x86_64-unknown-linux-musl
work=target/build-sizes
mkdir -p "$work"

if ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
    rustup target add "$musl"
fi

# name, then cargo arguments; the binary's path follows from them.
build() {
    local name=$1
    shift
    echo "== $name: cargo build $*" >&2
    cargo build --quiet "$@"
}

binary_of() {
    case $1 in
        default) echo target/dist/ndb-server ;;
        min-profile) echo "$work/min-profile/min/ndb-server" ;;
        min) echo target/min/ndb-server ;;
        min-static) echo "target/$musl/min/ndb-server" ;;
    esac
}

build_all() {
    build min-static --profile min -p ndb-server --no-default-features --target "$musl"
    [[ $mode == min ]] && return
    build default --profile dist -p ndb-server
    build min --profile min -p ndb-server --no-default-features
    # Its own target directory: the same profile as `min` with other
    # features would otherwise overwrite target/min/ndb-server.
    CARGO_TARGET_DIR="$work/min-profile" build min-profile --profile min -p ndb-server
}

stripped_size() {
    local copy="$work/$1.stripped"
    cp "$(binary_of "$1")" "$copy"
    strip "$copy"
    stat -c %s "$copy"
}

build_all

if [[ $mode == min ]]; then
    names=(min-static)
else
    names=(default min-profile min min-static)
fi

declare -A size start idle instructions
for name in "${names[@]}"; do
    instructions[$name]=-
    if [[ $mode == all ]] && command -v valgrind >/dev/null; then
        instructions[$name]=$(python3 scripts/request_instructions.py "$(binary_of "$name")" "$requests" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["per_request"])')
    fi
    size[$name]=$(stripped_size "$name")
    read -r start[$name] idle[$name] < <(python3 scripts/idle_rss.py "$(binary_of "$name")" "$connections" "$starts" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["start_kib"], d["idle_kib"])')
done

if [[ $mode == all ]]; then
    ratio() {
        python3 -c 'import sys; a, b = sys.argv[1:]; print("-" if "-" in (a, b) else f"{int(a) / int(b):.2f}")' "$1" "$2"
    }
    echo
    echo "| build | stripped bytes | × default | RSS at start (KiB) | × default |" \
        "RSS, $connections idle connections (KiB) | × default | instructions per request | × default |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for name in "${names[@]}"; do
        echo "| $name | ${size[$name]} | $(ratio "${size[$name]}" "${size[default]}") |" \
            "${start[$name]} | $(ratio "${start[$name]}" "${start[default]}") |" \
            "${idle[$name]} | $(ratio "${idle[$name]}" "${idle[default]}") |" \
            "${instructions[$name]} | $(ratio "${instructions[$name]}" "${instructions[default]}") |"
    done
    echo
fi

echo "min-static: ${size[min-static]} bytes stripped (limit $max_bytes), RSS ${start[min-static]} KiB at start," \
    "${idle[min-static]} KiB with $connections idle connections"
if ((size[min-static] > max_bytes)); then
    echo "build-sizes: the minimal static build is ${size[min-static]} bytes stripped, over $max_bytes" >&2
    exit 1
fi
if ((start[min-static] > max_rss_kib)); then
    echo "build-sizes: the minimal static build has ${start[min-static]} KiB resident at start, over $max_rss_kib" >&2
    exit 1
fi

echo "== smoke test of every KV, SH and SV command against min-static"
python3 scripts/min_smoke.py "$(binary_of min-static)" --without regex --without arrays --without auth \
    --without introspection
