#!/usr/bin/env bash
# Benchmark: `tenantplan apply` against a raw psql floor, on a throwaway PostgreSQL cluster.
#
#   bench/run.sh                       # T=1000 tenants, M=10 migrations, K=8, R=3 repetitions
#   T=50 M=3 R=1 bench/run.sh          # quick check
#
# Environment: T (tenants, 1000), M (migrations, 10), K (concurrency, 8), R (repetitions, 3),
# MAXCONN (the plan's database.maxConnections, default K), RECYCLE_AFTER (the plan's
# database.recycleAfter, default unset: tenantplan's own default), SAMPLE_INTERVAL (seconds between
# pg_stat_activity samples, 0.02), TENANTPLAN_PG_BINDIR (server binaries, else the newest
# /usr/lib/postgresql/N/bin, else `pg_config --bindir`).
#
# Per repetition, on two fresh databases each holding T empty schemas bench_00001...:
#   (a) tenantplan apply PLAN --concurrency K                       database A
#   (b) xargs -P K, one `psql -X -q -v ON_ERROR_STOP=1` per tenant   database B
#       (tracking table + one transaction per migration, scripts generated before timing)
#   (c) tenantplan apply again: the no-op rerun                      database A
#   (d) one psql, one query: UNION ALL over all T tracking tables    database A
# (a)/(b) and (c)/(d) swap order on even repetitions. Checks after each step (fails loudly):
# T*M tracking rows in both databases, the same relations in both, report migrationsApplied
# T*M then 0. Before each timed step, waits for autovacuum workers to finish. Per step: wall time
# (date +%s%N), client CPU and peak RSS (/usr/bin/time -v), the cluster's CPU (postmaster and
# children, from /proc) and the rest of the machine's busy CPU (other load: this machine is
# shared, so a step with a lot of it is suspect). Active backends are sampled from
# pg_stat_activity by one psql (\watch) in the background.
#
# Prints a table of medians and writes bench/out/results-<date>.json (and .txt).
# Builds with `swift build -c release --scratch-path .build-release` (never the default .build).
set -Eeuo pipefail

T=${T:-1000}
M=${M:-10}
K=${K:-8}
R=${R:-3}
MAXCONN=${MAXCONN:-$K}
RECYCLE_AFTER=${RECYCLE_AFTER:-}
SAMPLE_INTERVAL=${SAMPLE_INTERVAL:-0.02}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\nBENCH FAILED: %s\n' "$*" >&2; exit 1; }

