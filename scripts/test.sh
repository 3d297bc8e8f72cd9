#!/bin/sh
# Installs what is missing, builds (normal and sanitizer builds) and runs the
# whole test suite. The last line is "N passed, N failed[, N skipped]".
set -e
cd "$(dirname "$0")/.."
./scripts/deps.sh --test
exec /usr/bin/python3 tests/run "$@"
