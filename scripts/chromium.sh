#!/usr/bin/env bash
# The dashboard's browser test drives Debian's chromium (headless): install it when missing.
exec bash "$(dirname "$0")/apt-need.sh" chromium /usr/bin/chromium "the dashboard's browser test"
