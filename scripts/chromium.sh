#!/usr/bin/env bash
# The dashboard's browser test drives Debian's chromium (headless): install it when missing.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the dashboard's browser test" >&2
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
else
  echo "the dashboard's browser test needs /usr/bin/chromium: run 'sudo apt-get install chromium'" >&2
  exit 1
fi
