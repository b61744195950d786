#!/usr/bin/env bash
# The fault tests step a replica's wall clock with libfaketime (Debian's faketime): install it when missing.
set -euo pipefail
LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -e "$LIB" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing faketime for the clock-step tests" >&2
  apt-get install -y -qq faketime >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq faketime >/dev/null; }
else
  echo "the clock-step tests need $LIB: run 'sudo apt-get install faketime'" >&2
  exit 1
fi
