#!/usr/bin/env bash
# SASL against `brook serve --auth`: kcat (librdkafka 2.0.2), confluent-kafka, kafka-python and aiokafka
# authenticate with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN (loopback), a wrong password and a
# client without SASL are refused, and the line CLI authenticates with --user. Then ACLs: a user
# added through the server may write one topic and not another, read through one group only.
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

# Super users: a server with --auth enforces ACLs, and these two pass every check.
printf 'alice-secret\n' | "$brook" users add alice --super --db "$work/brook.db" >/dev/null
printf 'bob-secret\n' | "$brook" users add bob --super --iterations 8192 --db "$work/brook.db" >/dev/null

start() {  # extra serve arguments; sets line and kafka
    "$brook" serve --db "$work/brook.db" --port 0 --kafka-port 0 --no-http "$@" >"$work/serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 200); do
        grep -q "listening for Kafka clients" "$work/serve.log" 2>/dev/null && grep -q " port=" "$work/serve.log" && break
        kill -0 "$server_pid" 2>/dev/null || fail "brook serve $* exited"
        sleep 0.05
    done
    line="127.0.0.1:$(grep -o ' port=[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2)"
    kafka="$(grep -o 'kafka=[0-9.:]*' "$work/serve.log" | head -1 | cut -d= -f2)"
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

start --auth
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

# ACLs. dave is added through the running server by a super user (alice's password from
# BROOK_PASSWORD, dave's on standard input); dave is no super user.
printf 'dave-secret\n' | BROOK_PASSWORD=alice-secret "$brook" users add dave --server "$line" --user alice | grep -q "added user dave to the server" \
    || fail "brook users add dave through the server"
if printf 'x\n' | BROOK_PASSWORD=dave-secret "$brook" users add eve --server "$line" --user dave 2>"$work/err"; then fail "dave added a user"; fi
grep -q "NOT_AUTHORIZED user 'dave' may not add users: only a super user may" "$work/err" || fail "dave's users add: $(cat "$work/err")"
echo "ok: a super user adds a user through the running server; another user may not"
"$python" "$here/acl_check.py" "$kafka"
BROOK_PASSWORD=alice-secret "$brook" topics create kcat-denied --server "$line" --user alice >/dev/null
# shellcheck disable=SC2046
out="$(printf 'no\n' | kcat -b "$kafka" $(sasl SCRAM-SHA-256 dave dave-secret) -P -t kcat-denied 2>&1 || true)"
grep -qi "topic authorization failed" <<<"$out" || fail "kcat's produce to a topic dave may not write: $out"
[[ "$(BROOK_PASSWORD=alice-secret "$brook" sql "SELECT count(*) FROM \"kcat-denied\"" --server "$line" --user alice)" == *0* ]] || fail "kcat wrote to kcat-denied"
echo "ok: kcat's produce without WRITE is refused (Topic authorization failed) and nothing is written"
if BROOK_PASSWORD=dave-secret "$brook" sql "SELECT 1" --server "$line" --user dave 2>"$work/err"; then fail "dave ran SQL"; fi
grep -q "NOT_AUTHORIZED user 'dave' may not CLUSTER_ACTION the cluster" "$work/err" || fail "dave's SQL: $(cat "$work/err")"
BROOK_PASSWORD=alice-secret "$brook" acls add --allow dave --operation cluster-action --cluster --server "$line" --user alice >/dev/null
BROOK_PASSWORD=dave-secret "$brook" sql "SELECT 1" --server "$line" --user dave >/dev/null || fail "dave's SQL with CLUSTER_ACTION"
echo "ok: the line protocol: SQL needs CLUSTER_ACTION on the cluster (NOT_AUTHORIZED), and brook acls add grants it"
grep -q 'acl=User:dave.*ACL added' "$work/serve.log" || fail "no log line for an added ACL"

# The line protocol: --user with the password from BROOK_PASSWORD.
BROOK_PASSWORD=alice-secret "$brook" topics list --server "$line" --user alice | grep -q "sasl-plain" \
    || fail "brook topics list --user alice"
if BROOK_PASSWORD=nope "$brook" topics list --server "$line" --user alice 2>"$work/err"; then fail "a wrong line password worked"; fi
grep -q "SASL_AUTHENTICATION_FAILED" "$work/err" || fail "the line CLI's failure: $(cat "$work/err")"
echo "ok: the line CLI authenticates with --user and is refused with a wrong password"
stop

# TLS: a CA, a server certificate for 127.0.0.1 (an IP SAN, which clients verify), and a client
# certificate whose CN is the user.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Brook test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=carol" -keyout "$work/client.key" -out "$work/client.csr" 2>/dev/null
openssl x509 -req -in "$work/client.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 -out "$work/client.pem" 2>/dev/null


# SASL_SSL with SCRAM-SHA-512, the hostname (IP SAN) verified by librdkafka.
start --auth --tls-cert "$work/server.pem" --tls-key "$work/server.key"
ssl="-X security.protocol=SASL_SSL -X ssl.ca.location=$work/ca.pem -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=alice-secret"
# shellcheck disable=SC2086
printf 'over tls\n' | kcat -b "$kafka" $ssl -P -t tls-topic
# shellcheck disable=SC2086
got="$(kcat -b "$kafka" $ssl -C -t tls-topic -e -q -f '%s\n')"
[[ "$got" == "over tls" ]] || fail "kcat over SASL_SSL read '$got'"
echo "ok: kcat produces and consumes over SASL_SSL SCRAM-SHA-512"
if kcat -b "$kafka" -X security.protocol=SASL_SSL -X ssl.ca.location=/etc/ssl/certs/ca-certificates.crt \
    -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=alice-secret -L -m 3 >/dev/null 2>&1; then
    fail "kcat trusted a certificate its CA list does not hold"
fi
echo "ok: kcat refuses the server's certificate without Brook's CA"
"$python" "$here/sasl_check.py" "$kafka" --tls "$work/ca.pem"
got="$(BROOK_PASSWORD=alice-secret "$brook" topics list --server "$line" --user alice --tls-ca "$work/ca.pem")"
grep -q "tls-topic" <<<"$got" || fail "brook topics list over TLS: $got"
if BROOK_PASSWORD=alice-secret "$brook" topics list --server "$line" --user alice 2>"$work/err" </dev/null; then fail "a plain client reached the TLS server"; fi
grep -q "connect with --tls-ca" "$work/err" || fail "the plain client's error: $(cat "$work/err")"
echo "ok: the line CLI over TLS with --user; without --tls-ca it is told to use it"
stop

# mTLS: a client certificate is required, and its CN is the user; no SASL needed.
start --auth --tls-cert "$work/server.pem" --tls-key "$work/server.key" --tls-client-ca "$work/ca.pem" --super-user carol
mtls="-X security.protocol=SSL -X ssl.ca.location=$work/ca.pem"
# shellcheck disable=SC2086
got="$(kcat -b "$kafka" $mtls -X ssl.certificate.location="$work/client.pem" -X ssl.key.location="$work/client.key" -C -t tls-topic -e -q -f '%s\n')"
[[ "$got" == "over tls" ]] || fail "kcat with a client certificate read '$got'"
# shellcheck disable=SC2086
if kcat -b "$kafka" $mtls -L -m 3 >/dev/null 2>&1; then fail "kcat without a client certificate listed metadata"; fi
echo "ok: mTLS: kcat with a client certificate reads; without one it is refused"
"$brook" topics list --server "$line" --tls-ca "$work/ca.pem" --tls-cert "$work/client.pem" --tls-key "$work/client.key" | grep -q tls-topic \
    || fail "brook topics list with a client certificate"
if "$brook" topics list --server "$line" --tls-ca "$work/ca.pem" >/dev/null 2>&1 </dev/null; then fail "the line CLI without a client certificate got in"; fi
echo "ok: mTLS: the line CLI with a client certificate lists topics; without one it is refused"
stop
echo "all SASL and TLS checks passed"
