import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `drift`: the batched tracking read for each tenant's applied state, then one catalog query per
/// chunk of schemas (in parallel over the pool), then `DriftAnalysis`. Read only.
struct DriftRun {
    let session: RunSession

    /// Schemas per catalog query.
    static let chunkSize = 500

    func run() async throws -> DriftReport {
        try await session.closing { try await read() }
    }

    private func read() async throws -> DriftReport {
        let plan = session.plan
        let snapshot = try await session.snapshot()
        let compared = snapshot.validIndices.filter { snapshot.states[$0].schemaExists }
        let trackingTables = Array(Set(snapshot.tables.flatMap { $0.refs.map(\.table) })).sorted()
        let catalogs = try await catalog(
            compared.map { snapshot.tenants[$0].schema }, excluding: trackingTables)
        var names: [String: String] = [:]  // a recorded hash -> its migration's name
        for migration in plan.actions.flatMap(\.migrations) { names[migration.hash] = migration.name }
        let inputs = compared.map { index in
            let (key, words) = Self.state(snapshot.states[index].tables, names: names)
            return DriftAnalysis.Input(
                id: snapshot.tenants[index].id, stateKey: key, stateWords: words,
                objects: catalogs[snapshot.tenants[index].schema] ?? [:])
        }
        let states = DriftAnalysis.states(inputs)
        var summary = DriftReport.Summary()
        summary.tenants = snapshot.tenants.count
        summary.compared = inputs.count
        summary.states = states.count
        summary.drifted = states.flatMap(\.variants).filter { !$0.reference }.reduce(0) { $0 + $1.tenants.count }
        return DriftReport(
            plan: .init(path: plan.path, sha256: plan.sha256), database: snapshot.target, summary: summary,
            states: states)
    }

    /// A tenant's applied state: every recorded key of its tracking tables (the key), and in words.
    /// `names` turns a recorded hash into its migration's name.
    static func state(_ tables: [TrackingTableRef: TrackingState], names: [String: String]) -> (
        key: String, words: String
    ) {
        // By migration name, whatever format records it: a tenant in the hash format and one in the
        // name format with the same migrations are at the same state.
        let keys = tables.keys.sorted { $0.table < $1.table }.flatMap { ref in
            (tables[ref]?.rows.map { names[$0.key] ?? $0.key } ?? []).sorted().map { "\(ref.table)/\($0)" }
        }
        let applied = tables.values.flatMap { $0.rows.map { names[$0.key] ?? $0.key } }.sorted()
        let words = applied.isEmpty ? "nothing applied" : "\(applied.count) applied, latest \(applied.last!)"
        return (keys.joined(separator: "\n"), words)
    }

    /// The catalogs of `schemas`, a chunk per pooled connection at a time.
    private func catalog(_ schemas: [String], excluding tables: [String]) async throws -> [String: [String: String]] {
        let found = try await session.onPool(schemas.chunked(into: Self.chunkSize)) { chunk, connection in
            try SchemaCatalog.read(chunk, excluding: tables, on: connection)
        }
        return found.reduce(into: [:]) { catalogs, chunk in catalogs.merge(chunk) { first, _ in first } }
    }
}
