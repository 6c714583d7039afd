import TenantPlanPostgres
import TenantPlanSpec

/// SQL for each tracking format: creating the table, recording a migration, reading rows.
public enum TrackingSQL {
    /// The columns of a format's layout besides `id serial PRIMARY KEY`, as the contract gives them.
    static func layout(_ format: TrackingFormat) -> [String] {
        switch format {
        case .name:
            ["name varchar(255) NOT NULL UNIQUE", "applied_at timestamptz DEFAULT current_timestamp"]
        case .hash:
            ["hash text NOT NULL", "created_at timestamptz DEFAULT current_timestamp"]
        case .drizzleKit:
            ["hash text NOT NULL", "created_at bigint"]
        case .tenantplan:
            [
                "name varchar(255) NOT NULL UNIQUE", "sha256 text NOT NULL",
                "applied_at timestamptz NOT NULL DEFAULT clock_timestamp()", "execution_ms integer",
                "applied_by text NOT NULL DEFAULT current_user",
            ]
        }
    }

    /// Every column some format's layout has (besides `id`).
    static let layoutColumns = ["name", "hash", "created_at", "applied_at", "sha256", "execution_ms", "applied_by"]

    public static func createTable(_ ref: TrackingTableRef, format: TrackingFormat) -> String {
        let columns = (["id serial PRIMARY KEY"] + layout(format)).joined(separator: ", ")
        return "CREATE TABLE IF NOT EXISTS \(ref.qualified) (\(columns))"
    }

    /// The setting a migration's transaction holds (`SET LOCAL`) until it ends.
    static let guardSetting = "tenantplan.guard"
    /// A setting never set: `guardedRecord` reads it (and fails, naming it) when the guard is gone.
    static let guardLost = "tenantplan.migration_ended_its_transaction"

    /// Whether `error` is `guardedRecord` finding its transaction gone.
    static func lostGuard(_ error: PostgresError?) -> Bool {
        guard let error, error.sqlstate == "42704" else { return false }
        return error.message.contains(guardLost)
    }
    /// When the running migration started (`set_config(..., true)`), for the tenantplan format's execution time.
    static let startedSetting = "tenantplan.started"
    /// Sets `startedSetting` to now, inside the migration's transaction.
    static let markStart =
        "SELECT pg_catalog.set_config('\(startedSetting)', clock_timestamp()::text, true) AS tenantplan_start;"

    /// How a record's execution time is known.
    enum Elapsed {
        /// Not run (marked as applied): no time.
        case none
        /// Ran in this transaction: measured by the server from `startedSetting`.
        case sinceStart
        /// Ran statement by statement: measured by the client.
        case milliseconds(Int)
    }

    /// Columns and values recording `migration`; `recordsTime`: the time it ran goes in the time
    /// column (the column default is the transaction's start, which every migration of one round
    /// trip shares); `elapsed`: the tenantplan format's execution time.
    private static func recordValues(
        _ migration: Migration, format: TrackingFormat, recordsTime: Bool, elapsed: Elapsed
    ) -> (String, String) {
        switch format {
        case .name:
            return recordsTime
                ? ("name, applied_at", SQL.quoteLiteral(migration.name) + ", clock_timestamp()")
                : ("name", SQL.quoteLiteral(migration.name))
        case .hash:
            return recordsTime
                ? ("hash, created_at", SQL.quoteLiteral(migration.hash) + ", clock_timestamp()")
                : ("hash", SQL.quoteLiteral(migration.hash))
        case .drizzleKit:
            let createdAt = migration.when.map(String.init) ?? "(extract(epoch from clock_timestamp()) * 1000)::bigint"
            return ("hash, created_at", SQL.quoteLiteral(migration.hash) + ", " + createdAt)
        case .tenantplan:
            let milliseconds: String
            switch elapsed {
            case .none: milliseconds = "NULL"
            case .milliseconds(let value): milliseconds = String(value)
            case .sinceStart:
                milliseconds =
                    "(extract(epoch FROM clock_timestamp() - "
                    + "pg_catalog.current_setting('\(startedSetting)')::timestamptz) * 1000)::integer"
            }
            return (
                "name, sha256, execution_ms",
                SQL.quoteLiteral(migration.name) + ", " + SQL.quoteLiteral(migration.hash) + ", " + milliseconds
            )
        }
    }

