#!/usr/bin/env bash
# Installs the Debian packages fundapp needs when they are missing (as root), or prints the command.
set -euo pipefail
kind=${1:-app}
missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }

have_lib libpango-1.0.so.0 || missing+=(libpango-1.0-0)
have_lib libpangoft2-1.0.so.0 || missing+=(libpangoft2-1.0-0)
have_lib libharfbuzz-subset.so.0 || missing+=(libharfbuzz-subset0)
if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]; then
  missing+=(fontconfig fonts-noto-cjk)
fi
if [ "$kind" = test ]; then
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v pdftotext >/dev/null || missing+=(poppler-utils)
  # deploy/ is tested for real: nginx in front of gunicorn, systemd-analyze on the units.
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  command -v openssl >/dev/null || missing+=(openssl)
fi
if [ "$kind" = test ]; then
  # axe-core for tests/browser/test_accessibility.py, from the npm registry into .cache/axe
  # (never a CDN); the test injects .cache/axe/node_modules/axe-core/axe.min.js into each page.
  root="$(cd "$(dirname "$0")/.." && pwd)"
  if [ ! -f "$root/.cache/axe/node_modules/axe-core/axe.min.js" ]; then
    if command -v npm >/dev/null; then
      npm install --silent --no-audit --no-fund --prefix "$root/.cache/axe" axe-core@4 >/dev/null
    else
      echo "the accessibility test needs axe-core: install node and npm, then" \
        "npm install --prefix .cache/axe axe-core@4" >&2
    fi
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "fundapp needs these system packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd -qq >/dev/null
