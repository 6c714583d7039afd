# Shared by the bench/ scripts (sourced, not run). Expects log, die, ROOT, HERE, WORK (and PGDIR,
# RESULTS where used).

as_postgres() {
    if (( EUID == 0 )); then runuser -u postgres -- "$@"; else "$@"; fi
}

# find_pgbin: sets PGBIN and PSQL as EphemeralCluster.findBinDirectory does: $TENANTPLAN_PG_BINDIR,
# else the newest /usr/lib/postgresql/N/bin, else `pg_config --bindir`. PSQL is the real binary: on
# Debian /usr/bin/psql is a Perl wrapper whose start-up would be timed with every call.
find_pgbin() {
    PGBIN=${TENANTPLAN_PG_BINDIR:-}
    if [[ -z $PGBIN ]]; then
        for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4n -r); do
            [[ -x $dir/initdb ]] && { PGBIN=$dir; break; }
        done
    fi
    if [[ -z $PGBIN ]] && command -v pg_config >/dev/null; then PGBIN=$(pg_config --bindir); fi
    [[ -n $PGBIN && -x $PGBIN/initdb && -x $PGBIN/pg_ctl && -x $PGBIN/psql ]] || die "no PostgreSQL server binaries (initdb) found; set TENANTPLAN_PG_BINDIR"
    PSQL=$PGBIN/psql
}

# build_release: builds tenantplan with `swift build -c release --scratch-path .build-release` (never
# the default .build) and sets BIN. A source edited during the build is retried twice.
build_release() {
    log "building tenantplan: swift build -c release --scratch-path .build-release (log: build.log)"
    for attempt in 1 2 3; do
        (cd "$ROOT" && swift build -c release --scratch-path .build-release) >"$WORK/build.log" 2>&1 </dev/null && break
        if (( attempt < 3 )) && grep -q 'was modified during the build' "$WORK/build.log"; then
            log "a source file changed during the build; building again"
            sleep 5
            continue
        fi
        tail -n 40 "$WORK/build.log" >&2
        die "release build failed"
    done
    BIN="$(cd "$ROOT" && swift build -c release --scratch-path .build-release --show-bin-path 2>/dev/null </dev/null)/tenantplan"
    [[ -x $BIN ]] || die "built binary not found at $BIN"
    log "binary: $BIN"
}

# start_cluster [SERVER OPTIONS]: initdb and start a throwaway cluster in $PGDIR (owned by postgres
# when run as root), on a Unix socket only; sets PG_STARTED and POSTMASTER_PID, points the PG*
# variables at it and defines q (psql, quiet, stopping at the first error).
start_cluster() {
    log "starting a throwaway cluster in $PGDIR"
    (( EUID == 0 )) && chown postgres:postgres "$PGDIR"
    (cd / && as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C) \
        >"$WORK/initdb.log" 2>&1 </dev/null || die "initdb failed"
    (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start -o \
        "-F -k $PGDIR -p 5432 -c listen_addresses= -c fsync=off -c synchronous_commit=off $*") \
        >"$WORK/pg_ctl.log" 2>&1 </dev/null || die "pg_ctl start failed"
    PG_STARTED=1
    unset PGDATABASE PGSERVICE PGOPTIONS PGAPPNAME PGPASSWORD
    export PGHOST=$PGDIR PGPORT=5432 PGUSER=postgres
    POSTMASTER_PID=$(head -n 1 "$PGDIR/data/postmaster.pid")
}
q() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@" </dev/null; }

