#!/usr/bin/env bash
# Builds the libFuzzer target (address sanitizer on) and fuzzes the protocol decoder and parsers
# for SECONDS (default 600), starting from Fuzz/corpus. A crash leaves crash-* files here and
# exits non-zero; add the input to Tests/BrookWireTests/FuzzRegressionTests.swift.
#   bash Fuzz/run.sh 600     fuzz for ten minutes
#   bash Fuzz/run.sh seed    run each seed input once (deterministic; what .ci/run does)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds=${1:-600}
# Every target is instrumented, so coverage guides the fuzzer through the decoder and parsers.
BROOK_FUZZ=1 swift build --scratch-path .build-fuzz --product BrookFuzz \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp >/dev/null
if [ "$seconds" = "seed" ]; then
    ./.build-fuzz/debug/BrookFuzz -runs=0 Fuzz/corpus 2>&1 | tail -3
    exit "${PIPESTATUS[0]}"
fi
work=$(mktemp -d)
cp Fuzz/corpus/* "$work/"
./.build-fuzz/debug/BrookFuzz -max_total_time="$seconds" -max_len=4096 -timeout=5 -print_final_stats=1 "$work" 2>&1 | tail -12
exit "${PIPESTATUS[0]}"