    /// An INSERT recording `migration` without running it, or (`executionMs`) after running it
    /// statement by statement; values are quoted literals (for multi-statement texts).
    public static func record(
        _ migration: Migration, in ref: TrackingTableRef, format: TrackingFormat, executionMs: Int? = nil
    ) -> String {
        let (columns, values) = recordValues(
            migration, format: format, recordsTime: false, elapsed: executionMs.map(Elapsed.milliseconds) ?? .none)
        return "INSERT INTO \(ref.qualified) (\(columns)) VALUES (\(values))"
    }

    /// The record of a migration that just ran in this transaction, written only if the
    /// transaction that set the guard to `token` (`ExecutionContext.guardToken`, random per tenant)
    /// is still open: a migration that ended it (a COMMIT inside a procedure, `COMMIT; BEGIN;` in a
    /// file the parser skipped) makes the insert fail, naming `guardLost` (42704, unrecognized
    /// configuration parameter), instead of recording a migration that did not run whole. (The
    /// condition reads a setting, so the planner cannot fold it away.)
    public static func guardedRecord(
        _ migration: Migration, in ref: TrackingTableRef, format: TrackingFormat, recordsTime: Bool = true,
        token: String
    ) -> String {
        let (columns, values) = recordValues(
            migration, format: format, recordsTime: recordsTime, elapsed: .sinceStart)
        let check =
            "CASE WHEN pg_catalog.current_setting('\(guardSetting)', true) = \(SQL.quoteLiteral(token)) THEN true "
            + "ELSE pg_catalog.current_setting('\(guardLost)')::bool END"
        return "INSERT INTO \(ref.qualified) (\(columns)) SELECT \(values) WHERE \(check) "
            + "RETURNING xmin::text AS \(writerColumn), \(mark)"
    }

    /// The timing mark: the server's clock, as a column of a statement that runs anyway (the
    /// settings before a transaction's first migration, each tracking insert's `RETURNING`).
    static let markColumn = "tenantplan_mark"
    static let mark = "extract(epoch FROM clock_timestamp())::float8 AS \(markColumn)"

    /// The column of the transaction id `guardedRecord` returns.
    static let writerColumn = "tenantplan_writer"

    /// The key column (name or hash) and the time column of a format.
    static func columns(of format: TrackingFormat) -> (key: String, time: String) {
        switch format {
        case .name, .tenantplan: ("name", "applied_at")
        case .hash, .drizzleKit: ("hash", "created_at")
        }
    }

    /// A SELECT of `(tag, id, key, applied, checksum, writer)` rows, all as text (`writer`: the
    /// row's `xmin`): `key` is the name or
    /// hash, `applied` the time, `checksum` the tenantplan format's sha256. Columns a legacy table
    /// lacks read as NULL instead of failing the batch.
    public static func selectRows(_ ref: TrackingTableRef, format: TrackingFormat, columns: Set<String>, tag: Int)
        -> String
    {
        let (key, time) = Self.columns(of: format)
        let id = columns.contains("id") ? "\"id\"::text" : "NULL::text"
        let applied = columns.contains(time) ? "\"\(time)\"::text" : "NULL::text"
        let checksum = format == .tenantplan ? "\"sha256\"::text" : "NULL::text"
        return "SELECT \(tag) AS tag, \(id) AS id, \"\(key)\"::text AS key, \(applied) AS applied, "
            + "\(checksum) AS checksum, xmin::text AS writer FROM \(ref.qualified)"
    }

    /// `TrackingState.stamp` from the table's catalog row version and its rows' writers: their
    /// count and the sum of their transaction ids. A row inserted, updated or deleted since changes
    /// them: a later transaction's id is larger (in the seconds between a read and a run).
    static func stamp(table version: String, count: Int, sum: Int) -> String {
        "\(version)/\(count):\(sum)"
    }

