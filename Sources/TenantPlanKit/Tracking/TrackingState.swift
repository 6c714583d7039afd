import TenantPlanSpec

/// What one tracking table holds for one tenant.
public struct TrackingState: Sendable {
    public struct Row: Sendable, Hashable {
        public var id: Int
        public var key: String
        public var applied: String?
        /// The file's hash as recorded, where the key is the name (tenantplan format).
        public var checksum: String?

        public init(id: Int, key: String, applied: String?, checksum: String? = nil) {
            self.id = id
            self.key = key
            self.applied = applied
            self.checksum = checksum
        }
    }

    /// The table's format, or nil when the table does not exist.
    public var format: TrackingFormat?
    /// The table exists but has neither a `name` nor a `hash` column.
    public var unrecognized: Bool = false
    /// The table exists but could not be read (permissions, a broken layout): that tenant's error.
    public var readError: String?
    public var rows: [Row] = []
    /// The transaction (`xmin`) that wrote each key's row, as read: tells a row a lost connection
    /// committed from one another run wrote since (`TenantExecutor.Outcome.unconfirmed`).
    public var writers: [String: String] = [:]
    /// A legacy table without its format's time column (`applied_at` / `created_at`).
    public var lacksTimeColumn = false
    /// The table's version as read: its catalog row's `xmin`, and the count and sum of its rows'
    /// `xmin`s (`TrackingSQL.stamp`). Any insert, update or delete of a row, or `ALTER TABLE` changing its
    /// columns, gives another; nil for a state that was not read from a table.
    public var stamp: String?
    /// The table's catalog row version (`pg_class.xmin`) as read, and its columns, sorted and
    /// joined: what a speculative state is checked against.
    public var version: String?
    public var layout: String?
    /// The rows were not read: they are assumed to be those most tenants have (`RunSession`'s
    /// speculative read for `apply`). Never settled or refused on: only the one-trip path uses it,
    /// after checking the table holds exactly these keys (`TrackingSQL.unchangedSince`).
    public var speculative = false

    public var exists: Bool { format != nil || unrecognized }

    public static let missing = TrackingState(format: nil)

    /// Keys (names or hashes) recorded.
    public var keys: Set<String> { Set(rows.map(\.key)) }

    /// Migrations of `migrations` not yet recorded, in order.
    public func pending(_ migrations: [Migration]) -> [Migration] {
        guard let format else { return migrations }
        let recorded = keys
        return migrations.filter { !recorded.contains(format.usesHash ? $0.hash : $0.name) }
    }

    /// Recorded rows matching no migration (by name or hash); rows of `sql` actions are never orphans.
    public func orphans(_ known: [Migration]) -> [Row] {
        guard let format else { return [] }
        let keys = Set(known.map { format.usesHash ? $0.hash : $0.name })
        return rows.filter { !keys.contains($0.key) }
    }

    /// Adds rows for `migrations` as the table would hold them once recorded (for planning and for
    /// records not committed yet); a table that does not exist yet takes `format`.
    public mutating func record(_ migrations: [Migration], format newFormat: TrackingFormat) {
        if format == nil && !unrecognized { format = newFormat }
        let keyFormat = format ?? newFormat
        var nextID = (rows.map(\.id).max() ?? 0) + 1
        rows.reserveCapacity(rows.count + migrations.count)
        for migration in migrations {
            rows.append(
                Row(
                    id: nextID, key: keyFormat.key(of: migration), applied: nil,
                    checksum: keyFormat == .tenantplan ? migration.hash : nil))
            nextID += 1
        }
    }

    /// The table as it reads after `conversion` (same rows, keyed in the target format).
    public func converted(by conversion: TrackingConverter.Conversion) -> TrackingState {
        let rows = conversion.rows.map { row in
            Row(
                id: row.id, key: conversion.to.usesHash ? row.hash : row.migration, applied: row.originalAppliedAt,
                checksum: conversion.to == .tenantplan ? row.hash : nil)
        }
        return TrackingState(format: conversion.to, rows: rows)
    }

    /// The most recent row (highest id).
    public var last: Row? { rows.max { $0.id < $1.id } }
}
