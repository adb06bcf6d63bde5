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
