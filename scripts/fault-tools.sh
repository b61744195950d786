#!/usr/bin/env bash
# The clock-step tests move a replica's wall clock with libfaketime (Debian's faketime): install it when missing.
exec bash "$(dirname "$0")/apt-need.sh" faketime /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 "the clock-step tests"
