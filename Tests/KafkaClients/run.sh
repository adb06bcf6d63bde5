#!/usr/bin/env bash
# Real Kafka clients against a built `brook serve`: kcat (librdkafka 2.0.2), confluent-kafka
# (librdkafka 2.x) and kafka-python, plus records crossing between Kafka and the line protocol
# and SQL. Every check compares real values; the first failure stops the run.
#
#   bash Tests/KafkaClients/run.sh [path/to/brook]   (default: .build/debug/brook)
# Needs: kcat, and a python3 with confluent_kafka and kafka (PYTHON=… picks one).
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
"$brook" serve --db "$work/brook.db" --port 0 --kafka-port 0 --default-partitions 1 >"$work/serve.log" 2>&1 &
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

# Crash: kill -9 the server while an idempotent acks=all producer writes; restart it on the same
# ports. Every acknowledged record is there exactly once, in order.
"$brook" topics create crash-topic --partitions 1 --server "$line" >/dev/null
"$python" "$here/crash_producer.py" "$kafka" crash-topic 20000 "$work/acked" &
producer_pid=$!
for _ in $(seq 1 400); do
    [[ -f "$work/acked" && $(wc -l <"$work/acked") -ge 2000 ]] && break
    sleep 0.02
done
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
acked_at_kill=$(wc -l <"$work/acked")
"$brook" serve --db "$work/brook.db" --port "$line_port" --kafka-port "${kafka##*:}" >>"$work/serve.log" 2>&1 &
server_pid=$!
wait "$producer_pid" || fail "the producer did not finish after the restart"
[[ $acked_at_kill -lt 20000 ]] || fail "the kill came after the last acknowledgement; nothing was tested"
got="$(kcat -b "$kafka" -C -t crash-topic -e -q -f '%s\n')"
expect_equal "kill -9 mid-produce: every acknowledged record once, in order (killed after $acked_at_kill acks)" "$(seq 0 19999)" "$got"
expect_equal "acknowledged records" "$(seq 0 19999)" "$(sort -n "$work/acked")"

# Graceful shutdown: SIGTERM drains and exits 0.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status -eq 0 ]] || fail "brook serve exited $status on SIGTERM"
grep -q "Kafka listener stopped" "$work/serve.log" || fail "the Kafka listener did not report stopping"
echo "ok: graceful shutdown"
echo "all Kafka client checks passed"
