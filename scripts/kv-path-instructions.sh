#!/usr/bin/env bash
# Instructions per KV request (callgrind), at two revisions of the library:
# decode alone and decode + Store::execute + reply, for KV_GET and KV_SET
# against 100,000 keys, a KV_SET as the Python client writes it, and an
# unknown-prefix command. Counts are stable under load, unlike timings.
#
# Usage: scripts/kv-path-instructions.sh BASE [NEW]   (NEW defaults to the
# working tree). Needs valgrind. Builds each revision once (release, fat LTO)
# in a temporary directory.
set -euo pipefail
base=${1:?usage: $0 BASE [NEW]}
new=${2:-}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

harness() { # $1: directory, $2: path of the library
    mkdir -p "$1/src"
    cat > "$1/Cargo.toml" <<EOF
[package]
name = "kvpath"
version = "0.1.0"
edition = "2024"
[dependencies]
ndb = { path = "$2", default-features = false }
[profile.release]
opt-level = 3
lto = "fat"
codegen-units = 1
[workspace]
EOF
    cat > "$1/src/main.rs" <<'EOF'
use std::time::Instant;
use ndb::protocol::{Protocol, Reply, decode};
use ndb::store::{ServerInfo, Store};

const KEYS: u64 = 100_000;
pub const N: usize = 200_000;

fn run(store: &mut Store, request: &str, now: Instant, out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, now, &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
    out.len()
}

#[inline(never)]
fn measure(store: &mut Store, requests: &[String], now: Instant, out: &mut Vec<u8>) -> usize {
    (0..N).map(|i| run(store, &requests[i % requests.len()], now, out)).sum()
}

#[inline(never)]
fn decode_only(requests: &[String]) -> usize {
    (0..N).filter(|i| decode(std::hint::black_box(&requests[i % requests.len()])).is_ok()).count()
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let now = Instant::now();
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    let mut out = Vec::with_capacity(256);
    for key in 0..KEYS {
        run(&mut store, &format!(r#"{{"KV_SET":{{"keys":{{"key:{key:012}":"xxxxxxxxxxxxxxxx"}}}}}}"#), now, &mut out);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let requests: Vec<String> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = x % KEYS;
            match which.as_str() {
                "set" | "decode_set" => format!(r#"{{"KV_SET":{{"keys":{{"key:{k:012}":"xxxxxxxxxxxxxxxx"}}}}}}"#),
                "decode_python" => format!(
                    r#"{{"KV_SET": {{"keys": {{"key:{k:012}": "xxxxxxxxxxxxxxxx", "\u017c\u00f3\u0142w": [1, 2, 3]}}}}}}"#
                ),
                "unknown" => format!(r#"{{"XX_GET":{{"keys":["key:{k:012}"]}}}}"#),
                _ => format!(r#"{{"KV_GET":{{"keys":["key:{k:012}"]}}}}"#),
            }
        })
        .collect();
    let n = if which.starts_with("decode") { decode_only(&requests) } else { measure(&mut store, &requests, now, &mut out) };
    println!("{which}: {n}");
}
EOF
}

build() { # $1: name, $2: revision or empty for the working tree
    local src="$tmp/src-$1"
    if [ -n "$2" ]; then
        mkdir -p "$src" && git -C "$root" archive "$2" | tar -x -C "$src"
    else
        src=$root
    fi
    harness "$tmp/$1" "$src"
    (cd "$tmp/$1" && cargo build --release --quiet)
}

build base "$base"
build new "$new"
printf '%-14s %10s %10s %8s\n' request base new change
for w in get set decode_get decode_set decode_python unknown; do
    f=measure
    case $w in decode*) f=decode_only ;; esac
    counts=()
    for v in base new; do
        n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="kvpath::$f" \
            "$tmp/$v/target/release/kvpath" "$w" 2>&1 | awk '/Collected/ {print $4}')
        counts+=($((n / 200000)))
    done
    printf '%-14s %10s %10s %+7.1f%%\n' "$w" "${counts[0]}" "${counts[1]}" \
        "$(echo "scale=3; (${counts[1]} - ${counts[0]}) * 100 / ${counts[0]}" | bc)"
done
