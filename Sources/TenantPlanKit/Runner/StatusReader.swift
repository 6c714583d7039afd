import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `tenantplan status`: per tenant, what is applied, pending and orphaned.
public struct StatusReport: Codable, Sendable {
    public var reportVersion = 1
    public var command = "status"
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var generatedAt: String
    public var summary: Summary
    public var sharedActions: [Entry]
    public var tenants: [Entry]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        public var upToDate = 0
        public var withPending = 0
        public var missingSchema = 0
        public var withOrphans = 0
        public var errors = 0
        public var pendingMigrations = 0
    }

    /// One tenant (or shared action).
    public struct Entry: Codable, Sendable {
        public var id: String
        public var schema: String
        public var schemaExists: Bool
        /// Format found (nil: no tracking table yet).
        public var format: TrackingFormat?
        public var applied: Int
        public var pending: [String]
        /// Recorded names or hashes that match no file on disk.
        public var orphaned: [String]
        /// The most recent tracking row: its name (or hash) and time.
        public var lastApplied: String?
        public var lastAppliedAt: String?
        public var error: String?
    }
}

extension PlanRunner {
    /// Reads every tenant's tracking tables (batched) and compares them with the files on disk.
    public func status() async throws -> StatusReport {
        let pool = makePool()
        control.attach(pool)
        defer { Task { await pool.close() } }
        let (tenants, states, target) = try await discoverAndRead(pool: pool)
        var report = StatusReport(plan: .init(path: plan.path, sha256: plan.sha256), database: target,
                                  generatedAt: Timestamp.iso8601(Date()), summary: .init(), sharedActions: [], tenants: [])
        let actions = graph.tenantActions
        let scriptKeys = plan.actions.compactMap { action -> Migration? in
            if case .sql(let script) = action.kind { return script }
            return nil
        }
        for (index, tenant) in tenants.enumerated() {
            var entry = StatusReport.Entry(id: tenant.id, schema: tenant.schema, schemaExists: states[index].schemaExists,
                                           format: nil, applied: 0, pending: [], orphaned: [], error: tenant.invalidReason)
            if tenant.invalidReason == nil {
                fill(&entry, actions: actions, tables: states[index].tables, tenantSchema: tenant.schema, id: tenant.id, scripts: scriptKeys)
            }
            report.tenants.append(entry)
        }
        // Shared actions.
        let shared = graph.sharedActions
        if !shared.isEmpty {
            let refs = shared.map { TrackingTableRef(schema: $0.tracking.tableSchema(forTenantSchema: $0.sharedSchema ?? "public", id: ""), table: $0.tracking.table) }
            let session = try await pool.acquire()
            let (tables, existing) = try await session.run { connection in
                (try TrackingReader.read(refs, on: connection), try TrackingReader.existingSchemas(shared.map { $0.sharedSchema ?? "public" }, on: connection))
            }
            await pool.release(session, countsAsTenant: false)
            for action in shared {
                let schema = action.sharedSchema ?? "public"
                var entry = StatusReport.Entry(id: action.name, schema: schema, schemaExists: existing.contains(schema),
                                               format: nil, applied: 0, pending: [], orphaned: [])
                fill(&entry, actions: [action], tables: tables, tenantSchema: schema, id: "", scripts: scriptKeys)
                report.sharedActions.append(entry)
            }
        }
        var summary = StatusReport.Summary()
        summary.tenants = report.tenants.count
        summary.errors = report.sharedActions.filter { $0.error != nil }.count
        for entry in report.tenants {
            if entry.error != nil { summary.errors += 1 }
            if !entry.schemaExists { summary.missingSchema += 1 }
            if !entry.pending.isEmpty { summary.withPending += 1 }
            if !entry.orphaned.isEmpty { summary.withOrphans += 1 }
            if entry.error == nil && entry.schemaExists && entry.pending.isEmpty { summary.upToDate += 1 }
            summary.pendingMigrations += entry.pending.count
        }
        report.summary = summary
        return report
    }

    private func fill(_ entry: inout StatusReport.Entry, actions: [Action], tables: [TrackingTableRef: TrackingState],
                      tenantSchema: String, id: String, scripts: [Migration]) {
        // Actions sharing one table are compared together, so one action's rows are not another's orphans.
        var byTable: [TrackingTableRef: [Action]] = [:]
        var order: [TrackingTableRef] = []
        for action in actions {
            let ref = TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: tenantSchema, id: id), table: action.tracking.table)
            if byTable[ref] == nil { order.append(ref) }
            byTable[ref, default: []].append(action)
        }
        var last: TrackingState.Row?
        for ref in order {
            let state = tables[ref] ?? .missing
            let group = byTable[ref]!
            if case .failure(let error) = TenantWorker.format(for: group[0].tracking, state: state, table: ref) {
                entry.error = error.message
            }
            if entry.format == nil { entry.format = state.format }
            let migrations = group.flatMap(\.migrations)
            entry.pending += state.pending(migrations).map(\.name)
            entry.applied += state.rows.count - state.orphans(migrations + scripts).count
            entry.orphaned += state.orphans(migrations + scripts).map(\.key)
            if let row = state.last, last == nil || row.id > last!.id { last = row }
        }
        if let last, let format = entry.format {
            let migrations = actions.flatMap(\.migrations)
            entry.lastApplied = format.usesHash ? (migrations.first { $0.hash == last.key }?.name ?? last.key) : last.key
            entry.lastAppliedAt = last.applied
        }
    }
}
