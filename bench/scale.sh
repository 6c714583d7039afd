#!/usr/bin/env bash
# Benchmark: what one database of T tenants (default 100,000) costs tenantplan. T tenants at a
# current state (as bench/deploy.sh: tables items and orders, a name-format tracking table with one
# row), on a throwaway cluster, then, once each:
#   discover     `tenantplan status` with a plan of one shared action: discovery alone
#   status       `tenantplan status`: discovery and the batched read of every tracking table
#   noop         `tenantplan apply` with nothing to do
#   apply        `tenantplan apply` of one new migration (ALTER TABLE items ADD COLUMN)
#   noop-after   the no-op again
#   read floor   one psql session reading every tracking table (UNION ALL, 1,000 tables a query)
# Checks that every tenant has the column and the row. Prints wall time, peak RSS, client CPU and
# the cluster's CPU per step, per-tenant figures, and the size of the server's catalog.
#
#   bench/scale.sh                  # T=100000, K=8
#   T=20000 bench/scale.sh          # quicker
set -Eeuo pipefail

T=${T:-100000}
K=${K:-8}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
log() { printf '[scale %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\nBENCH FAILED: %s\n' "$*" >&2; exit 1; }
for var in T K; do [[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer"; done
WORK=$(mktemp -d /tmp/tenantplan-scale-XXXXXX)
PGDIR=$(mktemp -d /tmp/tenantplan-scale-pg-XXXXXX)
PG_STARTED=
source "$HERE/lib.sh"

setup_bench_cluster

write_base_migration "$WORK/m"
q -d postgres -c "CREATE DATABASE a"
log "creating $T tenants"
created=$(date +%s)
create_current_tenants a "$T"
log "created in $(( $(date +%s) - created )) s; catalog: $(q -d a -c "SELECT pg_size_pretty(sum(pg_total_relation_size(oid))) FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace")"
plan() {
    cat <<YAML
version: 1
database: { url: "\${BENCH_DATABASE_URL}", maxConnections: $K }
tenants:
  discover: { schemaLike: "t_%" }
  schema: "{id}"
tracking: { format: name }
concurrency: $K
actions: [$1]
YAML
}
plan "{ name: m, migrate: m }" >"$WORK/plan.yaml"
plan '{ name: s, scope: shared, sql: { inline: "SELECT 1" } }' >"$WORK/discover.yaml"
read_floor_sql "$T" >"$WORK/read.sql"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
export BENCH_DATABASE_URL="host=$PGDIR port=5432 user=postgres dbname=a"
timed_step discover "$BIN" status "$WORK/discover.yaml" --json
timed_step status "$BIN" status "$WORK/plan.yaml" --json
timed_step noop "$BIN" apply "$WORK/plan.yaml" --quiet
printf 'ALTER TABLE items ADD COLUMN c1 text;\n' >"$WORK/m/0002_add_c1.sql"
timed_step apply "$BIN" apply "$WORK/plan.yaml" --quiet
timed_step noop-after "$BIN" apply "$WORK/plan.yaml" --quiet
timed_step read-floor "$PSQL" -X -q -v ON_ERROR_STOP=1 -d a -o /dev/null -f "$WORK/read.sql"
columns=$(q -d a -c "SELECT count(*) FROM pg_attribute WHERE attname = 'c1' AND NOT attisdropped")
rows=$(q -d a -f "$WORK/read.sql" | awk -F'|' '$2 == "0002_add_c1" { n++ } END { print n + 0 }')
[[ $columns == "$T" && $rows == "$T" ]] || die "$columns columns and $rows rows for $T tenants"

python3 - "$RESULTS" "$T" "$K" <<'PY'
import sys
rows = {r[0]: list(map(int, r[1:5])) for r in (line.rstrip("\n").split("\t") for line in open(sys.argv[1]))}
t, k = int(sys.argv[2]), int(sys.argv[3])
print(f"scale bench: T={t} K={k}")
print(f"{'step':<12} {'wall ms':>9} {'peak RSS MB':>12} {'client CPU ms':>14} {'cluster CPU ms':>15}")
for s in ("discover", "status", "noop", "apply", "noop-after", "read-floor"):
    w, rss, cpu, cl = rows[s]
    print(f"{s:<12} {w:>9} {rss / 1024:>12.1f} {cpu:>14} {cl:>15}")
base = rows["discover"][1]
print(f"memory per tenant over discovery alone: status {(rows['status'][1] - base) * 1024 / t:.0f} B, "
      f"apply {(rows['apply'][1] - base) * 1024 / t:.0f} B")
print(f"noop / read floor = {rows['noop'][0] / rows['read-floor'][0]:.2f}x; apply per tenant {rows['apply'][0] * 1000 / t:.0f} us wall")
PY
