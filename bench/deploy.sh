#!/usr/bin/env bash
# Benchmark: the everyday deploy. T tenants at a current state (two small tables each, one applied
# migration), then R repetitions of one new migration (`ALTER TABLE items ADD COLUMN c<r> text`),
# on a throwaway cluster:
#   apply        tenantplan apply (default settings, --concurrency K)            database A
#   write floor  K psql sessions, each one script of `BEGIN; SET LOCAL search_path …; ALTER …;
#                INSERT INTO tracking …; COMMIT;` lines for its share of the tenants   database B
#   read floor   one psql session reading every tracking table (UNION ALL, 1,000 a query)   database A
#   noop         tenantplan apply again: nothing to do                              database A
# Checks after each repetition (fails loudly): every tenant of A and of B has the column and the
# tracking row, exactly once. Prints per step wall time, client peak RSS, client CPU (user+sys),
# the cluster's CPU and the mean number of busy backends (sampled every 50 ms), and the ratios
# apply / (read floor + write floor) and noop / read floor.
#
#   bench/deploy.sh                    # T=10000, K=8, R=3
#   T=1000 R=1 bench/deploy.sh         # quick check
set -Eeuo pipefail

T=${T:-10000}
K=${K:-8}
R=${R:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
log() { printf '[deploy %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\nBENCH FAILED: %s\n' "$*" >&2; exit 1; }
for var in T K R; do [[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer"; done
WORK=$(mktemp -d /tmp/tenantplan-deploy-XXXXXX)
PGDIR=$(mktemp -d /tmp/tenantplan-deploy-pg-XXXXXX)
PG_STARTED=
source "$HERE/lib.sh"

setup_bench_cluster

# --- T tenants at a current state, in databases a and b -------------------------------------------
write_base_migration "$WORK/m"
for db in a b; do
    q -d postgres -c "CREATE DATABASE $db"
    log "creating $T tenants in database $db"
    create_current_tenants "$db" "$T"
done
cat >"$WORK/plan.yaml" <<YAML
version: 1
database: { url: "\${BENCH_DATABASE_URL}", maxConnections: $K }
tenants:
  discover: { schemaLike: "t_%" }
  schema: "{id}"
tracking: { format: name }
concurrency: $K
actions: [{ name: m, migrate: m }]
YAML
seq 1 "$T" >"$WORK/tenants.txt"
read_floor_sql "$T" >"$WORK/read.sql"
RESULTS=$WORK/results.tsv
: >"$RESULTS"

check() {
    local db=$1 column=$2 migration=$3 columns rows
    columns=$(q -d "$db" -c "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = '$column' AND table_schema LIKE 't\\_%'")
    [[ $columns == "$T" ]] || die "database $db: $columns of $T tenants have column $column"
    q -d "$db" -f "$WORK/read.sql" | awk -F'|' -v m="$migration" '$2 == m { n++ } END { print n + 0 }' >"$WORK/rows"
    rows=$(cat "$WORK/rows")
    [[ $rows == "$T" ]] || die "database $db: $rows of $T tenants record $migration"
}

for (( r = 1; r <= R; r++ )); do
    migration=$(printf '%04d_add_c%d' $(( r + 1 )) "$r")
    log "repetition $r of $R: $migration"
    printf 'ALTER TABLE items ADD COLUMN c%d text;\n' "$r" >"$WORK/m/$migration.sql"
    # The write floor's scripts, one per session, generated before anything is timed.
    rm -f "$WORK"/write-*.sql
    awk -v k="$K" -v m="$migration" -v r="$r" -v dir="$WORK" '{
        f = sprintf("%s/write-%d.sql", dir, (NR - 1) % k)
        printf "BEGIN;SET LOCAL search_path TO t_%s;ALTER TABLE items ADD COLUMN c%d text;INSERT INTO __drizzle_migrations (name) VALUES ('"'"'%s'"'"');COMMIT;\n", $1, r, m > f
    }' "$WORK/tenants.txt"
    timed_step "write-floor-$r" bash -c "ls $WORK/write-*.sql | xargs -P $K -I{} $PSQL -X -q -v ON_ERROR_STOP=1 -d b -f {}"
    timed_step "read-floor-$r" "$PSQL" -X -q -v ON_ERROR_STOP=1 -d a -o /dev/null -f "$WORK/read.sql"
    timed_step "apply-$r" env BENCH_DATABASE_URL="host=$PGDIR port=5432 user=postgres dbname=a" "$BIN" apply "$WORK/plan.yaml" --quiet
    timed_step "noop-$r" env BENCH_DATABASE_URL="host=$PGDIR port=5432 user=postgres dbname=a" "$BIN" apply "$WORK/plan.yaml" --quiet
    check a "c$r" "$migration"
    check b "c$r" "$migration"
done

python3 - "$RESULTS" "$T" "$K" <<'PY'
import sys, statistics
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
t, k = int(sys.argv[2]), int(sys.argv[3])
by = {}
for name, wall, rss, cpu, cluster, busy in rows:
    by.setdefault(name.rsplit("-", 1)[0], []).append((int(wall), int(rss), int(cpu), int(cluster), float(busy)))
med = {s: [statistics.median(v[i] for v in by[s]) for i in range(5)] for s in by}
print(f"deploy bench: T={t} K={k} R={len(by['apply'])} (medians)")
print(f"{'step':<12} {'wall ms':>9} {'peak RSS MB':>12} {'client CPU ms':>14} {'cluster CPU ms':>15} {'busy backends':>14}")
for s in ("apply", "write-floor", "read-floor", "noop"):
    w, rss, cpu, cl, busy = med[s]
    print(f"{s:<12} {w:>9.0f} {rss / 1024:>12.1f} {cpu:>14.0f} {cl:>15.0f} {busy:>14.2f}")
print("per repetition, apply / (read floor + write floor): " + ", ".join(
    f"{a[0] / (r[0] + w[0]):.2f}x" for a, r, w in zip(by["apply"], by["read-floor"], by["write-floor"])))
floors = med["read-floor"][0] + med["write-floor"][0]
print(f"apply / (read floor + write floor) = {med['apply'][0] / floors:.2f}x")
print(f"noop / read floor = {med['noop'][0] / med['read-floor'][0]:.2f}x")
print(f"client CPU per tenant: apply {med['apply'][2] / t * 1000:.0f} us, noop {med['noop'][2] / t * 1000:.0f} us")
PY
