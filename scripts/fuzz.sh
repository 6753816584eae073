#!/usr/bin/env bash
# Runs every cargo-fuzz target in turn, each for SECONDS (default 600), and
# prints executions and findings. One at a time: each fuzzer takes a core.
#
#   scripts/fuzz.sh            # all targets, 10 minutes each
#   scripts/fuzz.sh 60 conn    # one target, one minute
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); its nightly-only flags are
# allowed on a stable toolchain through RUSTC_BOOTSTRAP=1. Crashes are saved
# in fuzz/artifacts/<target>/; the growing corpus in fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(upgrade decode dispatch conn)
fi
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi
cargo fuzz build >/dev/null

status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    log="target/fuzz-$target.log"
    mkdir -p target
    echo "== $target: ${seconds}s"
    if cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -dict=dict/ndb.dict -print_final_stats=1 >"$log" 2>&1; then
        result=clean
    else
        result="FAILED (see $log and artifacts/$target/)"
        status=1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
    echo "$target: ${runs:-?} executions, $cov, $result"
done
exit $status
