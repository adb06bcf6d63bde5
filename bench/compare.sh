#!/usr/bin/env bash
# Brook side by side with Redis Streams, NATS JetStream and the raw SQLite ceiling, and its Kafka
# listener under librdkafka clients, in one run on this machine. Installs redis-server, nats-server
# and kcat from Debian's packages and confluent-kafka into a virtual environment (the one
# bench/kafka.sh uses) if missing, starts Brook, Redis and nats-server on free loopback ports in a
# temporary directory, runs every workload, stops them and writes docs/benchmarks.md.
#
#   bash bench/compare.sh            # 4-8 minutes on a loaded 2-core machine, besides the build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run_started=$(date +%s)
export PATH="/opt/swift/usr/bin:$PATH"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v nats-server >/dev/null || need+=(nats-server)
command -v kcat >/dev/null || need+=(kcat)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
kafka_venv="${BROOK_KAFKA_VENV:-/tmp/brook-kafka-venv}"
if ! "$kafka_venv/bin/python" -c "import confluent_kafka" 2>/dev/null; then
    if ! python3 -m venv "$kafka_venv" 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$kafka_venv"
    fi
    "$kafka_venv/bin/pip" install -q confluent-kafka
fi
python="$kafka_venv/bin/python"
swift build -c release --product brook >/dev/null
brook="$root/.build/release/brook"

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
brook_port=$(free_port)
kafka_port=$(free_port)
redis_port=$(free_port)
nats_port=$(free_port)
cleanup() {
    [ -n "${brook_pid:-}" ] && kill "$brook_pid" 2>/dev/null || true
    [ -n "${brook_unix_pid:-}" ] && kill "$brook_unix_pid" 2>/dev/null || true
    [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
    [ -n "${nats_pid:-}" ] && kill "$nats_pid" 2>/dev/null || true
    [ -n "${kafka_consumer_pid:-}" ] && kill "$kafka_consumer_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_brook() {
    "$brook" serve --db "$work/brook.db" --port "$brook_port" --kafka-port "$kafka_port" --http-port 0 --log-level warning 2>"$work/brook.log" &
    brook_pid=$!
    until (exec 3<>"/dev/tcp/127.0.0.1/$brook_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; do sleep 0.05; done
}
start_brook
redis-server --port "$redis_port" --bind 127.0.0.1 --unixsocket "$work/redis.sock" --unixsocketperm 700 \
    --dir "$work" --appendonly yes --appendfsync everysec \
    --save "" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
# JetStream with file storage, one replica. nats-server 2.9 (Debian's) writes each message to its
# block file before acknowledging it (a process crash keeps it, as Brook's acks=1 does) and fsyncs
# every 2 minutes in the background; it has no setting to fsync each message (`sync_interval:
# always` arrived in 2.10.0), so JetStream gets no acks=all row.
printf 'listen: 127.0.0.1:%s\njetstream {\n    store_dir: "%s"\n}\n' "$nats_port" "$work/nats" >"$work/nats.conf"
nats-server -c "$work/nats.conf" >"$work/nats.log" 2>&1 &
nats_pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; do sleep 0.05; done
nats_version=$(nats-server --version | sed 's/^nats-server: //')
nats="--server 127.0.0.1:$nats_port"

server="--server 127.0.0.1:$brook_port"
value=$(head -c 100 /dev/zero | tr '\0' 'x')
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -1; }
bench() { "$brook" bench "$@" 2>"$work/bench.err" | grep '^RESULT' || { tail -3 "$work/bench.err" >&2; return 1; }; }
redis_rps() { redis-benchmark -q -p "$redis_port" "$@" 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1; }
rss_kb() { awk "/^$1:/ {print \$2}" "/proc/$brook_pid/status"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
# A server's CPU time (utime + stime from /proc) and its cost per request over a workload.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)
per_request() { python3 -c "print(f'{($2 - $1) * 1e6 / $ticks_per_s / $3:.1f}')"; }  # before, after, requests

echo "== idle RSS"
idle_rss=$(rss_kb VmRSS)

echo "== produce: 100-byte records, batch 100, acks=1, 4 connections"
produce=$(bench produce $server --topic bench --messages 1000000 --size 100 --batch 100 --connections 4 --acks 1 --partitions 4)
produce_rss=$(rss_kb VmHWM)
echo "== Redis XADD, pipeline 100, 4 connections (AOF everysec)"
xadd=$(redis_rps -c 4 -n 1000000 -P 100 XADD bench '*' v "$value")
echo "== NATS JetStream publish with acknowledgements, 100 B, 4 connections, 800 unacknowledged each (Brook's batch 100 x 8 in flight)"
js_produce=$(bench nats produce $nats --stream bench --streams 4 --messages 1000000 --size 100 --connections 4 --window 800)
echo "== one record per request, acks=1, 50 connections, 5 in flight each: Brook, then JetStream"
before=$(ticks "$brook_pid")
produce_one=$(bench produce $server --topic bench-one --messages 300000 --size 100 --batch 1 --connections 50 --window 5 --acks 1 --partitions 4)
cpu_one=$(per_request "$before" "$(ticks "$brook_pid")" 300000)
before=$(ticks "$nats_pid")
js_produce_one=$(bench nats produce $nats --stream bench-one --streams 4 --messages 300000 --size 100 --connections 50 --window 5)
js_cpu_one=$(per_request "$before" "$(ticks "$nats_pid")" 300000)
echo "== raw SQLite ceiling, batch 100, synchronous NORMAL and FULL"
ceiling_normal=$(bench ceiling --messages 1000000 --size 100 --batch 100 --synchronous normal --db "$work/ceiling.db")
ceiling_full=$(bench ceiling --messages 100000 --size 100 --batch 100 --synchronous full --db "$work/ceiling.db")

echo "== produce acks=all: 50 connections, one record per request"
before=$(ticks "$brook_pid")
produce_all=$(bench produce $server --topic bench-all --messages 200000 --size 100 --batch 1 --connections 50 --window 1 --acks all --partitions 4)
cpu_all=$(per_request "$before" "$(ticks "$brook_pid")" 200000)
echo "== the same with 5 requests in flight per connection (a Kafka producer's default max.in.flight)"
produce_all5=$(bench produce $server --topic bench-all5 --messages 300000 --size 100 --batch 1 --connections 50 --window 5 --acks all --partitions 4)
echo "== Redis XADD with appendfsync always, 50 connections, no pipelining, then pipeline 5"
redis-cli -p "$redis_port" config set appendfsync always >/dev/null
before=$(ticks "$redis_pid")
xadd_always=$(redis_rps -c 50 -n 200000 -P 1 XADD bench-all '*' v "$value")
redis_cpu_all=$(per_request "$before" "$(ticks "$redis_pid")" 200000)
xadd_always5=$(redis_rps -c 50 -n 300000 -P 5 XADD bench-all '*' v "$value")
redis-cli -p "$redis_port" config set appendfsync everysec >/dev/null

echo "== the same over Unix domain sockets (clients on the same machine): Brook, then Redis"
"$brook" serve --db "$work/brook-unix.db" --unix-socket "$work/brook.sock" --no-kafka --http-port 0 --log-level warning 2>"$work/brook-unix.log" &
brook_unix_pid=$!
until "$brook" topics list --server "unix:$work/brook.sock" >/dev/null 2>&1; do sleep 0.05; done
unix_server="--server unix:$work/brook.sock"
produce_all_unix=$(bench produce $unix_server --topic bench-all --messages 200000 --size 100 --batch 1 --connections 50 --window 1 --acks all --partitions 4)
redis-cli -p "$redis_port" config set appendfsync always >/dev/null
xadd_always_unix=$(redis_rps -s "$work/redis.sock" -c 50 -n 200000 -P 1 XADD bench-all-unix '*' v "$value")
redis-cli -p "$redis_port" config set appendfsync everysec >/dev/null
e2e_unix=$(bench e2e $unix_server --rate 10000 --duration 10)
kill "$brook_unix_pid"; wait "$brook_unix_pid" 2>/dev/null || true; brook_unix_pid=

echo "== consume the backlog, 1000 records per fetch"
consume=$(bench consume $server --topic bench --messages 1000000 --batch 1000)
echo "== Redis XREAD COUNT 1000"
xread_rps=$(redis_rps -c 1 -n 2000 XREAD COUNT 1000 STREAMS bench 0)
xread=$(python3 -c "print(f'{$xread_rps*1000:.0f}')")
echo "== NATS JetStream: a durable pull consumer per stream drains the backlog, 1000 per pull request"
js_consume=$(bench nats consume $nats --stream bench --streams 4 --messages 1000000 --batch 1000)

echo "== end to end: 10,000 records/s for 10 s, long-polling consumer"
e2e=$(bench e2e $server --rate 10000 --duration 10)
echo "== NATS JetStream end to end: 10,000 msgs/s for 10 s, push consumer"
js_e2e=$(bench nats e2e $nats --rate 10000 --duration 10)

echo "== Kafka protocol: kcat -P of 1,000,000 lines of 100 B at acks=1 and acks=all, then kcat -C of the backlog"
broker="127.0.0.1:$kafka_port"
python3 -c 'import sys; sys.stdout.writelines(f"{i:010d}" + "x" * 90 + "\n" for i in range(1000000))' >"$work/lines.txt"
now() { date +%s.%N; }
rate() { python3 -c "print(round($1 / ($3 - $2)))"; }
kcat_produce() {
    local start end
    start=$(now)
    kcat -P -b "$broker" -t "$1" -X acks="$2" -l "$work/lines.txt"
    end=$(now)
    rate 1000000 "$start" "$end"
}
kcat_p1=$(kcat_produce kcat-acks1 1)
kcat_pall=$(kcat_produce kcat-acksall all)
# Consuming, timed two ways. To the last record: -c stops kcat at the 1,000,000th (it exits 0
# only once it has read them all; the timeout fails the run otherwise), and its output goes to
# /dev/null, as the other consume workloads print nothing. Then as a user would run it: every
# record written to a file, until librdkafka's end-of-partition event (-e), which 2.0.2 raises
# only on an empty fetch: one the broker, like Kafka, holds for the client's fetch.wait.max.ms
# (500 ms) at the end of the log.
# Three reads, each a second or so, on a host whose share of the cores moves from minute to
# minute: the median is the figure, and all three are shown.
kcat_reads=()
for _ in 1 2 3; do
    start=$(now)
    timeout 120 kcat -C -b "$broker" -t kcat-acks1 -o beginning -c 1000000 -q >/dev/null \
        || { echo "kcat -C -c 1000000 did not read 1000000 records" >&2; exit 1; }
    end=$(now)
    kcat_reads+=("$(rate 1000000 "$start" "$end")")
done
kcat_c=$(printf '%s\n' "${kcat_reads[@]}" | sort -n | sed -n 2p)
kcat_c_reads=$(IFS=/; echo "${kcat_reads[*]}")
start=$(now)
kcat -C -b "$broker" -t kcat-acks1 -o beginning -e -q >"$work/kcat-c.out"
end=$(now)
consumed=$(wc -l <"$work/kcat-c.out")
rm -f "$work/kcat-c.out"
[ "$consumed" -eq 1000000 ] || { echo "kcat -C -e read $consumed of 1000000 records" >&2; exit 1; }
kcat_c_eof=$(rate 1000000 "$start" "$end")
echo "== Kafka protocol end to end: 10,000 records/s for 10 s (confluent-kafka: linger.ms=0, acks=1)"
"$brook" topics create kafka-e2e --partitions 1 $server >/dev/null
"$python" bench/kafka-e2e.py consume "$broker" kafka-e2e 100000 >"$work/kafka-e2e.out" 2>"$work/kafka-e2e.err" &
kafka_consumer_pid=$!
until grep -q '^ready' "$work/kafka-e2e.out"; do
    kill -0 "$kafka_consumer_pid" 2>/dev/null || { cat "$work/kafka-e2e.err" >&2; exit 1; }
    sleep 0.05
done
"$python" bench/kafka-e2e.py produce "$broker" kafka-e2e 10000 10 100
wait "$kafka_consumer_pid" || { cat "$work/kafka-e2e.err" >&2; exit 1; }
kafka_consumer_pid=
kafka_e2e=$(grep '^RESULT' "$work/kafka-e2e.out")
echo "== a group of 4 consumers drains the backlog"
group=$(bench group $server --topic bench --consumers 4 --batch 1000)

echo "== 10,000 partitions: create, then restart"
"$brook" topics create wide --partitions 10000 $server >/dev/null
kill "$brook_pid"; wait "$brook_pid" 2>/dev/null || true
start=$(date +%s.%N); start_brook; restart_s=$(python3 -c "print(f'{$(date +%s.%N)-$start:.2f}')")

echo "== 5,000 idle connections"
connections=$(python3 - "$brook_port" <<'PY'
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
port = int(sys.argv[1]); socks = []
for _ in range(5000):
    s = socket.create_connection(("127.0.0.1", port)); socks.append(s)
def line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        data += s.recv(4096)
    return data
greeted = sum(1 for s in socks if line(s).startswith(b"HELLO"))
c = socket.create_connection(("127.0.0.1", port)); line(c); c.sendall(b"PING\r\n")
print(greeted, c.recv(100).startswith(b"OK PONG"))
PY
)
connections_rss=$(rss_kb VmRSS)

p() { echo "$1" | field "$2"; }
# Every workload measured something: a rate or a latency of zero or none fails the run.
for figure in "produce:$(p "$produce" msgs_per_s)" "xadd:$xadd" "nats-produce:$(p "$js_produce" msgs_per_s)" \
    "produce-one:$(p "$produce_one" msgs_per_s)" "nats-produce-one:$(p "$js_produce_one" msgs_per_s)" \
    "consume:$(p "$consume" msgs_per_s)" "nats-consume:$(p "$js_consume" msgs_per_s)" \
    "e2e:$(p "$e2e" p50_ms)" "nats-e2e:$(p "$js_e2e" p50_ms)" "kafka-e2e:$(p "$kafka_e2e" p50_ms)" \
    "kcat-p-acks1:$kcat_p1" "kcat-p-acksall:$kcat_pall" "kcat-c:$kcat_c" "kcat-c-eof:$kcat_c_eof"; do
    python3 -c "import sys; sys.exit(0 if float('${figure#*:}' or 0) > 0 else 1)" 2>/dev/null \
        || { echo "compare.sh: ${figure%%:*} measured nothing ('${figure#*:}')" >&2; exit 1; }
done
met() { python3 -c "print('yes' if $1 else 'no')"; }
produce_rate=$(p "$produce" msgs_per_s)
ceiling_rate=$(p "$ceiling_normal" msgs_per_s)
cores=$(nproc); memory=$(free -g | awk '/Mem:/ {print $2}'); cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat > "$work/results.md" <<EOF
Measured by \`bash bench/compare.sh\` on $(date -u +%Y-%m-%d): $cores cores ($cpu), $memory GiB of memory,
Brook $("$brook" --version), $(redis-server --version | cut -d' ' -f1-3), nats-server $nats_version, $(kcat -V 2>&1 | grep -o 'librdkafka [0-9.]*' | head -1 | sed 's/^/kcat with /'), confluent-kafka $("$python" -c 'import importlib.metadata as m, confluent_kafka as c; print(m.version("confluent-kafka"), "with librdkafka", c.libversion()[0])'), SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '(system library)'),
load generator on the same machine. Every figure is from one run of the script; the ratios compare
figures of that same run, which took $(( $(date +%s) - run_started )) s. JetStream: file storage, one replica per stream; a stream stands
for a partition (4 streams beside 4 partitions); nats-server $nats_version writes each message to its block file before the
acknowledgement and fsyncs every 2 minutes in the background, with no setting to fsync each message (\`sync_interval: always\`
arrived in 2.10.0), so it has no acks=all row.

#### Targets

| workload | Brook | peer in the same run | ratio | target | met |
|---|---|---|---|---|---|
| produce, 100 B, batch 100, acks=1, 4 connections | $produce_rate msgs/s | Redis XADD pipeline 100: $xadd msgs/s | $(ratio "$produce_rate" "$xadd") | ≥ 1.0 | $(python3 -c "print('yes' if $produce_rate >= $xadd else 'no')") |
| same, against raw SQLite (batch 100, synchronous=NORMAL) | $produce_rate msgs/s | SQLite ceiling: $ceiling_rate msgs/s | $(ratio "$produce_rate" "$ceiling_rate") | ≥ 0.60 | $(python3 -c "print('yes' if $produce_rate >= 0.6*$ceiling_rate else 'no')") |
| produce acks=all, 50 connections, 1 record per request | $(p "$produce_all" msgs_per_s) msgs/s | Redis XADD appendfsync always, 50 connections: $xadd_always msgs/s | $(ratio "$(p "$produce_all" msgs_per_s)" "$xadd_always") | ≥ 50,000 msgs/s | $(python3 -c "print('yes' if $(p "$produce_all" msgs_per_s) >= 50000 else 'no')") |
| the same, 5 requests in flight per connection (Kafka's default) | $(p "$produce_all5" msgs_per_s) msgs/s | Redis XADD appendfsync always, 50 connections, pipeline 5: $xadd_always5 msgs/s | $(ratio "$(p "$produce_all5" msgs_per_s)" "$xadd_always5") | ≥ 50,000 msgs/s | $(python3 -c "print('yes' if $(p "$produce_all5" msgs_per_s) >= 50000 else 'no')") |
| server CPU per one-record acks=all request (1 in flight, the row above) | $cpu_all µs | Redis, appendfsync always: $redis_cpu_all µs | $(ratio "$cpu_all" "$redis_cpu_all") | ≤ 1.0 | $(met "$cpu_all <= $redis_cpu_all") |
| the same (1 in flight) over a Unix domain socket | $(p "$produce_all_unix" msgs_per_s) msgs/s | Redis XADD appendfsync always, 50 connections, Unix socket: $xadd_always_unix msgs/s | $(ratio "$(p "$produce_all_unix" msgs_per_s)" "$xadd_always_unix") | ≥ 50,000 msgs/s | $(python3 -c "print('yes' if $(p "$produce_all_unix" msgs_per_s) >= 50000 else 'no')") |
| consume a backlog, 1000 per fetch | $(p "$consume" msgs_per_s) msgs/s | Redis XREAD COUNT 1000: $xread msgs/s | $(ratio "$(p "$consume" msgs_per_s)" "$xread") | ≥ 1,500,000 msgs/s | $(python3 -c "print('yes' if $(p "$consume" msgs_per_s) >= 1500000 else 'no')") |
| produce, 100 B, acks=1, 4 connections, 800 records in flight each (Brook: batch 100, 8 requests in flight) | $produce_rate msgs/s | JetStream publish, 4 connections, 800 unacknowledged each: $(p "$js_produce" msgs_per_s) msgs/s | $(ratio "$produce_rate" "$(p "$js_produce" msgs_per_s)") | ≥ 1.0 | $(met "$produce_rate >= $(p "$js_produce" msgs_per_s)") |
| produce, 100 B, acks=1, one record per request, 50 connections, 5 in flight each | $(p "$produce_one" msgs_per_s) msgs/s | JetStream publish, 50 connections, 5 unacknowledged each: $(p "$js_produce_one" msgs_per_s) msgs/s | $(ratio "$(p "$produce_one" msgs_per_s)" "$(p "$js_produce_one" msgs_per_s)") | ≥ 1.0 | $(met "$(p "$produce_one" msgs_per_s) >= $(p "$js_produce_one" msgs_per_s)") |
| consume a backlog, 1000 per fetch, one connection per partition | $(p "$consume" msgs_per_s) msgs/s | JetStream durable pull consumer per stream, 1000 per pull: $(p "$js_consume" msgs_per_s) msgs/s | $(ratio "$(p "$consume" msgs_per_s)" "$(p "$js_consume" msgs_per_s)") | ≥ 1.0 | $(met "$(p "$consume" msgs_per_s) >= $(p "$js_consume" msgs_per_s)") |
| end to end at 10,000 msgs/s, long-polling consumer | p50 $(p "$e2e" p50_ms) ms, p99 $(p "$e2e" p99_ms) ms, p99.9 $(p "$e2e" p999_ms) ms, max $(p "$e2e" max_ms) ms | | | p99 ≤ 1 ms | $(python3 -c "print('yes' if $(p "$e2e" p99_ms) <= 1 else 'no')") |
| the same end to end over a Unix domain socket | p50 $(p "$e2e_unix" p50_ms) ms, p99 $(p "$e2e_unix" p99_ms) ms, p99.9 $(p "$e2e_unix" p999_ms) ms, max $(p "$e2e_unix" max_ms) ms | | | p99 ≤ 1 ms | $(python3 -c "print('yes' if $(p "$e2e_unix" p99_ms) <= 1 else 'no')") |
| the same end to end beside JetStream (TCP) | p99 $(p "$e2e" p99_ms) ms | JetStream, push consumer: p50 $(p "$js_e2e" p50_ms) ms, p99 $(p "$js_e2e" p99_ms) ms, p99.9 $(p "$js_e2e" p999_ms) ms, max $(p "$js_e2e" max_ms) ms | $(ratio "$(p "$e2e" p99_ms)" "$(p "$js_e2e" p99_ms)") (p99) | | |
| end to end at 10,000 msgs/s over the Kafka protocol (confluent-kafka producer, linger.ms=0, acks=1; consumer in another process) | p50 $(p "$kafka_e2e" p50_ms) ms, p99 $(p "$kafka_e2e" p99_ms) ms, p99.9 $(p "$kafka_e2e" p999_ms) ms, max $(p "$kafka_e2e" max_ms) ms | | | p99 ≤ 1 ms | $(met "$(p "$kafka_e2e" p99_ms) <= 1") |
| Kafka protocol: kcat -P of 1,000,000 lines of 100 B, acks=1 | $kcat_p1 msgs/s | line protocol, batch 100 (first row): $produce_rate msgs/s | $(ratio "$kcat_p1" "$produce_rate") | | |
| the same, acks=all | $kcat_pall msgs/s | | | | |
| Kafka protocol: kcat -C of that backlog, to its last record (-c 1000000, output to /dev/null), median of 3 reads ($kcat_c_reads) | $kcat_c msgs/s | line protocol consume (above): $(p "$consume" msgs_per_s) msgs/s | $(ratio "$kcat_c" "$(p "$consume" msgs_per_s)") | ≥ 1,000,000 msgs/s | $(met "$kcat_c >= 1000000") |
| the same, each record written to a file, until the end-of-partition event (-e: one more fetch, held 500 ms by fetch.wait.max.ms) | $kcat_c_eof msgs/s | | | | |
| RSS idle | $((idle_rss / 1024)) MB | | | ≤ 30 MB | $(python3 -c "print('yes' if $idle_rss <= 30*1024 else 'no')") |
| RSS peak under the produce benchmark | $((produce_rss / 1024)) MB | | | ≤ 150 MB | $(python3 -c "print('yes' if $produce_rss <= 150*1024 else 'no')") |
| start with 10,000 partitions (to accepting connections) | $restart_s s | | | < 1 s | $(python3 -c "print('yes' if $restart_s < 1 else 'no')") |
| 5,000 idle connections | greeted, still serving: $connections; RSS $((connections_rss / 1024)) MB | | | held | $(echo "$connections" | grep -q '^5000 True' && echo yes || echo no) |

Other figures of the run: raw SQLite with synchronous=FULL at batch 100: $(p "$ceiling_full" msgs_per_s) msgs/s;
a group of 4 consumers drained the backlog at $(p "$group" msgs_per_s) msgs/s, timed from its first record (the group formed in $(p "$group" join_ms) ms: group.initial.rebalance.delay.ms is 3000 by default, as in Kafka).
Produce latency per request (batch 100, acks=1): p50 $(p "$produce" p50_ms) ms, p99 $(p "$produce" p99_ms) ms;
acks=all one record per request: p50 $(p "$produce_all" p50_ms) ms, p99 $(p "$produce_all" p99_ms) ms (5 in flight: p50 $(p "$produce_all5" p50_ms) ms, p99 $(p "$produce_all5" p99_ms) ms).
JetStream publish latency per message (800 unacknowledged per connection): p50 $(p "$js_produce" p50_ms) ms, p99 $(p "$js_produce" p99_ms) ms;
one record per request, 5 in flight: Brook p50 $(p "$produce_one" p50_ms) ms, p99 $(p "$produce_one" p99_ms) ms; JetStream p50 $(p "$js_produce_one" p50_ms) ms, p99 $(p "$js_produce_one" p99_ms) ms;
server CPU per one-record acks=1 request there: Brook $cpu_one µs, nats-server $js_cpu_one µs.

#### Commands

\`\`\`
brook bench produce --messages 1000000 --size 100 --batch 100 --connections 4 --acks 1
redis-benchmark -c 4 -n 1000000 -P 100 XADD bench '*' v <100 bytes>        (appendonly yes, appendfsync everysec)
brook bench ceiling --messages 1000000 --size 100 --batch 100 --synchronous normal
brook bench ceiling --messages 100000 --size 100 --batch 100 --synchronous full
brook bench produce --topic bench-all --messages 200000 --batch 1 --connections 50 --window 1 --acks all
redis-benchmark -c 50 -n 200000 -P 1 XADD bench-all '*' v <100 bytes>      (appendfsync always)
brook bench produce --topic bench-all5 --messages 300000 --batch 1 --connections 50 --window 5 --acks all
redis-benchmark -c 50 -n 300000 -P 5 XADD bench-all '*' v <100 bytes>      (appendfsync always)
brook serve --unix-socket brook.sock; brook bench produce --server unix:brook.sock (as above, acks=all, 1 in flight)
redis-benchmark -s redis.sock -c 50 -n 200000 -P 1 XADD bench-all-unix '*' v <100 bytes>   (appendfsync always)
brook bench e2e --server unix:brook.sock --rate 10000 --duration 10
brook bench consume --messages 1000000 --batch 1000
redis-benchmark -c 1 -n 2000 XREAD COUNT 1000 STREAMS bench 0             (x 1000 records per call)
brook bench e2e --rate 10000 --duration 10
brook bench group --consumers 4 --batch 1000
nats-server -c nats.conf                                                  (jetstream { store_dir }, file storage)
brook bench nats produce --stream bench --streams 4 --messages 1000000 --size 100 --connections 4 --window 800
brook bench produce --topic bench-one --messages 300000 --batch 1 --connections 50 --window 5 --acks 1
brook bench nats produce --stream bench-one --streams 4 --messages 300000 --size 100 --connections 50 --window 5
brook bench nats consume --stream bench --streams 4 --messages 1000000 --batch 1000
brook bench nats e2e --rate 10000 --duration 10
kcat -P -b <Kafka listener> -t kcat-acks1 -X acks=1 -l <1,000,000 lines of 100 B>   (and -t kcat-acksall -X acks=all)
kcat -C -b <Kafka listener> -t kcat-acks1 -o beginning -c 1000000 -q >/dev/null
kcat -C -b <Kafka listener> -t kcat-acks1 -o beginning -e -q >FILE
python bench/kafka-e2e.py consume <Kafka listener> kafka-e2e 100000 &
python bench/kafka-e2e.py produce <Kafka listener> kafka-e2e 10000 10 100  (topic of 1 partition)
\`\`\`
EOF
# Replace the measured section of docs/benchmarks.md, keeping the analysis around it.
python3 - "$root/docs/benchmarks.md" "$work/results.md" <<'PY'
import sys
path, results = sys.argv[1], open(sys.argv[2]).read()
begin, end = "<!-- results: written by bench/compare.sh -->", "<!-- /results -->"
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# Benchmarks\n\n" + begin + "\n" + end + "\n"
head, rest = text.split(begin, 1)
tail = rest.split(end, 1)[1]
open(path, "w").write(head + begin + "\n" + results + end + tail)
PY
echo "wrote docs/benchmarks.md"
grep '^|' "$root/docs/benchmarks.md"
