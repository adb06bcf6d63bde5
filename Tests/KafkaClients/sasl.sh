#!/usr/bin/env bash
# SASL against `brook serve --auth`: kcat (librdkafka 2.0.2), confluent-kafka and kafka-python
# authenticate with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN (loopback), a wrong password and a
# client without SASL are refused, and the line CLI authenticates with --user.
#
#   bash Tests/KafkaClients/sasl.sh [path/to/brook]   (default: .build/debug/brook)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
brook="$(realpath "${1:-$here/../../.build/debug/brook}")"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/brook-kafka-sasl.XXXXXX)"
server_pid=""

fail() { echo "FAIL: $*" >&2; [[ -f "$work/serve.log" ]] && tail -20 "$work/serve.log" >&2; exit 1; }
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

printf 'alice-secret\n' | "$brook" users add alice --db "$work/brook.db" >/dev/null
printf 'bob-secret\n' | "$brook" users add bob --iterations 8192 --db "$work/brook.db" >/dev/null

"$brook" serve --db "$work/brook.db" --port 0 --kafka-port 0 --auth >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening for Kafka clients" "$work/serve.log" 2>/dev/null && grep -q " port=" "$work/serve.log" && break
    kill -0 "$server_pid" 2>/dev/null || fail "brook serve --auth exited"
    sleep 0.05
done
line="127.0.0.1:$(grep -o ' port=[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2)"
kafka="$(grep -o 'kafka=[0-9.:]*' "$work/serve.log" | head -1 | cut -d= -f2)"
echo "brook serve --auth: line $line, kafka $kafka"

sasl() {  # mechanism user password: kcat's SASL options
    echo "-X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=$1 -X sasl.username=$2 -X sasl.password=$3"
}

# kcat with each mechanism: produce, then read back.
for mechanism in SCRAM-SHA-256 SCRAM-SHA-512 PLAIN; do
    topic="sasl-${mechanism,,}"
    # shellcheck disable=SC2046
    printf 'k:%s\n' "$mechanism" | kcat -b "$kafka" $(sasl "$mechanism" alice alice-secret) -P -t "$topic" -K:
    # shellcheck disable=SC2046
    got="$(kcat -b "$kafka" $(sasl "$mechanism" bob bob-secret) -C -t "$topic" -e -q -f '%k|%s\n')"
    [[ "$got" == "k|$mechanism" ]] || fail "kcat over SASL $mechanism read '$got'"
    echo "ok: kcat produces and consumes over SASL_PLAINTEXT $mechanism"
done
grep -q 'user=alice .*authenticated' "$work/serve.log" || fail "no 'authenticated' log line"

# A wrong password, an unknown user, and no SASL at all: nothing works.
for credentials in "alice wrong" "mallory alice-secret"; do
    # shellcheck disable=SC2046,SC2086
    if out="$(kcat -b "$kafka" $(sasl SCRAM-SHA-512 $credentials) -L -m 5 2>&1)"; then
        fail "kcat with '$credentials' listed metadata: $out"
    fi
    grep -q "SASL authentication error: authentication of user .* failed: unknown user or wrong password" <<<"$out" || fail "kcat with '$credentials' did not report the failure: $out"
done
echo "ok: kcat with a wrong password or an unknown user is refused (SASL_AUTHENTICATION_FAILED)"
if out="$(kcat -b "$kafka" -L -m 3 2>&1)"; then fail "kcat without SASL listed metadata: $out"; fi
grep -q "a request before authentication" "$work/serve.log" || fail "no log line for the unauthenticated request"
echo "ok: kcat without SASL is refused"
if grep -q "alice-secret\|bob-secret" "$work/serve.log"; then fail "a password reached the log"; fi
echo "ok: no password in the server's log"

"$python" "$here/sasl_check.py" "$kafka"

# The line protocol: --user with the password from BROOK_PASSWORD.
BROOK_PASSWORD=alice-secret "$brook" topics list --server "$line" --user alice | grep -q "sasl-plain" \
    || fail "brook topics list --user alice"
if BROOK_PASSWORD=nope "$brook" topics list --server "$line" --user alice 2>"$work/err"; then fail "a wrong line password worked"; fi
grep -q "SASL_AUTHENTICATION_FAILED" "$work/err" || fail "the line CLI's failure: $(cat "$work/err")"
echo "ok: the line CLI authenticates with --user and is refused with a wrong password"
echo "all SASL checks passed"
