#!/usr/bin/env bash
# A short, bounded libFuzzer run of every fuzz target from its seeds
# (fuzz/seeds/<target>, new inputs kept in fuzz/corpus/<target>): fails on
# the first crash, hang or leak, leaving the input in fuzz/artifacts/.
# Usage: bash fuzz/run.sh [seconds per target, default 20] [target …]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(thrift dubbo http1 scenario)
export CARGO_TARGET_DIR="${MESHBENCH_FUZZ_TARGET_DIR:-$HOME/.cache/meshbench-fuzz-target}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cargo +nightly fuzz build -O
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== fuzz $target (${seconds} s)"
    log="$(mktemp)"
    if ! cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
    rm -f "$log"
done