    /// A condition true when the table `ref` is still as `state` read it (`TrackingState.stamp`),
    /// computed by the server as `stamp` does. A table dropped since fails it with an error.
    static func unchangedSince(_ state: TrackingState, in ref: TrackingTableRef) -> String? {
        if state.speculative { return holdsExactly(state, in: ref) }
        guard let stamp = state.stamp else { return nil }
        return "\(catalogVersion(ref)) || '/' || "
            + "(SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM \(ref.qualified)) = "
            + SQL.quoteLiteral(stamp)
    }

    /// The table's catalog row version (`TrackingState.version`), as the server reads it now; an error
    /// for a table dropped since.
    private static func catalogVersion(_ ref: TrackingTableRef) -> String {
        "(SELECT xmin::text FROM pg_catalog.pg_class WHERE oid = \(SQL.quoteLiteral(ref.qualified))::regclass)"
    }

    /// For a speculative state (rows assumed, not read): a condition true when the table `ref` has
    /// the catalog version read and holds exactly the state's rows as planning reads them
    /// (`assumedItems`), whatever else differs (ids, times that planning does not read).
    static func holdsExactly(_ state: TrackingState, in ref: TrackingTableRef) -> String? {
        guard let version = state.version, let format = state.format, let expected = assumedItems(state) else {
            return nil
        }
        let (item, order) = assumedItemSQL(format)
        let array =
            expected.isEmpty ? "'{}'::text[]" : "ARRAY[\(expected.map(SQL.quoteLiteral).joined(separator: ", "))]"
        return "\(catalogVersion(ref)) = \(SQL.quoteLiteral(version)) AND "
            + "coalesce((SELECT array_agg(\(item) ORDER BY \(order)) "
            + "FROM \(ref.qualified)), '{}') = \(array)"
    }

    /// What planning reads of a table's rows, one text per row, in the order `holdsExactly` compares
    /// them; nil when the table cannot be assumed (a hash format without `id`s, whose order is then
    /// the order rows were read in).
    /// - `name`: the names, as a set (byte order).
    /// - `tenantplan`: the names with their sha256 (`6:0001_a=…`; no `=` for a NULL), as a set.
    /// - `hash`: the hashes in `id` order (edits are paired by place).
    /// - `drizzle-kit`: the hashes with their `created_at` (the journal `when`) in `id` order.
    /// Names are length-prefixed where something follows them, so no two rows read alike.
    static func assumedItems(_ state: TrackingState) -> [String]? {
        guard let format = state.format else { return nil }
        func prefixed(_ key: String) -> String { "\(key.unicodeScalars.count):\(key)" }
        switch format {
        case .name:
            return state.rows.map(\.key).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        case .tenantplan:
            return state.rows.map { prefixed($0.key) + ($0.checksum.map { "=" + $0 } ?? "") }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        case .hash, .drizzleKit:
            guard state.layout?.split(separator: ",").contains("id") == true else { return nil }
            let rows = state.rows.sorted { $0.id < $1.id }
            return format == .hash
                ? rows.map(\.key) : rows.map { prefixed($0.key) + ($0.applied.map { "@" + $0 } ?? "") }
        }
    }

    /// The SQL of `assumedItems`: one row's text, and the order of the aggregate. Compared under the
    /// "C" collation whatever the column's (a case-insensitive one would make `0001_A` equal
    /// `0001_a`, which planning tells apart).
    private static func assumedItemSQL(_ format: TrackingFormat) -> (item: String, order: String) {
        switch format {
        case .name:
            return ("\"name\"::text COLLATE \"C\"", "\"name\"::text COLLATE \"C\"")
        case .tenantplan:
            let item = "(length(\"name\") || ':' || \"name\" || coalesce('=' || \"sha256\", ''))::text COLLATE \"C\""
            return (item, item)
        case .hash:
            return ("\"hash\"::text COLLATE \"C\"", "\"id\"")
        case .drizzleKit:
            let item =
                "(length(\"hash\") || ':' || \"hash\" || coalesce('@' || \"created_at\"::text, ''))::text COLLATE \"C\""
            return (item, "\"id\"")
        }
    }

