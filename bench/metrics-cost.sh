#!/usr/bin/env bash
# What the metrics cost: the produce benchmark against a server with metrics on (HTTP served, the
# broker recording into the Prometheus registry) and one with them off (--no-http: no factory, no
# recording), in one run on this machine. The two servers take turns, ROUNDS times each, so drift
# in the machine's load falls on both; the medians and their difference are printed.
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

rate() {  # port, round
    "$brook" bench produce --server "127.0.0.1:$1" --topic "bench-$2" --messages "$messages" --size 100 --batch 100 \
        --connections 4 --acks 1 --partitions 4 2>/dev/null | sed -n 's/^RESULT.* msgs_per_s=\([0-9]*\).*/\1/p'
}
off_rates=()
on_rates=()
for round in $(seq 1 "$rounds"); do
    off_rates+=("$(rate "$off_port" "$round")")
    on_rates+=("$(rate "$on_port" "$round")")
    echo "round $round: metrics off ${off_rates[-1]} msgs/s, on ${on_rates[-1]} msgs/s"
done
# The registry really counted: every record of every round.
counted=$(python3 -c "
import urllib.request
text = urllib.request.urlopen('http://$on_http/metrics').read().decode()
print(int(sum(float(l.rsplit(' ', 1)[1]) for l in text.splitlines() if l.startswith('brook_produced_records_total{'))))")
[[ "$counted" == "$((messages * rounds))" ]] || { echo "FAIL: /metrics counted $counted records, not $((messages * rounds))" >&2; exit 1; }
python3 - "${off_rates[*]}" "${on_rates[*]}" <<'PY'
import statistics, sys
off = [int(x) for x in sys.argv[1].split()]
on = [int(x) for x in sys.argv[2].split()]
m_off, m_on = statistics.median(off), statistics.median(on)
print(f"RESULT bench=metrics-cost off_msgs_per_s={m_off:.0f} on_msgs_per_s={m_on:.0f} difference_pct={(m_on - m_off) * 100 / m_off:+.1f}")
PY
