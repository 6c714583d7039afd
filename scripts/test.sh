#!/usr/bin/env bash
# The second README command: set up what is missing, check the style, build, and run every test
# (unit tests and integration tests against a throwaway PostgreSQL the tests start themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/lint.sh
swift build --build-tests
exec swift test --skip-build "$@"
