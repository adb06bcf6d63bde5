#!/usr/bin/env bash
# The move off Brook (docs/scaling.md), tested: two Brook servers on free ports, each with its own
# file, a source and a target standing in for the Kafka or Redpanda cluster; migration_check.py
# fills the source, checks it as the migration tools read it, copies it as Redpanda Migrator does
# and resumes a consumer group on the target.
#
#   bash Tests/KafkaClients/migration.sh path/to/brook   (PYTHON=… picks the python)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
brook="$(realpath "${1:-$here/../../.build/debug/brook}")"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/brook-migration.XXXXXX)"
pids=()

fail() { echo "FAIL: $*" >&2; for log in "$work"/*.log; do [[ -f "$log" ]] && tail -20 "$log" >&2; done; exit 1; }
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Starts `brook serve` on free ports; prints its Kafka address. Retention runs every 200 ms, so
# the source's retention.ms change takes effect during the run.
start() {  # name
    "$brook" serve --db "$work/$1.db" --port 0 --kafka-port 0 --no-http --group-initial-rebalance-delay-ms 0 \
        --retention-check-interval-ms 200 >"$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do
        grep -q "listening for Kafka clients" "$work/$1.log" 2>/dev/null && break
        kill -0 "${pids[-1]}" 2>/dev/null || fail "brook serve ($1) exited"
        sleep 0.05
    done
    grep -o 'kafka=[0-9.:]*' "$work/$1.log" | head -1 | cut -d= -f2
}
source_kafka="$(start source)"
target_kafka="$(start target)"
[[ -n "$source_kafka" && -n "$target_kafka" && "$source_kafka" != "$target_kafka" ]] || fail "no Kafka ports in the servers' logs"
echo "migration: source $source_kafka, target $target_kafka"
"$python" "$here/migration_check.py" "$source_kafka" "$target_kafka"

# brook export-plan on the source: every group's committed offsets, with the timestamp of the
# record before each (what the copier translated by), and the offsets no tool can translate.
source_line="127.0.0.1:$(grep -o ' port=[0-9]*' "$work/source.log" | head -1 | cut -d= -f2)"
"$brook" export-plan --server "$source_line" >"$work/plan.txt" || fail "brook export-plan: $(cat "$work/plan.txt")"
squeeze() { tr -s ' ' <"$work/plan.txt"; }
grep -q "^clicks " "$work/plan.txt" || fail "export-plan lists no topic clicks: $(cat "$work/plan.txt")"
expected="$("$brook" sql "SELECT timestamp FROM clicks WHERE partition = 0 AND offset = 2499" --server "$source_line" | grep -oE '^ *[0-9]+ *$' | tr -d ' ')"
squeeze | grep -q "^billing [A-Za-z]* clicks 0 2500 [0-9]* [0-9]* [0-9]* $expected" \
    || fail "export-plan's row for billing on clicks/0 lacks the timestamp $expected of offset 2499: $(cat "$work/plan.txt")"
squeeze | grep -q "^billing [A-Za-z]* events 1 0 .*at or below the log start" \
    || fail "export-plan does not flag billing's commit at the log start of events/1: $(cat "$work/plan.txt")"
sed -n 1,4p "$work/plan.txt"; grep -A4 "^GROUPS" "$work/plan.txt"
echo "ok: brook export-plan shows each committed offset with the timestamp it translates by, and flags the untranslatable ones"