    /// Deletes rows by their recorded key (name or hash), which every layout has (a legacy table may lack `id`).
    public static func deleteRows(withKeys keys: [String], in ref: TrackingTableRef, format: TrackingFormat) -> String {
        let column = columns(of: format).key
        return
            "DELETE FROM \(ref.qualified) WHERE \(SQL.quoteIdentifier(column)) IN "
            + "(\(Set(keys).sorted().map(SQL.quoteLiteral).joined(separator: ", ")));"
    }

    /// The SQLSTATE of `unrecordedCheck`: another run recorded a migration this run was about to.
    static let conflict = "TP409"

    /// Fails the transaction with SQLSTATE `conflict` when any of `keys` is recorded already (a
    /// racing run behind a transaction pooler got there first, between this run's read and now).
    static func unrecordedCheck(_ keys: [String], in ref: TrackingTableRef, format: TrackingFormat) -> String {
        let column = SQL.quoteIdentifier(columns(of: format).key)
        let list = Set(keys).sorted().map(SQL.quoteLiteral).joined(separator: ", ")
        let message = SQL.quoteLiteral("recorded by another run since this one read \(ref.qualified)")
        return doBlock(
            "BEGIN IF EXISTS (SELECT 1 FROM \(ref.qualified) WHERE \(column) IN (\(list))) THEN "
                + "RAISE EXCEPTION USING ERRCODE = '\(conflict)', MESSAGE = \(message); END IF; END")
    }

    /// `DO` with `body` dollar-quoted by a tag the body does not contain.
    static func doBlock(_ body: String) -> String {
        var tag = "$tp$"
        var number = 0
        while body.contains(tag) {
            number += 1
            tag = "$tp\(number)$"
        }
        return "DO \(tag)\(body)\(tag);"
    }

    /// Records a file's new hash for an applied migration that was edited (`sync --accept-edits`).
    public static func acceptEdit(_ edit: HistoryCheck.Edited, in ref: TrackingTableRef, format: TrackingFormat)
        -> String
    {
        let column = format == .tenantplan ? "sha256" : "hash"
        let key = format == .tenantplan ? "name" : "hash"
        let current = format == .tenantplan ? edit.migration : edit.recorded
        return "UPDATE \(ref.qualified) SET \(SQL.quoteIdentifier(column)) = \(SQL.quoteLiteral(edit.now)) "
            + "WHERE \(SQL.quoteIdentifier(key)) = \(SQL.quoteLiteral(current));"
    }

    /// Reads the columns of tracking tables named `table` in any of `schemas`.
    public static let columnsQuery = """
        SELECT n.nspname, a.attname, format_type(a.atttypid, a.atttypmod), c.xmin::text
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
        WHERE c.relname = $1 AND n.nspname = ANY($2::name[]) AND c.relkind IN ('r', 'p')
          AND a.attnum > 0 AND NOT a.attisdropped
        """

    /// Which of `schemas` exist.
    public static let schemasQuery =
        "SELECT nspname, \(populated) FROM pg_catalog.pg_namespace n WHERE nspname = ANY($1::name[])"

    /// Whether schema `n` holds any object: every object records a dependency on its schema, and
    /// pg_depend is indexed by what is depended on (pg_class has no index by schema). Default
    /// privileges and publications of the schema depend on it too, but are not objects in it.
    public static let populated =
        "EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass "
        + "AND d.refobjid = n.oid AND d.classid NOT IN ('pg_catalog.pg_default_acl'::regclass, "
        + "coalesce(to_regclass('pg_catalog.pg_publication_namespace'), 0)))"

    /// Detects a format from a table's columns (name -> type), as the contract says.
    public static func detect(columns: [String: String]) -> TrackingFormat? {
        if columns["name"] != nil { return columns["sha256"] != nil ? .tenantplan : .name }
        guard columns["hash"] != nil else { return nil }
        return columns["created_at"] == "bigint" ? .drizzleKit : .hash
    }
}

/// A PostgreSQL text[] literal for passing a list of strings as one parameter.
enum PGArray {
    static func literal(_ values: [String]) -> String {
        "{"
            + values.map { value in
                "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                    + "\""
            }.joined(separator: ",") + "}"
    }
}