# create_current_tenants DB T: T tenants t_1..t_T at a current state in database DB: tables items
# and orders, and a name-format tracking table recording 0001_base (500 tenants a transaction); then
# VACUUM (ANALYZE), so that autovacuum's first pass over the new tables lands in no timed step.
create_current_tenants() {
    local db=$1 count=$2 from to
    for (( from = 1; from <= count; from += 500 )); do
        to=$(( from + 499 < count ? from + 499 : count ))
        q -d "$db" -c "DO \$\$ BEGIN FOR i IN $from..$to LOOP
            EXECUTE format('CREATE SCHEMA t_%s; CREATE TABLE t_%s.items (id serial PRIMARY KEY, sku text, qty int);
              CREATE TABLE t_%s.orders (id serial PRIMARY KEY, note text);
              CREATE TABLE t_%s.__drizzle_migrations (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE,
                applied_at timestamptz DEFAULT current_timestamp);
              INSERT INTO t_%s.__drizzle_migrations (name) VALUES (''0001_base'')', i, i, i, i, i);
          END LOOP; END \$\$;"
    done
    q -d "$db" -c "VACUUM (ANALYZE)"
}

# read_floor_sql T: one session's read of every tracking table of t_1..t_T, in UNION ALL queries of
# 1,000 tables (one query over 10,000 exceeds the server's stack depth).
read_floor_sql() {
    python3 - "$1" <<'PY'
import sys
t = int(sys.argv[1])
for start in range(1, t + 1, 1000):
    tables = range(start, min(t, start + 999) + 1)
    print("\nUNION ALL\n".join(f"SELECT {i}, name FROM t_{i}.__drizzle_migrations" for i in tables) + ";")
PY
}

# timed_step NAME COMMAND...: runs COMMAND (output in $WORK/NAME.log) and appends to $RESULTS:
# name, wall ms, client peak RSS (KB), client CPU ms (user+sys), cluster CPU ms, mean busy backends
# (other active client backends, sampled every 50 ms by one psql session).
timed_step() {
    local name=$1
    shift
    local before after start end sampler
    before=$(python3 "$HERE/analyze.py" cpu-snapshot "$POSTMASTER_PID")
    (while sleep 0.05; do
        echo "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid();"
    done) | "$PSQL" -X -q -At -d postgres >"$WORK/busy-$name.txt" 2>/dev/null &
    sampler=$!
    start=$(date +%s%N)
    /usr/bin/time -v -o "$WORK/time-$name.txt" "$@" >"$WORK/$name.log" 2>&1 </dev/null \
        || { kill "$sampler" 2>/dev/null; tail -n 20 "$WORK/$name.log" >&2; die "$name failed"; }
    end=$(date +%s%N)
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    after=$(python3 "$HERE/analyze.py" cpu-snapshot "$POSTMASTER_PID")
    python3 - "$name" "$start" "$end" "$WORK/time-$name.txt" "$before" "$after" "$WORK/busy-$name.txt" >>"$RESULTS" <<'PY'
import sys, re
name, start, end, timing, before, after, busy = sys.argv[1:]
text = open(timing).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
b, a = [list(map(float, s.split())) for s in (before, after)]
samples = [int(line) for line in open(busy) if line.strip().isdigit()]
busy_mean = sum(samples) / len(samples) if samples else 0.0
print(f"{name}\t{(int(end) - int(start)) // 1_000_000}\t{rss}\t{int(cpu * 1000)}\t{int((a[1] - b[1]) / a[2] * 1000)}\t{busy_mean:.2f}")
PY
    log "  $name: $(tail -n 1 "$RESULTS" | cut -f2) ms"
}

# setup_bench_cluster: what the tenant-state benches (deploy.sh, scale.sh) start with: the cleanup
# trap, the server binaries, a release build, and a throwaway cluster set for many tenants' DDL.
setup_bench_cluster() {
    trap_cleanup
    find_pgbin
    build_release
    start_cluster "-c max_connections=100 -c full_page_writes=off -c max_locks_per_transaction=256"
}

# trap_cleanup: on exit, stop the throwaway cluster (when started), keep $WORK when the bench failed
# (saying where), remove $PGDIR; Ctrl-C and SIGTERM exit 130 through it.
trap_cleanup() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    [[ -n $PG_STARTED ]] && (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop) >/dev/null 2>&1
    (( rc != 0 )) && log "logs kept in $WORK" || rm -rf "$WORK"
    rm -rf "$PGDIR"
    exit "$rc"
}

# write_base_migration DIR: DIR/0001_base.sql, the migration create_current_tenants recorded.
write_base_migration() {
    mkdir -p "$1"
    printf 'CREATE TABLE items (id serial PRIMARY KEY, sku text, qty int);\nCREATE TABLE orders (id serial PRIMARY KEY, note text);\n' \
        >"$1/0001_base.sql"
}
