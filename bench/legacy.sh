#!/usr/bin/env bash
# Benchmark of the legacy-tracking commands against `status`, on a throwaway PostgreSQL cluster.
#
#   bench/legacy.sh                 # T=1000 tenants, M=10 recorded migrations, R=3 repetitions
#   T=100 R=1 bench/legacy.sh       # quick check
#
# Each tenant schema holds a name-format tracking table with M-1 of the M migrations recorded and
# one orphan row. Per repetition, on a fresh copy of that database, times in one run:
#   status                            the baseline: one batched read of every tracking table
#   sync --status                     read + compare
#   sync --clean-orphans --yes        read + one DELETE transaction per tenant
#   sync --mark-missing --all --yes   read + one INSERT transaction per tenant (the missing migration is the
#                                     newest, so not a gap: --all records it)
#   convert-tracking --to hash        read + one rebuild transaction per tenant
#   convert-tracking --to name        and back
#   floor-to-hash                     the same rebuild as pre-generated SQL, one psql per tenant, K at once
# and prints medians and each step's ratio to `status` (same repetition), plus tenantplan's peak RSS.
# to-hash / floor-to-hash says what the conversion costs beyond the writes themselves.
# Checks the database after each writing step and fails loudly when it is wrong.
set -Eeuo pipefail

