import TenantPlanPostgres
import TenantPlanSpec

/// Converts a tracking table between formats, keeping one row per applied migration.
///
/// Rows are matched to migrations on disk (and the plan's `sql` actions) by name or hash; a row
/// that matches nothing refuses the conversion. The table is rebuilt in the target layout with
/// the original ids, so order and "last applied" survive; the applied time survives too
/// (into drizzle-kit, `created_at` takes the journal `when`, as drizzle-orm requires, and the
/// original time goes into the report).
public enum TrackingConverter {
    /// One converted row.
    public struct Row: Codable, Sendable, Equatable {
        public var id: Int
        public var migration: String
        public var hash: String
        /// The time recorded before conversion (text, as stored: a timestamptz or epoch milliseconds).
        public var originalAppliedAt: String?
        /// drizzle-kit target only: the journal `when` written as `created_at`; nil when the migration has
        /// no `when` (then `created_at` keeps the original time, in milliseconds).
        public var createdAt: Int64?
    }

    /// What converting one table means.
    public struct Conversion: Codable, Sendable {
        public var schema: String
        public var table: String
        public var from: TrackingFormat
        public var to: TrackingFormat
        public var rows: [Row]
        /// Recorded names or hashes that match no migration: the conversion is refused.
        public var unmatched: [String]
        /// Rows dropped because another row already recorded the same migration.
        public var duplicates: Int

        public var isPossible: Bool { unmatched.isEmpty }

        /// Why the conversion is refused (rows matching no migration); nothing was changed.
        public var refusal: Report.ErrorInfo {
            Report.ErrorInfo(
                message:
                    "cannot convert \(schema).\(table) from \(from.rawValue) to \(to.rawValue): "
                    + "\(unmatched.count) row(s) match no migration on disk: \(unmatched.joined(separator: ", "))",
                hint: "restore the files, or delete those rows (tenantplan sync --clean-orphans); nothing was changed")
        }
    }

    public static func plan(
        _ state: TrackingState, table: TrackingTableRef, to target: TrackingFormat, known: [Migration]
    ) -> Conversion? {
        guard let from = state.format, from != target else { return nil }
        var byKey: [String: Migration] = [:]
        for migration in known {
            let key = from.usesHash ? migration.hash : migration.name
            if byKey[key] == nil { byKey[key] = migration }
        }
        var conversion = Conversion(
            schema: table.schema, table: table.table, from: from, to: target, rows: [], unmatched: [], duplicates: 0)
        var seen = Set<String>()
        let hasIDs = Set(state.rows.map(\.id)).count == state.rows.count && !state.rows.contains { $0.id <= 0 }
        for (place, read) in state.rows.sorted(by: { $0.id < $1.id }).enumerated() {
            var row = read
            if !hasIDs { row.id = place + 1 }  // no usable id column: number the rows in the order read
            guard let migration = byKey[row.key] else {
                conversion.unmatched.append(row.key)
                continue
            }
            guard seen.insert(migration.name).inserted else {
                conversion.duplicates += 1
                continue
            }
            var converted = Row(
                id: row.id, migration: migration.name, hash: migration.hash, originalAppliedAt: row.applied)
            if target == .drizzleKit {
                converted.createdAt = migration.when
            }
            conversion.rows.append(converted)
        }
        return conversion
    }

    /// The SQL of `conversions`, each after its `unchangedCheck` when `checked`.
    static func sql(_ conversions: [Conversion], checked: Bool) -> String {
        conversions.map { (checked ? unchangedCheck($0) : "") + sql($0) }.joined()
    }

    /// Under a transaction pooler: fails the transaction with SQLSTATE `TrackingSQL.conflict` when
    /// the table no longer holds exactly the rows the conversion was planned from (another run
    /// recorded, deleted or converted since the read), so that `sql` never drops a row it did not see.
    static func unchangedCheck(_ conversion: Conversion) -> String {
        let ref = TrackingTableRef(schema: conversion.schema, table: conversion.table)
        let column = SQL.quoteIdentifier(TrackingSQL.columns(of: conversion.from).key)
        let keys = Set(conversion.rows.map { conversion.from.usesHash ? $0.hash : $0.migration }).sorted()
        let message = SQL.quoteLiteral("\(ref.qualified) changed since this run read it")
        return TrackingSQL.doBlock(
            "BEGIN IF (SELECT count(*) FROM \(ref.qualified)) <> \(conversion.rows.count + conversion.duplicates) "
                + "OR EXISTS (SELECT 1 FROM \(ref.qualified) WHERE \(column)::text <> ALL ("
                + "\(SQL.quoteLiteral(PGArray.literal(keys)))::text[])) THEN "
                + "RAISE EXCEPTION USING ERRCODE = '\(TrackingSQL.conflict)', MESSAGE = \(message); END IF; "
                + "EXCEPTION WHEN undefined_column THEN "
                + "RAISE EXCEPTION USING ERRCODE = '\(TrackingSQL.conflict)', MESSAGE = \(message); END")
    }

