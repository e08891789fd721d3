#!/usr/bin/env bash
# Whole-server instructions per request (issue 18): a deterministic measure of what one keep-alive request costs
# authgate, all of it (pingora, tokio, authgate's hooks, the allocator), where run.sh's CPU per request is noisy.
# For each row, authgate (the same config as run.sh's rows b, c, d, on run.sh's upstream nginx) runs under
# `valgrind --tool=callgrind` twice: once serving N1 and once N2 keep-alive requests, sent one after the other on
# one connection by a small Python client (the same request bytes as wrk's in run.sh). Server instructions per
# request = (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, the readiness checks and shutdown cancel out.
#   b  route `auth: {mode: off}` (passthrough)   c  Basic, one user (credential cache)   d  bearer, the same token
#   e  bearer, a distinct token on every request (each one verified: RSA, claims, cache insert)
# Usage: ROWS="b c d" benches/load/server-instructions.sh
# Output: a summary table on stdout (also OUT/summary.md); per row and N the callgrind file OUT/ROW.N.callgrind;
# per row the TOP functions by instructions per request, inclusive (OUT/ROW.inclusive.txt) and self
# (OUT/ROW.self.txt): each function's cost in the N2 run minus its cost in the N1 run (callgrind_annotate), over
# N2 - N1, so start-up drops out of them too.
# Knobs: ROWS ("b c d"), N1 (2000), N2 (6000), OUT (target/server-instructions), TOP (60), WORK
# (target/server-instructions/work: configs and logs), AUTHGATE (target/release/authgate). Needs valgrind, nginx
# and python3 (run.sh's VENV is not needed). The server's idle background work (timers) is counted too; it is
# small next to N2 - N1 requests and is what keeps two runs from being identical to the instruction.
set -euo pipefail
export RUN_SH_LIBRARY=1
ROWS=${ROWS:-b c d}
N1=${N1:-2000}
N2=${N2:-6000}
TOP=${TOP:-60}
OUT=$(realpath -m "${OUT:-target/server-instructions}")
WORK=${WORK:-$OUT/work}
ROUNDS=1
TOKENS=1
WORKERS=1
# shellcheck source=run.sh
source "$(dirname "$0")/run.sh"
[[ -x $PY ]] || PY=$(command -v python3)
command -v valgrind >/dev/null || die "valgrind missing: run benches/load/setup.sh"
((N2 > N1)) || die "N2 ($N2) must be larger than N1 ($N1)"
for row in $ROWS; do
    [[ $row == [bcde] ]] || die "row $row: only b, c, d and e are measured here"
