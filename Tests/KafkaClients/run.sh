#!/usr/bin/env bash
# Real Kafka clients against a built `brook serve`: kcat (librdkafka 2.0.2), confluent-kafka
# (librdkafka 2.x), kafka-python, aiokafka and sarama (Go), plus records crossing between Kafka and
# the line protocol and SQL. Every check compares real values; the first failure stops the run.
#
#   bash Tests/KafkaClients/run.sh [path/to/brook]   (default: .build/debug/brook)
# Needs: kcat, a python3 with confluent_kafka, kafka and aiokafka (PYTHON=… picks one), and Go with sarama's
# sources (Debian: golang-go golang-github-shopify-sarama-dev).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
brook="$(realpath "${1:-$here/../../.build/debug/brook}")"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/brook-kafka-clients.XXXXXX)"
server_pid=""

fail() { echo "FAIL: $*" >&2; [[ -f "$work/serve.log" ]] && tail -20 "$work/serve.log" >&2; exit 1; }
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A server on free ports; the log names both.
"$brook" serve --db "$work/brook.db" --port 0 --kafka-port 0 --no-http --default-partitions 1 >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening for Kafka clients" "$work/serve.log" 2>/dev/null && grep -q " port=" "$work/serve.log" && break
    kill -0 "$server_pid" 2>/dev/null || fail "brook serve exited"
    sleep 0.05
done
line_port="$(grep -o ' port=[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2)"
kafka="$(grep -o 'kafka=[0-9.:]*' "$work/serve.log" | head -1 | cut -d= -f2)"
[[ -n "$line_port" && -n "$kafka" ]] || fail "no ports in the server's log"
line="127.0.0.1:$line_port"
echo "brook serve: line $line, kafka $kafka"

expect_equal() {  # name, expected, actual
    [[ "$2" == "$3" ]] || fail "$1: expected
$2
--- got
$3"
    echo "ok: $1"
}

# kcat -L: the one broker, advertised at the listener's address, and the controller.
metadata="$(kcat -b "$kafka" -L -m 10)"
grep -q "broker 0 at $kafka (controller)" <<<"$metadata" || fail "kcat -L: $metadata"
echo "ok: kcat -L shows broker 0 at $kafka"

# kcat -P with keys and headers (auto-creates the topic), then -C reads exactly those back.
printf 'k1:first\nk2:second\n:no key\n' | kcat -b "$kafka" -P -t kcat-topic -K: -H trace=abc -H n=1
expected="$(printf 'k1|first|trace=abc,n=1|0\nk2|second|trace=abc,n=1|1\n|no key|trace=abc,n=1|2')"
got="$(kcat -b "$kafka" -C -t kcat-topic -e -q -f '%k|%s|%h|%o\n')"
expect_equal "kcat -P then -C, keys and headers" "$expected" "$got"
grep -q "kcat-topic" <<<"$(kcat -b "$kafka" -L -t kcat-topic)" || fail "kcat -L -t kcat-topic"

# kcat compressing (librdkafka compresses only when Produce v0 is advertised, as Brook does).
for codec in gzip snappy lz4 zstd; do
    seq 1 50 | sed "s/^/$codec-/" | kcat -b "$kafka" -P -t "kcat-$codec" -z "$codec"
    got="$(kcat -b "$kafka" -C -t "kcat-$codec" -e -q -f '%s\n')"
    expect_equal "kcat -P -z $codec then -C" "$(seq 1 50 | sed "s/^/$codec-/")" "$got"
done

# The same records over the line protocol and in SQL.
got="$("$brook" consume kcat-topic --server "$line" --from-beginning --max-messages 3 --format '%k|%v|%h|%o\n')"
expect_equal "Kafka produce, line-protocol consume" "$expected" "$got"
got="$("$brook" sql --server "$line" --format csv "SELECT offset, key, value FROM \"kcat-topic\" ORDER BY offset")"
expect_equal "Kafka produce, SQL view" "$(printf 'offset,key,value\n0,k1,first\n1,k2,second\n2,,no key')" "$got"

# The reverse: line-protocol produce, kcat consume.
"$brook" topics create line-topic --partitions 1 --server "$line" >/dev/null
printf 'a\tone\nb\ttwo\n' | "$brook" produce line-topic --server "$line" --parse-key --header src=line >/dev/null
got="$(kcat -b "$kafka" -C -t line-topic -e -q -f '%k|%s|%h|%o\n')"
expect_equal "line-protocol produce, kcat consume" "$(printf 'a|one|src=line|0\nb|two|src=line|1')" "$got"

