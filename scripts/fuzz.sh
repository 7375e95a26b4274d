#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (docs/fuzzing.md), one result line per
# target, and exits non-zero when any of them found a failing input, naming the artifact.
#
#   FUZZ_SECONDS     time per target (default 60)
#   FUZZ_TARGETS     space-separated subset (default: every target of fuzz/Cargo.toml)
#   FUZZ_SANITIZER   none (default) or address (cargo-fuzz's own default). The domain crate has no
#                    unsafe code and the targets look for broken rules, not memory errors: without
#                    ASan a run made 3.7x (signature_header) to 7.6x (amount) the executions
#                    (docs/fuzzing.md). Use address to also check the dependencies' unsafe code.
#   FUZZ_ARGS        extra libFuzzer flags, e.g. "-max_len=8192" or "-dict=..."
#
# cargo-fuzz passes nightly-only flags to rustc (-Z sanitizer, coverage instrumentation); on a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it do so. Debug assertions and overflow checks are on.
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install --locked cargo-fuzz)"
    cargo install --locked cargo-fuzz
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
logs=fuzz/target/logs
mkdir -p "$logs"

# `cargo fuzz build` takes one target or none (all of them).
only=$([ "$(echo $targets | wc -w)" -eq 1 ] && echo $targets || true)
echo "fuzz: building ${only:-every target} (sanitizer: $FUZZ_SANITIZER)"
cargo fuzz build --sanitizer "$FUZZ_SANITIZER" $only >"$logs/build.log" 2>&1 || {
    cat "$logs/build.log"
    echo "fuzz: build failed"
    exit 2
}

# The last value of a libFuzzer `-print_final_stats` line, e.g. stat::number_of_executed_units.
stat() { grep -a "^stat::$1:" "$2" | tail -n 1 | awk '{print $2}'; }

failed=()
for target in $targets; do
    log="$logs/$target.log"
    mkdir -p "fuzz/corpus/$target"
    before=$(find "fuzz/corpus/$target" -type f | wc -l)
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags.
    cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$target" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 ${FUZZ_ARGS:-} \
        >"$log" 2>&1 || status=$?
    execs=$(stat number_of_executed_units "$log")
    rate=$(stat average_exec_per_sec "$log")
    after=$(find "fuzz/corpus/$target" -type f | wc -l)
    summary="${execs:-?} execs (${rate:-?}/s), corpus $after inputs (+$((after - before)))"
    artifact=$(grep -ao 'Test unit written to [^ ]*' "$log" | tail -n 1 | cut -d' ' -f5- || true)
    if [ "$status" -eq 0 ]; then
        echo "fuzz $target: ok, ${FUZZ_SECONDS}s, $summary"
    elif [ -n "$artifact" ]; then
        echo "fuzz $target: FAILED after $summary: $artifact (log: $log)"
        grep -a -m 1 -A 2 "panicked at" "$log" | sed 's/^/    /' || true
        failed+=("$target $artifact")
    else
        echo "fuzz $target: FAILED (exit $status) without an artifact; see $log"
        failed+=("$target $log")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "fuzz: ${#failed[@]} target(s) failed. Reproduce with"
    echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>"
    echo "then fix the domain code and keep the input as a regression test:"
    echo "  cp <artifact> crates/domain/fixtures/fuzz-regressions/<target>/"
    for f in "${failed[@]}"; do echo "  $f"; done
    exit 1
fi
