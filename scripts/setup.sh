#!/usr/bin/env bash
# Installs what tenantplan needs on a Debian machine, when missing: libpq (client library and
# headers), libyaml headers, the PostgreSQL server (for the demo and the integration tests),
# and the python packages jsonschema and pyyaml (the tests validate reports against docs/schemas/*.json with it).
set -euo pipefail
need=()
dpkg -s libpq-dev >/dev/null 2>&1 || need+=(libpq-dev)
dpkg -s libyaml-dev >/dev/null 2>&1 || need+=(libyaml-dev)
dpkg -s postgresql >/dev/null 2>&1 || need+=(postgresql)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c 'import jsonschema, yaml' >/dev/null 2>&1; then
  echo "installing the python packages jsonschema and pyyaml (used by the tests to check reports against docs/schemas)"
  python3 -m pip install -q jsonschema pyyaml
fi
# The Debian package starts a system cluster on some machines; tenantplan never uses it.
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
