import TenantPlanPostgres
import TenantPlanSpec

/// What one tracking table holds for one tenant.
public struct TrackingState: Sendable {
    public struct Row: Sendable, Hashable {
        public var id: Int
        public var key: String
        public var applied: String?
    }

    /// The table's format, or nil when the table does not exist.
    public var format: TrackingFormat?
    /// The table exists but has neither a `name` nor a `hash` column.
    public var unrecognized: Bool = false
    /// The table exists but could not be read (permissions, a broken layout): that tenant's error.
    public var readError: String?
    public var rows: [Row] = []

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
        for migration in migrations {
            rows.append(Row(id: nextID, key: keyFormat.usesHash ? migration.hash : migration.name, applied: nil))
            nextID += 1
        }
    }

    /// The most recent row (highest id).
    public var last: Row? { rows.max { $0.id < $1.id } }
}

/// Reads tracking tables for many schemas with a few queries: one catalog query per table
/// name, then one UNION ALL query per batch of tables.
public enum TrackingReader {
    public static let batchSize = 250

    /// Reads the state of each table in `refs` (all with the same table name or not).
    public static func read(_ refs: [TrackingTableRef], on connection: PGConnection) throws -> [TrackingTableRef: TrackingState] {
        var states: [TrackingTableRef: TrackingState] = [:]
        let byTable = Dictionary(grouping: Set(refs), by: \.table)
        var found: [(TrackingTableRef, TrackingFormat, Set<String>)] = []
        for (table, tableRefs) in byTable {
            let schemas = tableRefs.map(\.schema)
            for chunk in schemas.chunked(into: 5000) {
                let result = try connection.exec(TrackingSQL.columnsQuery, [table, PGArray.literal(chunk)])
                var columns: [String: [String: String]] = [:]
                for row in 0..<result.rowCount {
                    columns[result.value(row, 0)!, default: [:]][result.value(row, 1)!] = result.value(row, 2)!
                }
                for schema in chunk {
                    let ref = TrackingTableRef(schema: schema, table: table)
                    guard let tableColumns = columns[schema] else {
                        states[ref] = .missing
                        continue
                    }
                    if let format = TrackingSQL.detect(columns: tableColumns) {
                        states[ref] = TrackingState(format: format)
                        found.append((ref, format, Set(tableColumns.keys)))
                    } else {
                        states[ref] = TrackingState(format: nil, unrecognized: true)
                    }
                }
            }
        }
        for batch in found.chunked(into: batchSize) {
            let sql = batch.enumerated().map { TrackingSQL.selectRows($1.0, format: $1.1, columns: $1.2, tag: $0) }
                .joined(separator: "\nUNION ALL\n")
            do {
                collect(try connection.exec(sql), batch: batch, into: &states)
            } catch {
                guard error.kind == .server else { throw error }
                // One unreadable table must not hide the others: read this batch table by table.
                for entry in batch {
                    do {
                        let single = try connection.exec(TrackingSQL.selectRows(entry.0, format: entry.1, columns: entry.2, tag: 0))
                        collect(single, batch: [entry], into: &states)
                    } catch {
                        guard error.kind == .server else { throw error }
                        states[entry.0]!.readError = "cannot read tracking table \(entry.0.schema).\(entry.0.table): \(error.message)"
                    }
                }
            }
        }
        return states
    }

    private static func collect(_ result: PGResult, batch: [(TrackingTableRef, TrackingFormat, Set<String>)], into states: inout [TrackingTableRef: TrackingState]) {
        for row in 0..<result.rowCount {
            guard let tag = result.value(row, 0).flatMap(Int.init), tag < batch.count,
                  let key = result.value(row, 2) else { continue }
            let ref = batch[tag].0
            states[ref]!.rows.append(TrackingState.Row(id: Int(result.value(row, 1) ?? "0") ?? 0, key: key, applied: result.value(row, 3)))
        }
    }

    /// Which of `schemas` exist.
    public static func existingSchemas(_ schemas: [String], on connection: PGConnection) throws -> Set<String> {
        var existing = Set<String>()
        for chunk in schemas.chunked(into: 5000) {
            let result = try connection.exec(TrackingSQL.schemasQuery, [PGArray.literal(chunk)])
            for row in 0..<result.rowCount { existing.insert(result.value(row, 0)!) }
        }
        return existing
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
