#!/usr/bin/env bash
# The first README command: set up what is missing, build, and run the built-in demo
# (a throwaway PostgreSQL cluster, a few dozen tenants, apply, re-apply, status, clean-up).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --product tenantplan
exec .build/debug/tenantplan demo "$@"
