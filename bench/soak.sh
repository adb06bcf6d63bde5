#!/usr/bin/env bash
# The soak under faults: `brook soak run` for N minutes (default 10) on loopback, with the server
# SIGKILLed and restarted, consumers SIGKILLed, clients vanishing mid-frame and a consumer that
# never reads. It prints its counts and checks, and exits non-zero when a check fails.
#
#   bash bench/soak.sh [MINUTES] [extra `brook soak run` options]
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-10}"
shift || true

if ! pkg-config --exists sqlite3 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq libsqlite3-dev pkg-config >/dev/null
fi

swift build -c release --product brook >&2
dir="$(mktemp -d /tmp/brook-soak.XXXXXX)"
echo "soak: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%Y-%m-%d); files in $dir" >&2
.build/release/brook soak run --minutes "$minutes" --dir "$dir" "$@"
