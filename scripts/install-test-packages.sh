#!/usr/bin/env bash
# Installs the Debian packages some tests drive besides the peers of install-peers.sh:
# chromium (the status page test, through playwright-core, which never downloads a browser
# of its own) and haproxy (the load balancer VIP failover test). No-op when both run.
set -euo pipefail
have_all() { /usr/bin/chromium --version >/dev/null 2>&1 && /usr/sbin/haproxy -v >/dev/null 2>&1; }
if have_all; then
  echo "install-test-packages: $(/usr/bin/chromium --version 2>/dev/null | head -1); $(/usr/sbin/haproxy -v 2>/dev/null | head -1)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "install-test-packages: ERROR: needs root to apt-get install chromium haproxy (or install them yourself)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y --no-install-recommends chromium haproxy >/tmp/spillway-apt.log 2>&1; }
install || { apt-get update >/dev/null 2>&1 && install; } || { cat /tmp/spillway-apt.log >&2; exit 1; }
echo "install-test-packages: installed $(/usr/bin/chromium --version 2>/dev/null | head -1); $(/usr/sbin/haproxy -v 2>/dev/null | head -1)"
