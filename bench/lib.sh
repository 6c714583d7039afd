# Shared by bench/run.sh and bench/legacy.sh (sourced, not run). Expects log, die, ROOT and WORK.

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
