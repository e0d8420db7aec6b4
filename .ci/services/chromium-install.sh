#!/usr/bin/env bash
# Debian's Chromium and chromedriver, and Playwright for Python in the project's venv (it
# drives /usr/bin/chromium through executable_path: no browser download, which would fail).
#   PYTHON=.venv/bin/python bash .ci/services/chromium-install.sh
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
START=$(date +%s%N)
lap() { printf '[chromium-install] %-20s %6.1fs\n' "$1" "$(( ($(date +%s%N) - START) / 1000000 ))e-3"; }
if ! [ -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null; then
  log=${RUNNER_TEMP:-/tmp}/syndicator-chromium-apt.log
  apt-get update -q >"$log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >>"$log" 2>&1 \
    || { tail -20 "$log"; exit 1; }
fi
lap "apt chromium"
if ! "$PYTHON" -c 'import playwright' 2>/dev/null; then
  "$PYTHON" -m pip install --quiet 'playwright>=1.40'
fi
lap "playwright"
