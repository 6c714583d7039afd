#!/usr/bin/env bash
# Records the reports the output golden tests render (Tests/TenantPlanOutputTests/Fixtures/*.json)
# from real runs of the demo plan on a throwaway cluster, with times and paths normalised so the
# files are stable. Then `TENANTPLAN_RECORD_GOLDEN=1 swift test --filter TenantPlanOutputTests`
# rewrites the expected text (*.txt); review the diff before committing.
#
# The scenario: 36 demo tenants (33 active), globex with a conflicting table, initech populated by hand;
#   plan.json     plan --json                      (everything pending)
#   apply.json    apply --json                     (globex fails with 42P07)
#   then: an orphan row in acme's tracking table, hooli's last row deleted
#   status.json   status --json
#   sync.json     sync --status --json
#   convert.json  convert-tracking --to hash --dry-run --json   (acme refused: its orphan matches no file)
set -Eeuo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/Tests/TenantPlanOutputTests/Fixtures
WORK=$(mktemp -d /tmp/tenantplan-fixtures-XXXXXX)
chmod 755 "$WORK"
log() { printf '[fixtures] %s\n' "$*" >&2; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
source "$ROOT/bench/lib.sh"
find_pgbin
PGDIR=$WORK/pg
cleanup() {
    (cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop) >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$PGDIR"
(( EUID == 0 )) && chown postgres:postgres "$PGDIR"
(cd / && as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C) >/dev/null
(cd / && as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
    -o "-F -k $PGDIR -c listen_addresses= -c fsync=off" start) >/dev/null
export DATABASE_URL="host=$PGDIR port=5432 user=postgres dbname=postgres"
psql_() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }
psql_ -f "$ROOT/plans/demo-seed.sql"
psql_ -f "$OUT/scenario-seed.sql"
(cd "$ROOT" && swift build --product tenantplan >/dev/null)
BIN=$ROOT/.build/debug/tenantplan
PLAN=plans/demo.yaml
run() { (cd "$ROOT" && "$BIN" "$@" 2>/dev/null) || true; }
run plan "$PLAN" --json >"$WORK/plan.json"
run apply "$PLAN" --json >"$WORK/apply.json"
psql_ -c "INSERT INTO tenant_acme.__drizzle_migrations (name) VALUES ('0003_renamed_since');
          DELETE FROM tenant_acme.__drizzle_migrations WHERE name = '0003_lush_thunderbolt';
          DELETE FROM tenant_hooli.__drizzle_migrations WHERE name = 'seed-settings';"
run status "$PLAN" --json >"$WORK/status.json"
run sync "$PLAN" --status --json >"$WORK/sync.json"
run convert-tracking "$PLAN" --to hash --dry-run --json >"$WORK/convert.json"
python3 - "$WORK" "$OUT" <<'PY'
import json, re, sys
work, out = sys.argv[1], sys.argv[2]
TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
def normalise(value, key=None):
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if key == "durationMs":
        return 12
    if key == "host":
        return "/tmp/tenantplan-pg"
    if isinstance(value, str) and TIME.match(value):
        return "2026-11-29 12:00:00.000000+00" if " " in value else "2026-11-29T12:00:00.000Z"
    return value
for name in ["plan", "apply", "status", "sync", "convert"]:
    data = normalise(json.load(open(f"{work}/{name}.json")))
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {name}.json")
PY
