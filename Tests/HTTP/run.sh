#!/usr/bin/env bash
# The HTTP listener of a built `brook serve`: /readyz, /metrics after a known workload (parsed
# with prometheus_client's text parser, exact counts), then the web console driven in headless
# Chromium (screenshots in $BROOK_CONSOLE_SCREENSHOTS, default Tests/HTTP/screenshots); then, under
# --auth over HTTPS, the console's login, its ACLs and /metrics with HTTP Basic.
#
#   bash Tests/HTTP/run.sh [path/to/brook]   (default: .build/debug/brook)
# Needs: a python3 with prometheus_client and selenium (PYTHON=… picks one), chromium and
# chromedriver (Debian: chromium, chromium-driver), openssl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
brook="$(realpath "${1:-$here/../../.build/debug/brook}")"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/brook-http.XXXXXX)"
server_pid=""

fail() { echo "FAIL: $*" >&2; [[ -f "$work/serve.log" ]] && tail -20 "$work/serve.log" >&2; exit 1; }
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A server on free ports (ARGS added); the log names them in $line_port and $http.
start() {
    "$brook" serve --port 0 --no-kafka --http-port 0 --retention-check-interval-ms 200 "$@" >"$work/serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 200); do
        grep -q "listening for HTTP" "$work/serve.log" 2>/dev/null && grep -q " port=" "$work/serve.log" && break
        kill -0 "$server_pid" 2>/dev/null || fail "brook serve exited"
        sleep 0.05
    done
    line_port="$(grep -o ' port=[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2)"
    http="$(grep -o 'http=[0-9.:]*' "$work/serve.log" | head -1 | cut -d= -f2)"
    [[ -n "$line_port" && -n "$http" ]] || fail "no ports in the server's log"
}

# SIGTERM, and the HTTP listener reports stopping.
stop() {
    kill -TERM "$server_pid"
    status=0
    wait "$server_pid" || status=$?
    server_pid=""
    [[ $status -eq 0 ]] || fail "brook serve exited $status on SIGTERM"
    grep -q "HTTP listener stopped" "$work/serve.log" || fail "the HTTP listener did not report stopping"
}

start --db "$work/brook.db"
echo "brook serve: line 127.0.0.1:$line_port, http $http"

"$python" "$here/metrics_check.py" --brook "$brook" --line "127.0.0.1:$line_port" --http "$http"
"$python" "$here/console_check.py" --brook "$brook" --line "127.0.0.1:$line_port" --http "$http" \
    --screenshots "${BROOK_CONSOLE_SCREENSHOTS:-$here/screenshots}"
stop
echo "ok: graceful shutdown stops the HTTP listener"

# Under --auth, over HTTPS (a self-signed certificate for 127.0.0.1): the console's login and the
# users' ACLs, and /metrics with HTTP Basic. dave may read and write topic a, and nothing else.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$work/server.key" -out "$work/server.pem" 2>/dev/null
printf 'alice-secret\n' | "$brook" users add alice --super --db "$work/auth.db" >/dev/null
printf 'dave-secret\n' | "$brook" users add dave --db "$work/auth.db" >/dev/null
for operation in read write; do
    "$brook" acls add --allow dave --operation "$operation" --topic a --db "$work/auth.db" >/dev/null
done
start --db "$work/auth.db" --auth --tls-cert "$work/server.pem" --tls-key "$work/server.key"
echo "brook serve --auth: line 127.0.0.1:$line_port, https $http"
"$python" "$here/login_check.py" --brook "$brook" --line "127.0.0.1:$line_port" --https "$http" --ca "$work/server.pem" \
    --screenshots "${BROOK_CONSOLE_SCREENSHOTS:-$here/screenshots}"
stop
if grep -E -q "alice-secret|dave-secret|wrong-secret" "$work/serve.log"; then fail "a password reached the server's log"; fi
echo "ok: no password in the server's log"
echo "all HTTP checks passed"