    /// SQL that rewrites the table in the target layout (run inside the tenant's transaction). The
    /// table itself stays, so its owner and grants do: its rows are deleted, its layout columns
    /// replaced, and the rows inserted again with their ids. (A view over a layout column blocks the
    /// column's drop: the conversion of that tenant then fails and changes nothing.)
    public static func sql(_ conversion: Conversion) -> String {
        let ref = TrackingTableRef(schema: conversion.schema, table: conversion.table)
        var text = "DELETE FROM \(ref.qualified);"
        text +=
            "ALTER TABLE \(ref.qualified) ADD COLUMN IF NOT EXISTS id serial PRIMARY KEY, "
            + TrackingSQL.layoutColumns.map { "DROP COLUMN IF EXISTS \(SQL.quoteIdentifier($0))" }
            .joined(separator: ", ") + ";"
        // An `id` that is there but draws no numbers (a plain integer) gets an identity, so new rows are numbered.
        let identity = SQL.quoteLiteral(
            "ALTER TABLE \(ref.qualified) ALTER COLUMN id SET NOT NULL, "
                + "ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        text +=
            "DO $tenantplan_convert$ BEGIN IF pg_catalog.pg_get_serial_sequence("
            + "\(SQL.quoteLiteral(ref.qualified)), 'id') IS NULL THEN EXECUTE \(identity); END IF; "
            + "END $tenantplan_convert$;"
        text +=
            "ALTER TABLE \(ref.qualified) "
            + TrackingSQL.layout(conversion.to).map { "ADD COLUMN " + $0 }.joined(separator: ", ") + ";"
        guard !conversion.rows.isEmpty else { return text }
        let values = conversion.rows.map { row -> String in
            let time = timeExpression(
                row.originalAppliedAt, from: conversion.from, to: conversion.to, createdAt: row.createdAt)
            switch conversion.to {
            case .name: return "(\(row.id), \(SQL.quoteLiteral(row.migration)), \(time))"
            case .hash, .drizzleKit: return "(\(row.id), \(SQL.quoteLiteral(row.hash)), \(time))"
            case .tenantplan:
                return "(\(row.id), \(SQL.quoteLiteral(row.migration)), \(SQL.quoteLiteral(row.hash)), "
                    + "coalesce(\(time), clock_timestamp()))"
            }
        }.joined(separator: ", ")
        let columns: String
        switch conversion.to {
        case .name: columns = "id, name, applied_at"
        case .hash, .drizzleKit: columns = "id, hash, created_at"
        case .tenantplan: columns = "id, name, sha256, applied_at"
        }
        text += "INSERT INTO \(ref.qualified) (\(columns)) VALUES \(values);"
        text +=
            "SELECT setval(pg_get_serial_sequence(\(SQL.quoteLiteral(ref.qualified)), 'id'), "
            + "(SELECT max(id) FROM \(ref.qualified)));"
        return text
    }

    /// The target column's value for a row's original time.
    static func timeExpression(_ original: String?, from: TrackingFormat, to: TrackingFormat, createdAt: Int64?)
        -> String
    {
        if to == .drizzleKit {
            if let createdAt { return String(createdAt) }
            guard let original else { return "NULL" }
            if from == .drizzleKit { return Int64(original).map(String.init) ?? "NULL" }
            return "(extract(epoch FROM \(SQL.quoteLiteral(original))::timestamptz) * 1000)::bigint"
        }
        guard let original else { return "NULL" }
        if from == .drizzleKit {
            guard let milliseconds = Int64(original) else { return "NULL" }
            return "to_timestamp(\(milliseconds)::numeric / 1000)"
        }
        return "\(SQL.quoteLiteral(original))::timestamptz"
    }
}
