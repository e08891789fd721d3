#!/usr/bin/env bash
# Where the time of a passthrough request goes (benches/load/README.md, "Where the time goes"): authgate's
# passthrough (row b), the bare pingora proxy (row p) and HAProxy (row i), each with WORKERS worker threads, on the
# same upstream as run.sh. For each server, under the same wrk load (CONNECTIONS connections, keep-alive):
#   cpu      CPU µs per request (utime + stime of the process, /proc/PID/stat), without any tracer attached
#   ctxsw    voluntary and non-voluntary context switches per request (/proc/PID/task/*/status)
#   syscalls strace -c -f over a run: calls per request of each syscall (the tracer slows the server; the
#            counts per request are what matter)
#   perf     perf record -g (cpu-clock sampling: this VM has no hardware counters) over a run; the report with
#            children, and the flat top symbols, are written to WORK/profile/
# Knobs: those of run.sh (WORKERS, CONNECTIONS, THREADS, WORK, AUTHGATE, PINGORA), DURATION (5s per measurement),
# SERVERS ("b p i"), PERF (1: record profiles; 0: skip).
set -euo pipefail
export RUN_SH_LIBRARY=1
DURATION=${DURATION:-5s}
TOKENS=${TOKENS:-10}
ROUNDS=1
ROWS="b p i"
WORK=${WORK:-target/load-bench-profile}
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh"
SERVERS=${SERVERS:-b p i}
PERF=${PERF:-1}
OUT=$WORK/profile

ctx_switches() { # PID: voluntary + non-voluntary context switches of all its threads, as "V N"
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }'
}

requests_of() { # WRK_OUTPUT_FILE: the requests wrk completed
    json_field "$(grep '^{' "$1" | tail -n 1)" requests
}

load() { # URL OUT: one wrk run of DURATION
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "$1" -- none >"$2"
}

profile_server() { # NAME PID URL
    local name=$1 pid=$2 url=$3 c0 c1 s0 s1 n cpu v n_ctx
    echo "== $name (pid $pid, $url)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$LUA" "$url" -- none >/dev/null # warm-up
    c0=$(cpu_ticks "$pid")
    read -r v0 n0 < <(ctx_switches "$pid")
    load "$url" "$OUT/$name.wrk.txt"
    c1=$(cpu_ticks "$pid")
    read -r v1 n1 < <(ctx_switches "$pid")
    n=$(requests_of "$OUT/$name.wrk.txt")
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    v=$(awk -v a=$((v1 - v0)) -v n="$n" 'BEGIN { printf "%.3f", a / n }')
    n_ctx=$(awk -v a=$((n1 - n0)) -v n="$n" 'BEGIN { printf "%.3f", a / n }')
    printf '   %s requests, CPU %s µs/request, context switches per request: %s voluntary, %s non-voluntary\n' \
        "$n" "$cpu" "$v" "$n_ctx" | tee "$OUT/$name.summary.txt"

    strace -c -f -q -o "$OUT/$name.strace.txt" -p "$pid" &
    local tracer=$!
    sleep 1
    load "$url" "$OUT/$name.strace-wrk.txt"
    kill -INT "$tracer"
    wait "$tracer" || true
    n=$(requests_of "$OUT/$name.strace-wrk.txt")
    echo "   syscalls per request under strace ($n requests):" | tee -a "$OUT/$name.summary.txt"
    awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 { printf "     %-16s %.3f\n", $NF, $4 / n }' "$OUT/$name.strace.txt" |
        sort -k2 -n -r | head -n 12 | tee -a "$OUT/$name.summary.txt"

    if [[ $PERF == 1 ]]; then
        perf record -q -e cpu-clock -F 2000 -g -p "$pid" -o "$OUT/$name.perf.data" -- sleep "${DURATION%s}" \
            >/dev/null 2>&1 &
        local recorder=$!
        load "$url" "$OUT/$name.perf-wrk.txt"
        wait "$recorder" || true
        perf report -i "$OUT/$name.perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
            grep -v '^#' | grep '%' | head -n 40 >"$OUT/$name.perf-flat.txt" || true
        perf report -i "$OUT/$name.perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
            grep -v '^#' | grep '%' | head -n 80 >"$OUT/$name.perf-children.txt" || true
        echo "   perf: $OUT/$name.perf-flat.txt (self), $OUT/$name.perf-children.txt (with callees)"
    fi
}

mkdir -p "$OUT"
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
prepare
start_upstream
start_servers
for s in $SERVERS; do
    case $s in
    b) profile_server authgate "$AUTHGATE_PID" "http://127.0.0.1:$AUTHGATE_PORT/off" ;;
    p) profile_server pingora "$PINGORA_PID" "http://127.0.0.1:$PINGORA_PORT/off" ;;
    i) profile_server haproxy "$HAPROXY_PID" "http://127.0.0.1:$HAPROXY_PORT/off" ;;
    *) die "unknown server $s" ;;
    esac
done
echo "load average: $LOAD_AT_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end; WORKERS=$WORKERS"
