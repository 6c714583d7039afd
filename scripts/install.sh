#!/usr/bin/env bash
# Builds tenantplan in release mode, with the Swift runtime linked in (--static-swift-stdlib), and
# installs the binary as PREFIX/bin/tenantplan (PREFIX defaults to /usr/local). The binary carries
# the demo plan and its migrations, so it needs nothing else from this repository; at run time it
# needs libpq (Debian `libpq5`) and libpg_query (`libpg-query1504.0`), and the demo and --ephemeral
# need the PostgreSQL server binaries (Debian `postgresql`).
#
#   scripts/install.sh              # /usr/local/bin/tenantplan
#   scripts/install.sh "$HOME/.local"
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-/usr/local}
scripts/setup.sh
swift build -c release --static-swift-stdlib --product tenantplan
BIN=$(swift build -c release --static-swift-stdlib --show-bin-path)/tenantplan
install -d "$PREFIX/bin"
install -m 0755 "$BIN" "$PREFIX/bin/tenantplan"
echo "installed $PREFIX/bin/tenantplan ($("$PREFIX/bin/tenantplan" --version))"
