#!/usr/bin/env bash
# Installs what tenantplan needs on a Debian machine, when missing: libpq (client library and
# headers), libpg_query (PostgreSQL's parser as a C library, for reading migration files), libyaml headers, the PostgreSQL server (for the demo and the integration tests), PgBouncer (the
# transaction-pooling tests start one in front of the test server), and
# Debian's python3-jsonschema and python3-yaml (the tests check reports and plans against
# docs/schemas/*.json with /usr/bin/python3; a plain pip install into the system python is refused
# on Debian, PEP 668).
set -euo pipefail
need=()
for package in libpq-dev libpg-query-dev libyaml-dev postgresql pgbouncer pkg-config python3 python3-jsonschema python3-yaml python3-markdown-it python3-prometheus-client graphviz curl; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian package starts a system cluster on some machines; tenantplan never uses it.
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
