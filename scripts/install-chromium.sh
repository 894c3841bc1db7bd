#!/usr/bin/env bash
# Installs Debian's chromium for the status page test (driven by playwright-core, which
# never downloads a browser of its own). No-op when /usr/bin/chromium already runs.
set -euo pipefail
if /usr/bin/chromium --version >/dev/null 2>&1; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "install-chromium: ERROR: needs root to apt-get install chromium (or install it yourself)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
echo "install-chromium: installed $(/usr/bin/chromium --version 2>/dev/null | head -1)"
