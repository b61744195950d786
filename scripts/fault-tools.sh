#!/usr/bin/env bash
# The clock-step tests move a replica's wall clock with libfaketime (Debian's faketime), and
# the Redis clock test builds a small wall-clock shim for redis-server with cc: install them when missing.
set -euo pipefail
bash "$(dirname "$0")/apt-need.sh" faketime /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 "the clock-step tests"
exec bash "$(dirname "$0")/apt-need.sh" gcc /usr/bin/cc "the Redis clock-step test (faults-redis-clock)"