for var in T M K R MAXCONN; do
    [[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer (got '${!var}')"
done
[[ -z $RECYCLE_AFTER || $RECYCLE_AFTER =~ ^[1-9][0-9]*$ ]] || die "RECYCLE_AFTER must be a positive integer"
(( MAXCONN >= K )) || die "MAXCONN ($MAXCONN) must be at least K ($K)"
(( MAXCONN <= 180 && K <= 180 )) || die "K and MAXCONN must stay below the cluster's max_connections (200)"
[[ $SAMPLE_INTERVAL =~ ^[0-9]*\.?[0-9]+$ ]] || die "SAMPLE_INTERVAL must be a number of seconds"
for tool in python3 xargs /usr/bin/time swift; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

mkdir -p "$OUT"
STAMP=$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d /tmp/tenantplan-bench-XXXXXX)
PGDIR=$(mktemp -d /tmp/tenantplan-bench-pg-XXXXXX)
PG_STARTED=
SAMPLER_PID=

source "$HERE/lib.sh"

stop_sampler() {
    [[ -n $SAMPLER_PID ]] || return 0
    kill -INT "$SAMPLER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SAMPLER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_sampler
    if [[ -n $PG_STARTED ]]; then
        (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop) >"$WORK/pg_ctl-stop.log" 2>&1 </dev/null \
            || { log "pg_ctl stop failed:"; cat "$WORK/pg_ctl-stop.log" >&2; }
    fi
    if (( rc != 0 )); then
        local keep=$OUT/failed-$STAMP
        mkdir -p "$keep"
        cp "$WORK"/*.log "$WORK"/*.json "$WORK"/*.txt "$keep"/ 2>/dev/null
        cp "$PGDIR/server.log" "$keep"/ 2>/dev/null
        log "logs of the failed run kept in $keep"
    fi
    rm -rf "$WORK" "$PGDIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

find_pgbin
build_release
# What was built: the commit, +dirty when Sources/ or Package.swift differ from it.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null) ]] || COMMIT="$COMMIT+dirty"

# --- inputs (all generated before anything is timed) --------------------------------------------
log "generating $M migrations, the plan and $T per-tenant psql scripts in $WORK"
python3 "$HERE/gen.py" "$WORK" --tenants "$T" --migrations "$M" --concurrency "$K" --max-connections "$MAXCONN" \
    ${RECYCLE_AFTER:+--recycle-after "$RECYCLE_AFTER"}
PLAN=$WORK/plan/plan.yaml
# Sampler: active backends of each tool, and what the active ones are waiting on (a: tenantplan, b: floor).
cat >"$WORK/sampler.sql" <<SQL
SELECT extract(epoch FROM clock_timestamp()),
       count(*) FILTER (WHERE application_name = 'tenantplan' AND state = 'active'),
       count(*) FILTER (WHERE application_name = 'bench-floor' AND state = 'active'),
       coalesce(string_agg(CASE application_name WHEN 'tenantplan' THEN 'a' ELSE 'b' END || ':' || wait_event_type || ':' || wait_event, ',')
                FILTER (WHERE application_name IN ('tenantplan', 'bench-floor') AND state = 'active' AND wait_event IS NOT NULL), '')
FROM pg_stat_activity \watch $SAMPLE_INTERVAL
SQL

# --- throwaway cluster: Unix socket in its own folder, trust auth, fsync off --------------------
log "starting a throwaway cluster in $PGDIR ($PGBIN)"
(( EUID == 0 )) && chown postgres:postgres "$PGDIR"
(cd / && as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C) \
    >"$WORK/initdb.log" 2>&1 </dev/null || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
PG_OPTIONS="-F -k $PGDIR -p 5432 -c listen_addresses= -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
(cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -o "$PG_OPTIONS" -l "$PGDIR/server.log" -w -t 60 start) \
    >"$WORK/pg_ctl-start.log" 2>&1 </dev/null || { cat "$WORK/pg_ctl-start.log" "$PGDIR/server.log" >&2; die "pg_ctl start failed"; }
PG_STARTED=1

unset PGDATABASE PGSERVICE PGSERVICEFILE PGOPTIONS PGAPPNAME PGHOSTADDR PGPASSWORD PGSSLMODE
export PGHOST=$PGDIR PGPORT=5432 PGUSER=postgres
q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@" </dev/null; }
conninfo() { printf 'host=%s port=5432 user=postgres dbname=%s' "$PGDIR" "$1"; }

PG_VERSION=$(q -d postgres -c 'SHOW server_version')
PGAPPNAME=bench-sampler "$PSQL" -X -q -At -d postgres -f "$WORK/sampler.sql" >"$WORK/samples.txt" 2>"$WORK/sampler.log" </dev/null &
SAMPLER_PID=$!

RAW=$WORK/raw.tsv
: >"$RAW"
POSTMASTER_PID=$(head -n 1 "$PGDIR/data/postmaster.pid")
now_ns() { date +%s%N; }

# Before each timed step: wait (up to 2 minutes) until no autovacuum worker is running, so that
# the previous step's catalog cleanup does not land in this one.
wait_quiet() {
    local waited=0
    while (( $(q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") > 0 )); do
        (( waited >= 1200 )) && { log "  autovacuum still running after 120 s; going on"; break; }
        sleep 0.1
        waited=$((waited + 1))
    done
    (( waited == 0 )) || log "  waited $((waited / 10)).$((waited % 10)) s for autovacuum to finish"
}

# timed STEP OUT ERR COMMAND...: runs COMMAND under /usr/bin/time -v (its report to a file), stdout to
# OUT, stderr to ERR (may be the same file), stdin /dev/null; records wall time,
# the client's peak RSS and CPU (its own and its children's), the cluster's CPU (postmaster and all
# its children, exited backends included) and the whole machine's busy CPU over the step.
timed() {
    local step=$1 out=$2 err=$3 start end rc=0 before after load
    shift 3
    local timing=$WORK/time-$step-$REP.txt
    wait_quiet
    load=$(cut -d' ' -f1 /proc/loadavg)
    before=$(python3 "$HERE/analyze.py" cpu-snapshot "$POSTMASTER_PID")
    start=$(now_ns)
    if [[ $out == "$err" ]]; then
        /usr/bin/time -v -o "$timing" "$@" >"$out" 2>&1 </dev/null || rc=$?
    else
        /usr/bin/time -v -o "$timing" "$@" >"$out" 2>"$err" </dev/null || rc=$?
    fi
    end=$(now_ns)
    after=$(python3 "$HERE/analyze.py" cpu-snapshot "$POSTMASTER_PID")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$REP" "$step" "$start" "$end" "$timing" "$before" "$after" "$load" >>"$RAW"
    TIMED_MS=$(( (end - start) / 1000000 ))
    return "$rc"
}

# (a), (c): tenantplan apply on database A.
run_tenantplan() {
    local step=$1 db=$2 rc=0 rss
    local report=$WORK/report-$step-$REP.json output=$WORK/tenantplan-$step-$REP.log
    timed "$step" "$output" "$output" \
        env BENCH_DATABASE_URL="$(conninfo "$db")" "$BIN" apply "$PLAN" --concurrency "$K" --report "$report" || rc=$?
    (( rc == 0 )) || { tail -n 30 "$output" >&2; die "tenantplan apply ($step, repetition $REP) exited $rc"; }
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time-$step-$REP.txt")
    [[ $rss =~ ^[0-9]+$ ]] || die "no peak RSS in $WORK/time-$step-$REP.txt"
    log "  $step: $TIMED_MS ms, peak RSS $(( rss / 1024 )) MB"
}

# (b): one psql per tenant, K at a time, on database B.
run_floor() {
    local db=$1 rc=0
    timed floor "$WORK/floor-$REP.log" "$WORK/floor-$REP.log" env PGAPPNAME=bench-floor xargs -a "$WORK/tenants.txt" -P "$K" -I{} \
        "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$WORK/floor/{}.sql" || rc=$?
    (( rc == 0 )) || { tail -n 30 "$WORK/floor-$REP.log" >&2; die "psql floor (repetition $REP) failed: xargs exited $rc"; }
    log "  floor: $TIMED_MS ms"
}

# (d): one psql, one query over every tracking table, on database A.
run_noop_floor() {
    local db=$1 rc=0 rows
    timed noop_floor "$WORK/noop-floor-$REP.txt" "$WORK/noop-floor-$REP.log" \
        "$PSQL" -X -q -v ON_ERROR_STOP=1 -At -d "$db" -f "$WORK/noop-floor.sql" || rc=$?
    (( rc == 0 )) || { cat "$WORK/noop-floor-$REP.log" >&2; die "single-query floor (repetition $REP) failed"; }
    rows=$(wc -l <"$WORK/noop-floor-$REP.txt")
    (( rows == T * M )) || die "single-query floor returned $rows rows, expected $((T * M))"
    log "  noop_floor: $TIMED_MS ms"
}

check_rows() {
    local db=$1 who=$2 got
    got=$(q -d "$db" -f "$WORK/count-rows.sql")
    [[ $got == "$T|$((T * M))|$M|$M" ]] \
        || die "$who: tracking rows in $db (tenants|rows|min|max) = $got, expected $T|$((T * M))|$M|$M"
}

for ((REP = 1; REP <= R; REP++)); do
    DB_A=bench_a_$REP
    DB_B=bench_b_$REP
    log "repetition $REP/$R: databases $DB_A, $DB_B with $T empty schemas each"
    for db in "$DB_A" "$DB_B"; do
        q -d postgres -c "CREATE DATABASE $db"
        q -d "$db" -f "$WORK/create-schemas.sql"
    done
    q -d postgres -c CHECKPOINT
    if (( REP % 2 == 1 )); then order=(apply floor); else order=(floor apply); fi
    for step in "${order[@]}"; do
        if [[ $step == apply ]]; then
            run_tenantplan apply "$DB_A"
            python3 "$HERE/analyze.py" check-report "$WORK/report-apply-$REP.json" --tenants "$T" --applied $((T * M)) >&2
            check_rows "$DB_A" "tenantplan apply"
        else
            run_floor "$DB_B"
            check_rows "$DB_B" "psql floor"
        fi
        q -d postgres -c CHECKPOINT
    done
    objects_a=$(q -d "$DB_A" -f "$WORK/count-objects.sql" | tr '\n' ' ')
    objects_b=$(q -d "$DB_B" -f "$WORK/count-objects.sql" | tr '\n' ' ')
    [[ $objects_a == "$objects_b" ]] || die "relations differ: $DB_A has (relkind|count) $objects_a, $DB_B has $objects_b"
    if (( REP % 2 == 1 )); then order=(noop noop_floor); else order=(noop_floor noop); fi
    for step in "${order[@]}"; do
        if [[ $step == noop ]]; then
            run_tenantplan noop "$DB_A"
            python3 "$HERE/analyze.py" check-report "$WORK/report-noop-$REP.json" --tenants "$T" --applied 0 --unchanged "$T" >&2
            check_rows "$DB_A" "tenantplan no-op rerun"
        else
            run_noop_floor "$DB_A"
        fi
    done
    q -d postgres -c "DROP DATABASE $DB_A" -c "DROP DATABASE $DB_B"
done
stop_sampler

cat >"$WORK/params.json" <<JSON
{"T": $T, "M": $M, "K": $K, "R": $R, "maxConnections": $MAXCONN, "recycleAfter": ${RECYCLE_AFTER:-null}, "sampleIntervalS": $SAMPLE_INTERVAL,
 "cpus": $(nproc), "postgres": "PostgreSQL $PG_VERSION", "commit": "$COMMIT", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "host": "$(uname -srm)"}
JSON
RESULT=$OUT/results-$STAMP.json
python3 "$HERE/analyze.py" summarize --raw "$RAW" --samples "$WORK/samples.txt" --params "$WORK/params.json" --out "$RESULT" \
    | tee "$OUT/results-$STAMP.txt"