done
mkdir -p "$OUT" "$WORK"
rm -f "$OUT"/*.callgrind "$OUT"/*.inclusive.txt "$OUT"/*.self.txt "$OUT/summary.md"

if [[ ! -x $AUTHGATE ]]; then
    [[ $AUTHGATE == target/release/authgate ]] || die "AUTHGATE=$AUTHGATE is not an executable"
    cargo build --release
fi
AUTHGATE=$(realpath "$AUTHGATE")
# Line 1: row d's token (and the readiness check's of row e); lines 2 to N2 + 1: row e's, one per request.
"$AUTHGATE" bench-tokens --alg RS256 --count 0 --distinct "$((N2 + 1))" --lifetime 86400 \
    --write-tokens "$WORK/tokens.txt" --write-jwks "$WORK/jwks.json" >/dev/null
JWKS_FILE=$WORK/jwks.json
TOKEN1=$(sed -n 1p "$WORK/tokens.txt")
start_upstream

# client PORT PATH N [AUTHORIZATION [TOKEN_FILE]]: N requests on one keep-alive connection, each answer read whole
# and checked. With TOKEN_FILE, request i carries "Bearer " and the file's line i + 2 instead of AUTHORIZATION.
client() {
    "$PY" - "$@" <<'PYCLIENT'
import socket, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
auth = sys.argv[4] if len(sys.argv) > 4 else ""
tokens = open(sys.argv[5]).read().split()[1:] if len(sys.argv) > 5 else None
if tokens is not None and len(tokens) < n:
    sys.exit(f"{len(tokens)} distinct tokens for {n} requests")
# wrk.format's request: request line, Host, then the Authorization header if any.
def request_of(auth):
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if auth:
        request += f"Authorization: {auth}\r\n"
    return (request + "\r\n").encode()
request = request_of(auth)
sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
for i in range(n):
    sock.sendall(request if tokens is None else request_of(f"Bearer {tokens[i]}"))
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(f"request {i}: connection closed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    if lines[0].split()[1] != b"200":
        sys.exit(f"request {i}: {lines[0].decode()}")
    length = next((int(l.split(b":", 1)[1]) for l in lines[1:] if l.lower().startswith(b"content-length:")), None)
    if length is None:
        sys.exit(f"request {i}: no content-length in the answer")
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(f"request {i}: connection closed in the body")
        buf += chunk
    buf = buf[length:]
sock.close()
PYCLIENT
}

# run_row ROW N: authgate under callgrind serving N requests of ROW; checks that the file has a total.
run_row() {
    local row=$1 n=$2 path auth="" distinct=() file=$OUT/$1.$2.callgrind dir=$WORK/authgate code deadline
    case $row in
    b) path=/off ;;
    c) path=/basic auth=$BASIC_HEADER ;;
    d) path=/bearer auth="Bearer $TOKEN1" ;;
    e) path=/bearer auth="Bearer $TOKEN1" distinct=("$WORK/tokens.txt") ;;
    esac
    # run.sh's start_authgate writes the rows' config (its single source) and checks it with a plain server,
    # stopped at once; then the same config is served under callgrind.
    start_authgate
    kill -TERM "$AUTHGATE_PID"
    wait "$AUTHGATE_PID" 2>/dev/null || true
    spawn "$dir/authgate.log" env RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$AUTHGATE" serve --config "$dir/gateway.yaml"
    AUTHGATE_PID=$SPAWNED
    deadline=$((SECONDS + 120))
    while :; do
        code=$(STATUS_MAX_TIME=30 status_of "http://127.0.0.1:$AUTHGATE_PORT$path" ${auth:+-H "Authorization: $auth"})
        [[ $code == 200 ]] && break
        kill -0 "$AUTHGATE_PID" 2>/dev/null || {
            tail -n 30 "$dir/authgate.log" >&2
            die "row $row: authgate under valgrind exited"
        }
        ((SECONDS < deadline)) || die "row $row: authgate under valgrind not ready after 120 s (last status $code)"
        sleep 0.5
    done
    client "$AUTHGATE_PORT" "$path" "$n" "$auth" "${distinct[@]}" || die "row $row: the client failed"
    kill -TERM "$AUTHGATE_PID"
    wait "$AUTHGATE_PID" 2>/dev/null || true
    [[ -s $file ]] || die "row $row: no callgrind output in $file (see $dir/authgate.log)"
    IR=$(sed -n 's/^summary: //p; s/^totals: //p' "$file" | head -n 1)
    [[ $IR =~ ^[0-9]+$ ]] || die "row $row: no instruction total in $file"
}

# profile ROW: from the N1 and N2 runs' callgrind files (callgrind_annotate), each function's instructions per
# request, self (OUT/ROW.self.txt) and inclusive (OUT/ROW.inclusive.txt; callgrind's inclusive figures count a
# recursive function more than once), the TOP largest; prints "TOTAL1 TOTAL2 PER_REQUEST" where the totals leave
# out aws-lc's jitter-entropy start-up (CPU-jitter sampling: its instruction count varies from run to run).
profile() {
    local row=$1 n kind flag
    for n in "$N1" "$N2"; do
        for kind in self inclusive; do
            flag=no
            [[ $kind == inclusive ]] && flag=yes
            callgrind_annotate --auto=no --inclusive=$flag --threshold=100 "$OUT/$row.$n.callgrind" \
                >"$WORK/$row.$n.$kind.txt"
        done
    done
    "$PY" - "$WORK/$row" "$N1" "$N2" "$TOP" "$OUT/$row" <<'PYDIFF'
import re, sys
base, n1, n2, top, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def costs(path):
    total, funcs = 0, {}
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*\S)", line)
        if not m:
            continue
        value, name = int(m.group(1).replace(",", "")), m.group(2)
        if name.startswith("PROGRAM TOTALS"):
            total = value
        else:
            funcs[name] = funcs.get(name, 0) + value
    return total, funcs
totals = []
for kind in ("self", "inclusive"):
    (t1, a), (t2, b) = costs(f"{base}.{n1}.{kind}.txt"), costs(f"{base}.{n2}.{kind}.txt")
    if kind == "self":
        jitter = lambda f: sum(v for k, v in f.items() if "jitterentropy" in k)
        totals = [t1 - jitter(a), t2 - jitter(b)]
    rows = sorted((((b.get(k, 0) - a.get(k, 0)) / (n2 - n1), k) for k in set(a) | set(b)
                   if "jitterentropy" not in k), reverse=True)
    with open(f"{out}.{kind}.txt", "w") as f:
        f.write(f"{kind} instructions per request of each function (run of {n2} requests minus run of {n1})\n")
        for per, name in rows[:top]:
            f.write(f"{per:12,.0f}  {name}\n")
print(totals[0], totals[1], (totals[1] - totals[0]) // (n2 - n1))
PYDIFF
}

{
    echo "| row | Ir, N1=$N1 requests | Ir, N2=$N2 requests | instructions per request |"
    echo "|---|---:|---:|---:|"
} >"$OUT/summary.md"
for row in $ROWS; do
    echo "== row $row: N1=$N1" >&2
    run_row "$row" "$N1"
    echo "== row $row: N2=$N2" >&2
    run_row "$row" "$N2"
    read -r i1 i2 per < <(profile "$row")
    printf '| %s | %s | %s | %s |\n' "$row" "$i1" "$i2" "$per" >>"$OUT/summary.md"
done
cat "$OUT/summary.md"
echo "callgrind files and per-request profiles (ROW.self.txt, ROW.inclusive.txt) in $OUT"
