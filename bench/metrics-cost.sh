#!/usr/bin/env bash
# What the metrics cost: the produce benchmark against a server with metrics on (HTTP served, the
# broker recording into the Prometheus registry) and one with them off (--no-http: no factory, no
# recording), in one run on this machine. The two servers take turns, ROUNDS times each, so drift
# in the machine's load falls on both; the medians and their difference are printed, for the rate
# and for the server's CPU time per record (utime + stime from /proc/PID/stat over the round),
# which a busy or stolen-from host disturbs far less than the rate.
#
# Two workloads: batches of 100 records per request (the produce benchmark), and one record per
# request with 16 in flight per connection, where the per-request series (requests by API and
# their latency histogram) cost the most per record.
#
#   bash bench/metrics-cost.sh [path/to/brook] [rounds]   (default: a release build, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
if [[ $# -ge 1 ]]; then
    brook="$(realpath "$1")"
else
    swift build -c release --product brook >/dev/null
    brook="$PWD/.build/release/brook"
fi
rounds="${2:-5}"
messages="${BROOK_BENCH_MESSAGES:-1000000}"
single_messages="${BROOK_BENCH_SINGLE_MESSAGES:-200000}"

work=$(mktemp -d)
cleanup() {
    [[ -n "${off_pid:-}" ]] && kill "$off_pid" 2>/dev/null || true
    [[ -n "${on_pid:-}" ]] && kill "$on_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start() {  # name, extra serve arguments…; prints the line port
    local name=$1
    shift
    "$brook" serve --db "$work/$name.db" --port 0 --no-kafka "$@" >"$work/$name.log" 2>&1 &
    echo $! >"$work/$name.pid"
    for _ in $(seq 1 200); do
        grep -q ' port=' "$work/$name.log" 2>/dev/null && break
        sleep 0.05
    done
    grep -o ' port=[0-9]*' "$work/$name.log" | head -1 | cut -d= -f2
}
off_port=$(start off --no-http)
off_pid=$(cat "$work/off.pid")
on_port=$(start on --http-port 0)
on_pid=$(cat "$work/on.pid")
on_http=$(grep -o 'http=[0-9.:]*' "$work/on.log" | head -1 | cut -d= -f2)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

measure() {  # port, pid, topic, messages, batch, window: prints "rate cpu_us_per_record"
    local before after rate
    before=$(cpu_ticks "$2")
    rate=$("$brook" bench produce --server "127.0.0.1:$1" --topic "$3" --messages "$4" --size 100 --batch "$5" --window "$6" \
        --connections 4 --acks 1 --partitions 4 2>/dev/null | sed -n 's/^RESULT.* msgs_per_s=\([0-9]*\).*/\1/p')
    after=$(cpu_ticks "$2")
    [[ -n "$rate" ]] || { echo "FAIL: no result from brook bench produce against port $1" >&2; exit 1; }
    echo "$rate $(python3 -c "print(f'{($after - $before) * 1e6 / $ticks_per_s / $4:.3f}')")"
}

declare -A results
for round in $(seq 1 "$rounds"); do
    for workload in batch single; do
        if [[ $workload == batch ]]; then count=$messages batch=100 window=8; else count=$single_messages batch=1 window=16; fi
        declare -A last
        for side in off on; do
            if [[ $side == off ]]; then port=$off_port pid=$off_pid; else port=$on_port pid=$on_pid; fi
            last[$side]=$(measure "$port" "$pid" "$workload-$round" "$count" "$batch" "$window")
            results[$workload-$side]+="${last[$side]},"
        done
        echo "round $round, $workload: metrics off ${last[off]% *} msgs/s ${last[off]#* } µs CPU/record | on ${last[on]% *} msgs/s ${last[on]#* } µs CPU/record"
    done
done
# The registry really counted: every record of every round, and every request.
python3 - "$on_http" "$((messages * rounds + single_messages * rounds))" "$((messages / 100 * rounds + single_messages * rounds))" <<'PY2'
import sys, urllib.request
http, records, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = urllib.request.urlopen(f"http://{http}/metrics").read().decode()
def total(prefix):
    return int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix)))
counted = total("brook_produced_records_total{")
produces = total('brook_requests_total{protocol="line",api="PRODUCE"}')
if counted != records:
    sys.exit(f"FAIL: /metrics counted {counted} records, not {records}")
if produces < requests:
    sys.exit(f"FAIL: /metrics counted {produces} PRODUCE requests, fewer than the {requests} sent")
print(f"ok: /metrics counted {counted} records and {produces} PRODUCE requests")
PY2
python3 - "${results[batch-off]}" "${results[batch-on]}" "${results[single-off]}" "${results[single-on]}" <<'PY2'
import statistics, sys
def parse(text):
    pairs = [p.split() for p in text.strip(",").split(",")]
    return [float(r) for r, _ in pairs], [float(c) for _, c in pairs]
for name, off, on in (("batch100", sys.argv[1], sys.argv[2]), ("batch1", sys.argv[3], sys.argv[4])):
    (off_rate, off_cpu), (on_rate, on_cpu) = parse(off), parse(on)
    ro, rn, co, cn = (statistics.median(x) for x in (off_rate, on_rate, off_cpu, on_cpu))
    print(f"RESULT bench=metrics-cost workload={name} off_msgs_per_s={ro:.0f} on_msgs_per_s={rn:.0f} rate_difference_pct={(rn - ro) * 100 / ro:+.1f} "
          f"off_cpu_us_per_record={co:.3f} on_cpu_us_per_record={cn:.3f} cpu_difference_pct={(cn - co) * 100 / co:+.1f} "
          f"off_rates={min(off_rate):.0f}-{max(off_rate):.0f} on_rates={min(on_rate):.0f}-{max(on_rate):.0f} "
          f"off_cpu={min(off_cpu):.3f}-{max(off_cpu):.3f} on_cpu={min(on_cpu):.3f}-{max(on_cpu):.3f}")
PY2
