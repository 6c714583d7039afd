#!/usr/bin/env bash
# Fault run: what a server restart in the middle of an apply costs, and that nothing is lost.
# Starts a throwaway cluster, creates TENANTS tenants (default 1000) with MIGRATIONS migrations each
# to apply (default 3), then times two applies on fresh databases: one undisturbed (the baseline),
# one during which the server is restarted (`pg_ctl restart -m fast`) after RESTART_AFTER seconds.
# The plan retries (database.retry: RETRY_ATTEMPTS attempts, default 10, 200ms doubling to 2s). Checks after the restarted
# run, then after at most one rerun: every tenant has each migration recorded exactly once and its
# table present, and the report's counts match the database. Prints the time ratio.
#   bench/fault-restart.sh            TENANTS=300 bench/fault-restart.sh   TENANTPLAN_BIN=path …
set -Eeuo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TENANTS=${TENANTS:-1000}
MIGRATIONS=${MIGRATIONS:-3}
RESTART_AFTER=${RESTART_AFTER:-1.5}
RETRY_ATTEMPTS=${RETRY_ATTEMPTS:-10}
WORK=$(mktemp -d /tmp/tenantplan-fault-XXXXXX)
chmod 755 "$WORK"
log() { printf '[fault] %s\n' "$*" >&2; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
source "$ROOT/bench/lib.sh"
find_pgbin
PGDIR=$WORK/pg
PG_STARTED=0
cleanup() {
    if (( PG_STARTED )); then
        (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop) >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
if [[ -n ${TENANTPLAN_BIN:-} ]]; then BIN=$TENANTPLAN_BIN; else build_release; fi

mkdir -p "$PGDIR"
(( EUID == 0 )) && chown postgres:postgres "$PGDIR"
(cd / && as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C) \
    >"$WORK/initdb.log" 2>&1 </dev/null || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
PG_OPTIONS="-F -k $PGDIR -p 5432 -c listen_addresses= -c max_connections=100 -c fsync=off"
pg_start() {
    (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -o "$PG_OPTIONS" -l "$PGDIR/server.log" -w -t 60 start) \
        >"$WORK/pg_ctl-start.log" 2>&1 </dev/null || { cat "$WORK/pg_ctl-start.log" >&2; die "pg_ctl start failed"; }
}
pg_start
PG_STARTED=1
unset PGDATABASE PGSERVICE PGSERVICEFILE PGOPTIONS PGAPPNAME PGHOSTADDR PGPASSWORD PGSSLMODE
export PGHOST=$PGDIR PGPORT=5432 PGUSER=postgres
q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@" </dev/null; }

mkdir -p "$WORK/project/m"
for i in $(seq 1 "$MIGRATIONS"); do
    printf 'SELECT pg_sleep(0.01);\nCREATE TABLE m%d (id int PRIMARY KEY, note text);\n' "$i" \
        >"$WORK/project/m/$(printf '%04d' "$i")_m$i.sql"
done
cat >"$WORK/project/plan.yaml" <<YAML
version: 1
database:
  url: \${FAULT_DATABASE_URL}
  maxConnections: 8
  retry: { maxAttempts: ${RETRY_ATTEMPTS}, initialDelay: 200ms, maxDelay: 2s }
tenants:
  discover: { sql: "SELECT id FROM public.tenants ORDER BY id" }
  schema: "t_{id}"
  createSchemas: true
concurrency: 4
stopAfterIdenticalFailures: 0
actions: [{ name: m, migrate: m }]
YAML

prepare() { # database
    q -c "CREATE DATABASE $1"
    q -d "$1" -c "CREATE TABLE public.tenants (id text PRIMARY KEY);
                  INSERT INTO public.tenants SELECT 'x' || lpad(g::text, 5, '0') FROM generate_series(1, $TENANTS) g"
}
apply() { # database report → exit code
    FAULT_DATABASE_URL="host=$PGDIR port=5432 user=postgres dbname=$1" \
        "$BIN" apply "$WORK/project/plan.yaml" --report "$2" >"$2.out" 2>&1 </dev/null
}
check() { # database → prints problems, nothing when every tenant has each migration once
    q -d "$1" -c "SELECT t.id || ': tables missing' FROM public.tenants t
        WHERE (SELECT count(*) FROM pg_catalog.pg_tables
               WHERE schemaname = 't_' || t.id AND tablename ~ '^m[0-9]+\$') <> $MIGRATIONS"
    # Tracking rows, read table by table (a schema may lack the table if its first migration never ran).
    q -d "$1" -c "DO \$\$ DECLARE s text; n bigint; d bigint; BEGIN
        FOR s IN SELECT id FROM public.tenants LOOP
            IF to_regclass(quote_ident('t_' || s) || '.__drizzle_migrations') IS NULL THEN
                RAISE WARNING '%: no tracking table', s; CONTINUE; END IF;
            EXECUTE format('SELECT count(*), count(DISTINCT name) FROM %I.__drizzle_migrations', 't_' || s) INTO n, d;
            IF n <> $MIGRATIONS OR d <> $MIGRATIONS THEN RAISE WARNING '%: % rows, % names', s, n, d; END IF;
        END LOOP; END \$\$" 2>&1 | sed -n 's/^WARNING:  //p'
}
calc() { /usr/bin/python3 -c "print($1)"; }
report_field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

log "baseline: $TENANTS tenants x $MIGRATIONS migrations, undisturbed"
prepare base
start=$(date +%s.%N); apply base "$WORK/base.json" || die "baseline apply failed: $(tail -3 "$WORK/base.json.out")"
base_s=$(calc "$(date +%s.%N) - $start")
[[ -z $(check base) ]] || die "baseline left tenants incomplete: $(check base | head -5)"

log "restart: the same, with pg_ctl restart -m fast after ${RESTART_AFTER}s"
prepare fault
start=$(date +%s.%N)
apply fault "$WORK/fault.json" & pid=$!
sleep "$RESTART_AFTER"
(cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop) >/dev/null 2>&1 </dev/null
pg_start
code=0; wait "$pid" || code=$?
fault_s=$(calc "$(date +%s.%N) - $start")
retries=$(report_field "$WORK/fault.json" "r['summary'].get('retries', 0)")
failed=$(report_field "$WORK/fault.json" "r['summary']['failed']")
problems=$(check fault | cut -d: -f1 | sort -u | wc -l)
log "restarted run: exit $code, $failed failed, $retries retries, $problems tenants incomplete in the database"
if (( code != 0 )); then
    (( failed == problems )) || log "note: the report counts $failed failed tenants, the database $problems incomplete"
    log "rerun"
    apply fault "$WORK/rerun.json" || die "the rerun failed: $(tail -3 "$WORK/rerun.json.out")"
fi
[[ -z $(check fault) ]] || die "after the rerun, tenants are incomplete: $(check fault | head -5)"
printf 'tenants=%s migrations=%s baseline=%.2fs restarted=%.2fs ratio=%.2fx exit=%s retries=%s failed=%s\n' \
    "$TENANTS" "$MIGRATIONS" "$base_s" "$fault_s" "$(calc "$fault_s / $base_s")" "$code" "$retries" "$failed"
