#!/usr/bin/env bash
# The HTTP listener of a built `brook serve`: /readyz, /metrics after a known workload (parsed
# with prometheus_client's text parser, exact counts), then the web console driven in headless
# Chromium (screenshots in $BROOK_CONSOLE_SCREENSHOTS, default Tests/HTTP/screenshots).
#
#   bash Tests/HTTP/run.sh [path/to/brook]   (default: .build/debug/brook)
# Needs: a python3 with prometheus_client and selenium (PYTHON=… picks one), chromium and
# chromedriver (Debian: chromium, chromium-driver).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
brook="$(realpath "${1:-$here/../../.build/debug/brook}")"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/brook-http.XXXXXX)"
server_pid=""

fail() { echo "FAIL: $*" >&2; [[ -f "$work/serve.log" ]] && tail -20 "$work/serve.log" >&2; exit 1; }
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A server on free ports; the log names them.
"$brook" serve --db "$work/brook.db" --port 0 --no-kafka --http-port 0 --retention-check-interval-ms 200 >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening for HTTP" "$work/serve.log" 2>/dev/null && grep -q " port=" "$work/serve.log" && break
    kill -0 "$server_pid" 2>/dev/null || fail "brook serve exited"
    sleep 0.05
done
line_port="$(grep -o ' port=[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2)"
http="$(grep -o 'http=[0-9.:]*' "$work/serve.log" | head -1 | cut -d= -f2)"
[[ -n "$line_port" && -n "$http" ]] || fail "no ports in the server's log"
echo "brook serve: line 127.0.0.1:$line_port, http $http"

"$python" "$here/metrics_check.py" --brook "$brook" --line "127.0.0.1:$line_port" --http "$http"
"$python" "$here/console_check.py" --brook "$brook" --line "127.0.0.1:$line_port" --http "$http" \
    --screenshots "${BROOK_CONSOLE_SCREENSHOTS:-$here/screenshots}"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status -eq 0 ]] || fail "brook serve exited $status on SIGTERM"
grep -q "HTTP listener stopped" "$work/serve.log" || fail "the HTTP listener did not report stopping"
echo "ok: graceful shutdown stops the HTTP listener"
echo "all HTTP checks passed"