T=${T:-1000}
M=${M:-10}
K=${K:-8}
R=${R:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
log() { printf '[legacy %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\nBENCH FAILED: %s\n' "$*" >&2; exit 1; }
for var in T M K R; do [[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer"; done
(( M >= 2 )) || die "M must be at least 2"

mkdir -p "$OUT"
STAMP=$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d /tmp/tenantplan-legacy-XXXXXX)
PGDIR=$(mktemp -d /tmp/tenantplan-legacy-pg-XXXXXX)
PG_STARTED=
source "$HERE/lib.sh"
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    [[ -n $PG_STARTED ]] && (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop) >/dev/null 2>&1 </dev/null
    (( rc != 0 )) && { mkdir -p "$OUT/failed-legacy-$STAMP"; cp "$WORK"/*.log "$OUT/failed-legacy-$STAMP"/ 2>/dev/null; }
    rm -rf "$WORK" "$PGDIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

find_pgbin
build_release

log "starting a throwaway cluster in $PGDIR"
(( EUID == 0 )) && chown postgres:postgres "$PGDIR"
(cd / && as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C) >"$WORK/initdb.log" 2>&1 </dev/null || die "initdb failed"
(cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -o "-F -k $PGDIR -p 5432 -c listen_addresses= -c max_connections=200 -c fsync=off -c synchronous_commit=off" \
    -l "$PGDIR/server.log" -w -t 60 start) >"$WORK/pg_ctl.log" 2>&1 </dev/null || die "pg_ctl start failed"
PG_STARTED=1
unset PGDATABASE PGSERVICE PGOPTIONS PGPASSWORD
export PGHOST=$PGDIR PGPORT=5432 PGUSER=postgres
q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@" </dev/null; }

log "generating $M migrations and a template database with $T tenants"
mkdir -p "$WORK/migrations"
for i in $(seq 1 "$M"); do printf 'CREATE TABLE t%d (id int);\n' "$i" >"$WORK/migrations/$(printf '%04d' "$i")_step_$i.sql"; done
cat >"$WORK/plan.yaml" <<YAML
version: 1
database: { url: "\${LEGACY_DATABASE_URL}", maxConnections: $K }
tenants:
  discover: { schemaLike: "tenant\\\\_%" }
  schema: "tenant_{id}"
concurrency: $K
actions:
  - { name: tenant-schema, migrate: migrations }
YAML
python3 - "$T" "$M" >"$WORK/setup.sql" <<'PY'
import sys
t, m = int(sys.argv[1]), int(sys.argv[2])
print("BEGIN;")
for i in range(1, t + 1):
    s = f'"tenant_{i:05d}"'
    print(f"CREATE SCHEMA {s};")
    print(f"CREATE TABLE {s}.__drizzle_migrations (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, applied_at timestamptz DEFAULT current_timestamp);")
    values = ",".join(f"('{j:04d}_step_{j}', '2024-01-01'::timestamptz + interval '{j} day')" for j in range(1, m))
    print(f"INSERT INTO {s}.__drizzle_migrations (name, applied_at) VALUES {values}, ('0000_deleted_file', '2023-12-01');")
print("COMMIT;")
PY
q -d postgres -c "CREATE DATABASE legacy_template"
q -d legacy_template -f "$WORK/setup.sql" >/dev/null

# The writes floor for conversion: the same rewrite per tenant (delete the rows, replace the layout columns
# in place so the table keeps its owner and grants, insert the rows with their ids, hashes and times, setval)
# as pre-generated psql scripts, one psql per tenant, K at once.
mkdir -p "$WORK/floor"
python3 - "$T" "$M" "$WORK/migrations" "$WORK/floor" <<'PY'
import hashlib, os, sys
t, m, folder, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
files = sorted(f for f in os.listdir(folder) if f.endswith(".sql"))
hashes = [hashlib.sha256(open(os.path.join(folder, f), "rb").read()).hexdigest() for f in files]
for i in range(1, t + 1):
    s = f'"tenant_{i:05d}"'
    rows = ",".join(f"({j + 1}, '{hashes[j]}', '2024-01-01'::timestamptz + interval '{j + 1} day')" for j in range(m))
    with open(os.path.join(out, f"{i:05d}.sql"), "w") as f:
        f.write(f"BEGIN;\nDELETE FROM {s}.__drizzle_migrations;\n"
                f"ALTER TABLE {s}.__drizzle_migrations DROP COLUMN name, DROP COLUMN applied_at;\n"
                f"ALTER TABLE {s}.__drizzle_migrations ADD COLUMN hash text NOT NULL, ADD COLUMN created_at timestamptz DEFAULT current_timestamp;\n"
                f"INSERT INTO {s}.__drizzle_migrations (id, hash, created_at) VALUES {rows};\n"
                f"SELECT setval(pg_get_serial_sequence('{s}.__drizzle_migrations', 'id'), {m});\nCOMMIT;\n")
PY

declare -A TIMES
RSS_MAX=0
run_step() {  # run_step REP NAME ARGS...
    local rep=$1 name=$2 start end rss
    shift 2
    start=$(date +%s%N)
    LEGACY_DATABASE_URL="host=$PGDIR port=5432 user=postgres dbname=legacy_$rep" /usr/bin/time -v -o "$WORK/time.txt" "$BIN" "$@" >"$WORK/$name-$rep.log" 2>&1 </dev/null \
        || { tail -20 "$WORK/$name-$rep.log" >&2; die "$name failed (repetition $rep)"; }
    end=$(date +%s%N)
    TIMES[$name,$rep]=$(( (end - start) / 1000000 ))
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    if (( rss > RSS_MAX )); then RSS_MAX=$rss; fi
}
count() { q -d "legacy_$1" -c "$2"; }
STEPS=(status sync-status clean-orphans mark-missing to-hash to-name floor-to-hash)
for rep in $(seq 1 "$R"); do
    log "repetition $rep/$R"
    q -d postgres -c "DROP DATABASE IF EXISTS legacy_$rep" -c "CREATE DATABASE legacy_$rep TEMPLATE legacy_template"
    q -d "legacy_$rep" -c "VACUUM ANALYZE" >/dev/null
    run_step "$rep" status status "$WORK/plan.yaml"
    run_step "$rep" sync-status sync "$WORK/plan.yaml" --status
    run_step "$rep" clean-orphans sync "$WORK/plan.yaml" --clean-orphans --yes
    [[ $(count "$rep" "SELECT count(*) FROM tenant_00001.__drizzle_migrations WHERE name = '0000_deleted_file'") == 0 ]] || die "orphan not deleted"
    run_step "$rep" mark-missing sync "$WORK/plan.yaml" --mark-missing --all --yes
    [[ $(count "$rep" "SELECT count(*) FROM tenant_$(printf '%05d' "$T").__drizzle_migrations") == "$M" ]] || die "missing migration not marked"
    run_step "$rep" to-hash convert-tracking "$WORK/plan.yaml" --to hash
    [[ $(count "$rep" "SELECT count(*) FROM information_schema.columns WHERE table_name = '__drizzle_migrations' AND column_name = 'hash'") == "$T" ]] || die "not every table converted to hash"
    run_step "$rep" to-name convert-tracking "$WORK/plan.yaml" --to name
    [[ $(count "$rep" "SELECT count(*) FROM tenant_00001.__drizzle_migrations WHERE applied_at = '2024-01-02'::timestamptz") == 1 ]] || die "applied time not kept through name -> hash -> name"
    # The floor, on its own copy brought to the same state (all M migrations recorded, no orphan).
    q -d postgres -c "DROP DATABASE IF EXISTS legacy_floor" -c "CREATE DATABASE legacy_floor TEMPLATE legacy_$rep"
    q -d legacy_floor -c "VACUUM ANALYZE" >/dev/null
    start=$(date +%s%N)
    ls "$WORK/floor"/*.sql | xargs -P "$K" -I{} "$PSQL" -X -q -v ON_ERROR_STOP=1 -d legacy_floor -f {} >"$WORK/floor.log" 2>&1 || die "floor failed"
    end=$(date +%s%N)
    TIMES[floor-to-hash,$rep]=$(( (end - start) / 1000000 ))
    floor_count=$(q -d legacy_floor -c "SELECT count(*) FROM information_schema.columns WHERE table_name = '__drizzle_migrations' AND column_name = 'hash'")
    [[ $floor_count == "$T" ]] || { head -5 "$WORK/floor.log" >&2; head -3 "$WORK/floor/00001.sql" >&2; die "floor converted $floor_count of $T tables"; }
    q -d postgres -c "DROP DATABASE legacy_floor" -c "DROP DATABASE legacy_$rep"
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
{
    printf '\ntenantplan legacy-tracking benchmark: T=%d tenants x %d rows, K=%d, R=%d, %d CPUs, PostgreSQL %s\n' "$T" "$M" "$K" "$R" "$(nproc)" "$(q -d postgres -c 'SHOW server_version')"
    printf '%-36s %10s %14s\n' "step" "median" "ratio/status"
    for step in "${STEPS[@]}"; do
        med=$(for rep in $(seq 1 "$R"); do echo "${TIMES[$step,$rep]}"; done | median)
        ratio=$(for rep in $(seq 1 "$R"); do awk -v a="${TIMES[$step,$rep]}" -v b="${TIMES[status,$rep]}" 'BEGIN {printf "%.3f\n", a / b}'; done | median)
        printf '%-36s %8.3fs %13.2fx\n' "$step" "$(awk -v v="$med" 'BEGIN {print v / 1000}')" "$ratio"
    done
    ratio=$(for rep in $(seq 1 "$R"); do awk -v a="${TIMES[to-hash,$rep]}" -v b="${TIMES[floor-to-hash,$rep]}" 'BEGIN {printf "%.3f\n", a / b}'; done | median)
    printf 'convert-tracking --to hash / its psql writes floor: %.2fx\n' "$ratio"
    printf 'tenantplan peak RSS over all steps: %.1f MB\n' "$(awk -v k="$RSS_MAX" 'BEGIN {print k / 1024}')"
} | tee "$OUT/legacy-$STAMP.txt"
