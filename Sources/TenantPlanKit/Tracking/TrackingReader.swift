import TenantPlanPostgres
import TenantPlanSpec

/// Reads tracking tables for many schemas with a few queries: one catalog query per table
/// name, then one UNION ALL query per batch of tables.
public enum TrackingReader {
    public static let batchSize = 250

    /// Reads the state of each table in `refs` (all with the same table name or not). `writers`:
    /// also keep each row's writing transaction (`TrackingState.writers`; the locked re-read of a
    /// tenant needs it, the batched read of every tenant does not). `skipRows`: tables (by format
    /// and `layout`) whose rows are not read; their states are left `speculative`, without rows.
    public static func read(
        _ refs: [TrackingTableRef], writers: Bool = false,
        skipRows: ((TrackingTableRef, TrackingFormat, String) -> Bool)? = nil,
        on connection: PGConnection
    ) throws -> [TrackingTableRef: TrackingState] {
        var (states, found) = try findTables(refs, on: connection)
        if let skipRows {
            found.removeAll { ref, format, columns in
                guard skipRows(ref, format, states[ref]?.layout ?? "") else { return false }
                states[ref]?.speculative = true
                return true
            }
        }
        // Per table, the count and sum of its rows' writers (for its stamp).
        var writersRead: [TrackingTableRef: (count: Int, sum: Int)] = [:]
        for batch in found.chunked(into: batchSize) {
            let sql = batch.enumerated().map { TrackingSQL.selectRows($1.0, format: $1.1, columns: $1.2, tag: $0) }
                .joined(separator: "\nUNION ALL\n")
            do {
                collect(
                    try query(sql, on: connection), batch: batch, writers: writers, into: &states, stamps: &writersRead)
            } catch {
                guard error.kind == .server else { throw error }
                // One unreadable table must not hide the others: read this batch table by table.
                for entry in batch {
                    do {
                        let single = try query(
                            TrackingSQL.selectRows(entry.0, format: entry.1, columns: entry.2, tag: 0), on: connection)
                        collect(single, batch: [entry], writers: writers, into: &states, stamps: &writersRead)
                    } catch {
                        guard error.kind == .server else { throw error }
                        states[entry.0]!.readError =
                            "cannot read tracking table \(entry.0.schema).\(entry.0.table): \(error.message)"
                            + (error.sqlstate == "42501"
                                ? " (this role needs USAGE on schema \(entry.0.schema) and SELECT on the table, or "
                                    + "pg_read_all_data: see docs/pull-requests.md)" : "")
                    }
                }
            }
        }
        for (ref, _, _) in found where states[ref]?.readError == nil {
            if let version = states[ref]?.version {
                let (count, sum) = writersRead[ref] ?? (0, 0)
                states[ref]?.stamp = TrackingSQL.stamp(table: version, count: count, sum: sum)
            }
        }
        return states
    }

    /// Which tables of `refs` exist, each with its format and columns (the rest missing or
    /// unrecognised); a found table's state holds its catalog row version and layout.
    private static func findTables(_ refs: [TrackingTableRef], on connection: PGConnection) throws -> (
        states: [TrackingTableRef: TrackingState], found: [(TrackingTableRef, TrackingFormat, Set<String>)]
    ) {
        var states: [TrackingTableRef: TrackingState] = [:]
        var found: [(TrackingTableRef, TrackingFormat, Set<String>)] = []
        for (table, tableRefs) in Dictionary(grouping: Set(refs), by: \.table) {
            for chunk in tableRefs.map(\.schema).chunked(into: 5000) {
                let result = try connection.exec(TrackingSQL.columnsQuery, [table, PGArray.literal(chunk)])
                var columns: [String: [String: String]] = [:]
                var versions: [String: String] = [:]
                for row in 0..<result.rowCount {
                    columns[result.value(row, 0)!, default: [:]][result.value(row, 1)!] = result.value(row, 2)!
                    versions[result.value(row, 0)!] = result.value(row, 3)
                }
                for schema in chunk {
                    let ref = TrackingTableRef(schema: schema, table: table)
                    guard let tableColumns = columns[schema] else {
                        states[ref] = .missing
                        continue
                    }
                    guard let format = TrackingSQL.detect(columns: tableColumns) else {
                        states[ref] = TrackingState(format: nil, unrecognized: true)
                        continue
                    }
                    states[ref] = TrackingState(format: format)
                    states[ref]?.lacksTimeColumn = tableColumns[TrackingSQL.columns(of: format).time] == nil
                    states[ref]?.version = versions[schema]
                    states[ref]?.layout = tableColumns.keys.sorted().joined(separator: ",")
                    found.append((ref, format, Set(tableColumns.keys)))
                }
            }
        }
        return (states, found)
    }

    /// Runs `sql`; inside a transaction (a transaction pooler's locked read), under a savepoint,
    /// so that an unreadable table leaves the transaction usable for the others.
    private static func query(_ sql: String, on connection: PGConnection) throws(PostgresError) -> PGResult {
        guard connection.inTransaction else { return try connection.exec(sql) }
        let outcome = connection.execAll("SAVEPOINT tenantplan_read;" + sql)
        if let error = outcome.error {
            _ = connection.execAll("ROLLBACK TO SAVEPOINT tenantplan_read")
            throw error
        }
        return outcome.results.last!
    }

    private static func collect(
        _ result: PGResult, batch: [(TrackingTableRef, TrackingFormat, Set<String>)], writers: Bool,
        into states: inout [TrackingTableRef: TrackingState], stamps: inout [TrackingTableRef: (count: Int, sum: Int)]
    ) {
        // Each table's rows in an array of their exact size (thousands of tables).
        var counts = [Int](repeating: 0, count: batch.count)
        for row in 0..<result.rowCount {
            if let tag = result.value(row, 0).flatMap(Int.init), tag < batch.count { counts[tag] += 1 }
        }
        for (tag, count) in counts.enumerated() where count > 0 {
            states[batch[tag].0]!.rows.reserveCapacity(count)
        }
        for row in 0..<result.rowCount {
            guard let tag = result.value(row, 0).flatMap(Int.init), tag < batch.count else { continue }
            let ref = batch[tag].0
            if let writer = result.value(row, 5).flatMap(Int.init) {
                stamps[ref, default: (0, 0)].count += 1
                stamps[ref, default: (0, 0)].sum += writer
            }
            guard let key = result.value(row, 2) else { continue }
            if writers, let writer = result.value(row, 5) { states[ref]!.writers[key] = writer }
            states[ref]!.rows.append(
                TrackingState.Row(
                    id: Int(result.value(row, 1) ?? "0") ?? 0, key: key, applied: result.value(row, 3),
                    checksum: result.value(row, 4)))
        }
    }

    /// Which of `schemas` exist, each with whether it holds any object.
    public static func existingSchemas(_ schemas: [String], on connection: PGConnection) throws -> [String: Bool] {
        var existing: [String: Bool] = [:]
        for chunk in schemas.chunked(into: 5000) {
            let result = try connection.exec(TrackingSQL.schemasQuery, [PGArray.literal(chunk)])
            for row in 0..<result.rowCount { existing[result.value(row, 0)!] = result.value(row, 1) == "t" }
        }
        return existing
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
