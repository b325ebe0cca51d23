#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), from the committed
# seeds in fuzz/corpus/. CI runs it briefly; run it for hours by hand:
#   bash fuzz/run.sh 3600
# A crash stops the run and leaves the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
target_dir="${CARGO_FUZZ_TARGET_DIR:-$HOME/.cache/tresor-fuzz-target}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzzing needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

for target in archive_reader repo_files; do
    echo "== fuzz $target for ${seconds}s"
    # libFuzzer adds what it finds to a scratch copy, not to the seeds
    work="$(mktemp -d)"
    cp fuzz/corpus/"$target"/seed-* "$work"/
    log="$work.log"
    status=0
    cargo +nightly fuzz run "$target" --target-dir "$target_dir" "$work" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
    rm -rf "$work"
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz target $target failed (exit $status): the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    rm -f "$log"
done