# confluent-kafka and kafka-python, each producing and reading back through assign().
"$brook" topics create confluent-topic --partitions 3 --server "$line" >/dev/null
"$brook" topics create small-topic --max-message-bytes 100 --server "$line" >/dev/null
"$python" "$here/confluent_check.py" "$kafka"
"$python" "$here/kafka_python_check.py" "$kafka"
"$python" "$here/aiokafka_check.py" "$kafka"
"$python" "$here/admin_check.py" "$kafka"
"$python" "$here/topic_configs_check.py" "$kafka"

# The same two configs through brook topics create/alter, and kcat reading a compressed topic.
"$brook" topics create cli-configs --server "$line" --message-timestamp-type LogAppendTime --compression-type lz4 >/dev/null
"$brook" topics describe cli-configs --server "$line" | grep -q "message.timestamp.type=LogAppendTime compression.type=lz4" \
    || fail "brook topics describe: $("$brook" topics describe cli-configs --server "$line")"
seq 1 40 | kcat -b "$kafka" -P -t cli-configs
expect_equal "kcat -C of a compression.type=lz4 topic" "$(seq 1 40)" "$(kcat -b "$kafka" -C -t cli-configs -e -q -f '%s\n')"
"$brook" topics alter cli-configs --server "$line" --compression-type snappy --message-timestamp-type CreateTime >/dev/null
"$brook" topics describe cli-configs --server "$line" | grep -q "message.timestamp.type=CreateTime compression.type=snappy" \
    || fail "brook topics alter: $("$brook" topics describe cli-configs --server "$line")"
expect_equal "kcat -C after altering to snappy" "$(seq 1 40)" "$(kcat -b "$kafka" -C -t cli-configs -e -q -f '%s\n')"
"$python" "$here/bad_input_check.py" "$kafka"
grep -q "closing a Kafka connection" "$work/serve.log" || fail "no log line for the bad input"
echo "ok: bad input logged: $(grep -c 'closing a Kafka connection' "$work/serve.log") connections closed"

# Consumer groups. Three confluent-kafka processes share a six-partition topic with manual
# commits; the group's offsets then show LAG 0 in `brook groups describe` too.
"$brook" topics create group-topic --partitions 6 --server "$line" >/dev/null
mkdir -p "$work/group"
"$python" "$here/confluent_group_check.py" "$kafka" group-topic confluent-group "$work/group"
lags="$("$brook" groups describe confluent-group --server "$line" | awk '$1 == "group-topic" { print $2, $5 }')"
expect_equal "brook groups describe: the Kafka group's commits, LAG 0 on every partition" "$(printf '0 0\n1 0\n2 0\n3 0\n4 0\n5 0')" "$lags"

# A live Kafka member in `brook groups describe` (client id and host per partition); `brook groups
# reset` refuses the group while it has it, as Kafka's tool does.
kcat -b "$kafka" -G live-group group-topic -q -f '%o\n' -X client.id=live-kcat >/dev/null 2>&1 &
kcat_pid=$!
describe=""
for _ in $(seq 1 300); do
    describe="$("$brook" groups describe live-group --server "$line" 2>/dev/null || true)"
    [[ "$(awk '$1 == "group-topic" && $7 == "live-kcat"' <<<"$describe" | wc -l)" -eq 6 ]] && break
    sleep 0.1
done
expect_equal "brook groups describe: a live kcat -G member owns every partition, with its client id and host" \
    "$(for p in 0 1 2 3 4 5; do echo "$p live-kcat /127.0.0.1"; done)" "$(awk '$1 == "group-topic" { print $2, $7, $8 }' <<<"$describe")"
grep -q "state Stable" <<<"$describe" || fail "describe of the live group: $describe"
if "$brook" groups reset live-group --topic group-topic --to-earliest --server "$line" >/dev/null 2>"$work/reset.err"; then
    fail "brook groups reset of a group with a live Kafka member succeeded"
fi
grep -q "NON_EMPTY_GROUP" "$work/reset.err" || fail "reset refusal: $(cat "$work/reset.err")"
echo "ok: brook groups reset refuses a group with a live Kafka member: $(head -1 "$work/reset.err")"
kill "$kcat_pid"
wait "$kcat_pid" 2>/dev/null || true

# Rebalances: cooperative-sticky with a member joining, a static member restarted, a member
# killed with SIGKILL.
for scenario in cooperative static sigkill; do
    "$brook" topics create "$scenario-topic" --partitions 6 --server "$line" >/dev/null
    mkdir -p "$work/$scenario"
    "$python" "$here/confluent_rebalance_check.py" "$kafka" "$scenario" "$scenario-topic" "$work/$scenario"
