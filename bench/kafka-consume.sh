#!/usr/bin/env bash
# kcat -C of a backlog, for comparing brook binaries back to back on a shared machine: for each
# round and each binary, starts `brook serve` on a fresh database, writes the backlog with kcat -P,
# then times kcat -C of it (and `brook consume` of it, for a ratio within the same server) several
# times, with the server's CPU per record from /proc/PID/stat and kcat's own CPU. Prints one line
# per measurement. It writes no file of the repository.
#
#   bash bench/kafka-consume.sh OLD_BROOK NEW_BROOK            # 3 rounds, 3 reads each
#   ROUNDS=5 READS=2 BENCH_MESSAGES=500000 bash bench/kafka-consume.sh A B
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BROOK_BINARY..." >&2; exit 2; }
messages=${BENCH_MESSAGES:-1000000}
rounds=${ROUNDS:-3}
reads=${READS:-3}
command -v kcat >/dev/null || { echo "kcat is missing: apt-get install kcat" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "${brook_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
python3 -c "
import sys
with open('$work/lines.txt', 'w') as f:
    for i in range($messages): f.write(f'{i:010d}' + 'x' * 90 + '\n')"
ticks=$(getconf CLK_TCK)
# cpu PID: the process's utime + stime in seconds.
cpu() { awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
now() { date +%s.%N; }

echo "binary round what msgs/s wall_s server_cpu_us_per_record client_cpu_s"
for round in $(seq 1 "$rounds"); do
    for brook in "$@"; do
        rm -f "$work"/brook.db*
        line_port=$(free_port)
        kafka_port=$(free_port)
        "$brook" serve --db "$work/brook.db" --port "$line_port" --kafka-port "$kafka_port" --log-level warning 2>"$work/brook.log" &
        brook_pid=$!
        until (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; do sleep 0.05; done
        kcat -P -b "127.0.0.1:$kafka_port" -t backlog -X acks=1 -l "$work/lines.txt"
        for read in $(seq 1 "$reads"); do
            before=$(cpu "$brook_pid")
            start=$(now)
            client=$( { /usr/bin/time -f '%U %S' kcat -C -b "127.0.0.1:$kafka_port" -t backlog -o beginning -c "$messages" -e -q >"$work/out"; } 2>&1 | tail -1)
            end=$(now)
            after=$(cpu "$brook_pid")
            consumed=$(wc -l <"$work/out")
            [ "$consumed" -eq "$messages" ] || { echo "kcat -C read $consumed of $messages records" >&2; exit 1; }
            python3 -c "
u, s = '$client'.split()
print('$(basename "$brook")', $round, 'kcat-C', round($messages / ($end - $start)), f'{$end - $start:.2f}',
      f'{($after - $before) / $messages * 1e6:.2f}', f'{float(u) + float(s):.2f}')"
            before=$(cpu "$brook_pid")
            start=$(now)
            client=$( { /usr/bin/time -f '%U %S' "$brook" consume backlog --server "127.0.0.1:$line_port" --from-beginning \
                --max-messages "$messages" >"$work/out"; } 2>&1 | tail -1)
            end=$(now)
            after=$(cpu "$brook_pid")
            python3 -c "
u, s = '$client'.split()
print('$(basename "$brook")', $round, 'brook-consume', round($messages / ($end - $start)), f'{$end - $start:.2f}',
      f'{($after - $before) / $messages * 1e6:.2f}', f'{float(u) + float(s):.2f}')"
        done
        kill "$brook_pid"
        wait "$brook_pid" 2>/dev/null || true
        brook_pid=
    done
done
