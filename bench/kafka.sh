#!/usr/bin/env bash
# Brook's Kafka listener side by side with its line protocol and Redis Streams, in one run on this
# machine. Installs kcat, redis-server and redis-tools from Debian's packages and confluent-kafka
# into the virtual environment .ci/run uses, if missing; builds release; starts `brook serve` and
# Redis on free loopback ports in a temporary directory; runs every workload; stops both and prints
# a markdown table. It writes no file of the repository.
#
#   bash bench/kafka.sh                       # 1,000,000 records per workload
#   BENCH_MESSAGES=200000 bash bench/kafka.sh # fewer, for a quick check
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="/opt/swift/usr/bin:$PATH"
messages=${BENCH_MESSAGES:-1000000}

need=()
command -v kcat >/dev/null || need+=(kcat)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
kafka_venv="${BROOK_KAFKA_VENV:-/tmp/brook-kafka-venv}"
if ! "$kafka_venv/bin/python" -c "import confluent_kafka" 2>/dev/null; then
    if ! python3 -m venv "$kafka_venv" 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        python3 -m venv "$kafka_venv"
    fi
    "$kafka_venv/bin/pip" install -q confluent-kafka
fi
python="$kafka_venv/bin/python"
swift build -c release --product brook >/dev/null
brook="$root/.build/release/brook"

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
line_port=$(free_port)
kafka_port=$(free_port)
redis_port=$(free_port)
cleanup() {
    [ -n "${brook_pid:-}" ] && kill "$brook_pid" 2>/dev/null || true
    [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$brook" serve --db "$work/brook.db" --port "$line_port" --kafka-port "$kafka_port" --http-port 0 --log-level warning 2>"$work/brook.log" &
brook_pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; do sleep 0.05; done
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync everysec \
    --save "" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done

broker="127.0.0.1:$kafka_port"
now() { date +%s.%N; }
# rate COUNT START END: records per second between two `now`s.
rate() { python3 -c "print(round($1 / ($3 - $2)))"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
met() { python3 -c "print('yes' if $1 else 'no')"; }

echo "== $messages lines of 100 bytes; the same records as Redis XADD commands" >&2
python3 - "$messages" "$work/lines.txt" "$work/xadd.resp" <<'PY'
import sys
count, lines, resp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(lines, "w") as text, open(resp, "wb") as commands:
    for i in range(count):
        value = f"{i:010d}" + "x" * 90
        text.write(value + "\n")
        commands.write(b"*5\r\n$4\r\nXADD\r\n$5\r\nlines\r\n$1\r\n*\r\n$1\r\nv\r\n$100\r\n" + value.encode() + b"\r\n")
PY

# kcat_produce TOPIC ACKS: kcat -P of the file; prints msgs/s.
kcat_produce() {
    local start end
    start=$(now)
    kcat -P -b "$broker" -t "$1" -X acks="$2" -l "$work/lines.txt"
    end=$(now)
    rate "$messages" "$start" "$end"
}
echo "== kcat -P, acks=1 and acks=all" >&2
kcat_p1=$(kcat_produce kcat-acks1 1)
kcat_pall=$(kcat_produce kcat-acksall all)

echo "== brook produce of the same file, acks=1 and acks=all" >&2
for topic in line-acks1 line-acksall; do "$brook" topics create "$topic" --server "127.0.0.1:$line_port" >/dev/null; done
start=$(now); "$brook" produce line-acks1 --server "127.0.0.1:$line_port" --acks 1 <"$work/lines.txt"; end=$(now)
line_p1=$(rate "$messages" "$start" "$end")
start=$(now); "$brook" produce line-acksall --server "127.0.0.1:$line_port" --acks all <"$work/lines.txt"; end=$(now)
line_pall=$(rate "$messages" "$start" "$end")

echo "== redis-cli --pipe of the same records as XADD (AOF everysec)" >&2
start=$(now); redis-cli -p "$redis_port" --pipe <"$work/xadd.resp" >"$work/pipe.out"; end=$(now)
grep -q "errors: 0, replies: $messages" "$work/pipe.out" || { cat "$work/pipe.out" >&2; exit 1; }
redis_pipe=$(rate "$messages" "$start" "$end")

echo "== kcat -C of the backlog" >&2
# To the last record (-c, which exits 0 only once all are read), output to /dev/null: -e would
# wait for the end-of-partition event, which librdkafka 2.0.2 raises only after an empty fetch
# the broker holds for fetch.wait.max.ms (500 ms). bench/compare.sh also times the -e run.
# Three reads, on a host whose share of the cores moves from minute to minute: the median is
# the figure, and all three are shown.
kcat_reads=()
for _ in 1 2 3; do
    start=$(now)
    timeout 120 kcat -C -b "$broker" -t kcat-acks1 -o beginning -c "$messages" -q >/dev/null \
        || { echo "kcat -C -c $messages did not read $messages records" >&2; exit 1; }
    end=$(now)
    kcat_reads+=("$(rate "$messages" "$start" "$end")")
done
kcat_c=$(printf '%s\n' "${kcat_reads[@]}" | sort -n | sed -n 2p)
kcat_c_reads=$(IFS=/; echo "${kcat_reads[*]}")

echo "== confluent-kafka Producer: 100 B and 1 KiB, acks=1 and acks=all" >&2
cat >"$work/produce.py" <<'PY'
import sys, time
from confluent_kafka import Producer
broker, topic, count, size, acks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
producer = Producer({"bootstrap.servers": broker, "acks": acks, "linger.ms": 5,
                     "queue.buffering.max.messages": 1000000, "queue.buffering.max.kbytes": 1048576})
value = b"x" * size
failed = 0
def report(error, message):
    global failed
    if error is not None:
        failed += 1
start = time.time()
for _ in range(count):
    while True:
        try:
            producer.produce(topic, value, on_delivery=report)
            break
        except BufferError:
            producer.poll(0.01)
    producer.poll(0)
if producer.flush(120) != 0 or failed:
    sys.exit(f"{failed} records failed, {len(producer)} undelivered")
print(round(count / (time.time() - start)))
PY
ck() { "$python" "$work/produce.py" "$broker" "$1" "$2" "$3" "$4"; }
ck_100_1=$(ck ck-100-acks1 "$messages" 100 1)
ck_100_all=$(ck ck-100-acksall "$messages" 100 all)
kib_messages=$((messages / 4))
ck_1k_1=$(ck ck-1k-acks1 "$kib_messages" 1024 1)
ck_1k_all=$(ck ck-1k-acksall "$kib_messages" 1024 all)

cores=$(nproc); cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat <<EOF
Measured by \`bash bench/kafka.sh\` on $(date -u +%Y-%m-%d): $cores cores ($cpu), Brook $("$brook" --version),
$(kcat -V 2>&1 | grep -o 'librdkafka [0-9.]*' | head -1 | sed 's/^/kcat with /'), confluent-kafka $("$python" -c 'import importlib.metadata as m, confluent_kafka as c; print(m.version("confluent-kafka"), "with librdkafka", c.libversion()[0])'),
$(redis-server --version | cut -d' ' -f1-3); load generators on the same machine; one run.

| workload | msgs/s |
|---|---|
| kcat -P, $messages lines of 100 B, acks=1 | $kcat_p1 |
| kcat -P, the same, acks=all | $kcat_pall |
| brook produce (line protocol), the same file, acks=1 | $line_p1 |
| brook produce (line protocol), the same file, acks=all | $line_pall |
| redis-cli --pipe, the same records as XADD (AOF everysec) | $redis_pipe |
| kcat -C of the backlog (-o beginning -c N, output to /dev/null), median of 3 reads ($kcat_c_reads) | $kcat_c |
| confluent-kafka Producer, 100 B, acks=1 | $ck_100_1 |
| confluent-kafka Producer, 100 B, acks=all | $ck_100_all |
| confluent-kafka Producer, 1 KiB ($kib_messages records), acks=1 | $ck_1k_1 |
| confluent-kafka Producer, 1 KiB ($kib_messages records), acks=all | $ck_1k_all |

| target | ratio or figure | met |
|---|---|---|
| Kafka path ≥ 0.8× the line path (kcat -P / brook produce, acks=1) | $(ratio "$kcat_p1" "$line_p1") | $(met "$kcat_p1 >= 0.8 * $line_p1") |
| Kafka path ≥ 0.8× the line path (kcat -P / brook produce, acks=all) | $(ratio "$kcat_pall" "$line_pall") | $(met "$kcat_pall >= 0.8 * $line_pall") |
| Kafka path ≥ Redis (kcat -P acks=1 / redis-cli --pipe) | $(ratio "$kcat_p1" "$redis_pipe") | $(met "$kcat_p1 >= $redis_pipe") |
| consume ≥ 1M msgs/s (kcat -C) | $kcat_c | $(met "$kcat_c >= 1000000") |
| 1 KiB records beside Tansu's published SQLite figure (about 47,000 records/s) | $(ratio "$ck_1k_1" 47000)× | |
EOF
