#!/usr/bin/env bash
# Slowloris memory measurement (issue 13): starts the release gateway with a passthrough route, runs
# slowloris.py against it (CONNECTIONS connections trickling one header byte every INTERVAL seconds for DURATION
# seconds, then SETTLE seconds of quiet) and prints its JSON report. Not run in CI.
#
# Knobs (environment): AUTHGATE (target/release/authgate) CONNECTIONS (5000) INTERVAL (5) DURATION (60) SETTLE (30)
# THREADS (2, server.threads) EXTRA_SERVER (extra `server:` fields, e.g. "request_header_timeout_seconds: 10").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
AUTHGATE=$(realpath "${AUTHGATE:-target/release/authgate}")
CONNECTIONS=${CONNECTIONS:-5000}
INTERVAL=${INTERVAL:-5}
DURATION=${DURATION:-60}
SETTLE=${SETTLE:-30}
THREADS=${THREADS:-2}
EXTRA_SERVER=${EXTRA_SERVER:-}

# The gateway and this client each need a descriptor per connection.
ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d)
GW=
cleanup() {
    [ -n "$GW" ] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
ADMIN=$(free_port)
UPSTREAM=$(free_port) # nothing listens: slowloris requests never get that far, probes get 404 (no route)
echo "users: []" >"$WORK/users.yaml"
cat >"$WORK/gateway.yaml" <<YAML
server: {threads: $THREADS, access_log: false, reload_poll_seconds: 0${EXTRA_SERVER:+, $EXTRA_SERVER}}
listeners: [{address: "127.0.0.1:$PORT"}]
admin: {address: "127.0.0.1:$ADMIN"}
basic: {directory: users.yaml}
builtin: {socket: "$WORK/api.sock", database: "$WORK/db.sqlite"}
routes:
  - {name: open, prefix: /x, upstream: "127.0.0.1:$UPSTREAM", auth: {mode: off}}
YAML
RUST_LOG=${RUST_LOG:-warn} "$AUTHGATE" serve --config "$WORK/gateway.yaml" 2>"$WORK/gateway.log" &
GW=$!
for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$ADMIN/readyz" >/dev/null || { cat "$WORK/gateway.log"; exit 1; }
python3 benches/slowloris/slowloris.py --port "$PORT" --pid "$GW" --connections "$CONNECTIONS" \
    --interval "$INTERVAL" --duration "$DURATION" --settle "$SETTLE"
echo "gateway log lines: $(wc -l <"$WORK/gateway.log"); the most frequent:"
cut -c29- "$WORK/gateway.log" | sed -E "s/[0-9]+/N/g" | sort | uniq -c | sort -rn | head -5