done

# At-least-once: auto-commit after the 8th record, the 9th processed, death on the 10th; the
# next consumer starts at the 9th (docs/guarantees.md explains the output).
"$brook" topics create duplicate-topic --partitions 1 --server "$line" >/dev/null
"$python" "$here/duplicate_check.py" "$kafka" duplicate-topic

listed="$("$brook" groups list --server "$line" | awk '$1 == "confluent-group" || $1 == "live-group" { print $1, $2, $3 }')"
expect_equal "brook groups list shows the Kafka groups" "$(printf 'confluent-group Empty 0\nlive-group Empty 0')" "$listed"

# kafka-python: a group consumer with auto-commit, and the admin client's group calls.
"$brook" topics create kafka-python-group-topic --partitions 3 --server "$line" >/dev/null
"$python" "$here/kafka_python_group_check.py" "$kafka" kafka-python-group-topic

# kcat -G (librdkafka 2.0.2's balanced consumer) reads every record and commits; then
# `brook groups reset` moves the group back and kcat -G reads from there.
all_records="$(kcat -b "$kafka" -C -t group-topic -e -q -f '%p %o %s\n' | sort)"
got="$(kcat -b "$kafka" -G kcat-group group-topic -X auto.offset.reset=earliest -e -q -f '%p %o %s\n' | sort)"
expect_equal "kcat -G reads every record of the topic" "$all_records" "$got"
lags="$("$brook" groups describe kcat-group --server "$line" | awk '$1 == "group-topic" { print $2, $5 }')"
expect_equal "kcat -G committed every partition's end" "$(printf '0 0\n1 0\n2 0\n3 0\n4 0\n5 0')" "$lags"
"$brook" groups reset kcat-group --topic group-topic --to-offset 50 --server "$line" >/dev/null
got="$(kcat -b "$kafka" -G kcat-group group-topic -e -q -f '%p %o %s\n' | sort)"
expect_equal "after brook groups reset --to-offset 50, kcat -G reads from offset 50" "$(awk '$2 >= 50' <<<"$all_records")" "$got"

# sarama (Go): producers with each codec and an idempotent one, a reader, a consumer group.
bash "$here/sarama.sh" "$brook" "$kafka" "$line"

# Crash: kill -9 the server while an idempotent acks=all producer writes; restart it on the same
# ports. Every acknowledged record is there exactly once, in order.
"$brook" topics create crash-topic --partitions 1 --server "$line" >/dev/null
offsets_before="$("$brook" groups describe confluent-group --server "$line" | awk '$1 == "group-topic" { print $2, $3 }')"
"$python" "$here/crash_producer.py" "$kafka" crash-topic 20000 "$work/acked" &
producer_pid=$!
for _ in $(seq 1 400); do
    [[ -f "$work/acked" && $(wc -l <"$work/acked") -ge 2000 ]] && break
    sleep 0.02
done
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
acked_at_kill=$(wc -l <"$work/acked")
"$brook" serve --db "$work/brook.db" --port "$line_port" --kafka-port "${kafka##*:}" --no-http >>"$work/serve.log" 2>&1 &
server_pid=$!
wait "$producer_pid" || fail "the producer did not finish after the restart"
[[ $acked_at_kill -lt 20000 ]] || fail "the kill came after the last acknowledgement; nothing was tested"
got="$(kcat -b "$kafka" -C -t crash-topic -e -q -f '%s\n')"
expect_equal "kill -9 mid-produce: every acknowledged record once, in order (killed after $acked_at_kill acks)" "$(seq 0 19999)" "$got"
expect_equal "acknowledged records" "$(seq 0 19999)" "$(sort -n "$work/acked")"
expect_equal "a Kafka group's committed offsets after kill -9 and restart" "$offsets_before" \
    "$("$brook" groups describe confluent-group --server "$line" | awk '$1 == "group-topic" { print $2, $3 }')"

# Graceful shutdown: SIGTERM drains and exits 0.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status -eq 0 ]] || fail "brook serve exited $status on SIGTERM"
grep -q "Kafka listener stopped" "$work/serve.log" || fail "the Kafka listener did not report stopping"
echo "ok: graceful shutdown"

# SASL: its own server, run with --auth.
bash "$here/sasl.sh" "$brook"

# The move onto a Kafka or Redpanda cluster (docs/scaling.md): two servers of their own, a source
# and a target, and a copier doing what Redpanda Migrator does.
bash "$here/migration.sh" "$brook"
echo "all Kafka client checks passed"
