#!/usr/bin/env bash
# Usage: apt-need.sh PACKAGE PATH WHAT: make sure PATH exists, installing Debian's PACKAGE
# when it does not (as root); otherwise say what WHAT needs and fail.
set -euo pipefail
PKG=$1 FILE=$2 WHAT=$3
[ -e "$FILE" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing $PKG for $WHAT" >&2
  apt-get install -y -qq "$PKG" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$PKG" >/dev/null; }
else
  echo "$WHAT needs $FILE: run 'sudo apt-get install $PKG'" >&2
  exit 1
fi
