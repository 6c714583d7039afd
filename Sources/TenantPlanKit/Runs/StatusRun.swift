import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `status`: every tenant's tracking tables (the batched read) compared with the files on disk.
struct StatusRun {
    let session: RunSession

    func run() async throws -> StatusReport {
        try await session.closing { try await read() }
    }

    private func read() async throws -> StatusReport {
        try await report(try await session.snapshot())
    }

    /// The status of `snapshot`'s tenants, and the shared actions' (read on one connection).
    func report(_ snapshot: Snapshot) async throws -> StatusReport {
        let plan = session.plan
        var report = StatusReport(
            plan: .init(path: plan.path, sha256: plan.sha256), database: snapshot.target,
            generatedAt: Timestamp.iso8601(Date()), summary: .init(), sharedActions: [], tenants: [])
        let scripts = plan.actions.compactMap { action -> Migration? in
            if case .sql(let script) = action.kind { return script }
            return nil
        }
        for (index, tenant) in snapshot.tenants.enumerated() {
            guard tenant.invalidReason == nil else {
                report.tenants.append(
                    StatusReport.Entry(
                        id: tenant.id, schema: tenant.schema, schemaExists: false, format: nil, applied: 0, pending: [],
                        orphaned: [], error: tenant.invalidReason))
                continue
            }
            let state = snapshot.states[index]
            var entry = StatusReport.Entry(
                id: tenant.id, schema: tenant.schema, schemaExists: state.schemaExists, tables: snapshot.tables[index],
                only: nil, states: state.tables, scripts: scripts)
            entry.error =
                entry.error ?? applyRefusal(tenant, state: state, tables: snapshot.tables[index], entry: entry)
            report.tenants.append(entry)
        }
        report.sharedActions = try await sharedEntries(scripts: scripts)
        report.summarize()
        return report
    }

    /// Why `apply` would fail the tenant before running anything, so that `status` says it too:
    /// a missing schema it may not create, or a schema holding objects but no tracking table.
    private func applyRefusal(_ tenant: Tenant, state: TenantState, tables: TenantTables, entry: StatusReport.Entry)
        -> String?
    {
        if !state.schemaExists, !session.plan.tenants.createSchemas {
            return "schema \(tenant.schema) does not exist (set tenants.createSchemas: true, or create it)"
        }
        guard state.populated, !entry.pending.isEmpty, let first = tables.refs.first,
            tables.refs.allSatisfy({ state.tables[$0]?.exists != true })
        else { return nil }
        let refusal = StepPlanner.adoptionRefusal(.tenant(tenant, plan: session.plan), table: first, migration: nil)
        return refusal.message
    }

    /// One entry per shared action, read on one connection.
    private func sharedEntries(scripts: [Migration]) async throws -> [StatusReport.Entry] {
        let graph = session.graph
        let shared = graph.sharedActions
        guard !shared.isEmpty else { return [] }
        let tables = shared.map { TenantTables(shared: $0, graph: graph) }
        let refs = tables.flatMap(\.refs)
        let schemas = shared.map { $0.sharedSchema ?? "public" }
        let (states, found) = try await session.withConnection { connection in
            (try TrackingReader.read(refs, on: connection), try TrackingReader.existingSchemas(schemas, on: connection))
        }
        let existing = Set(found.keys)
        return zip(shared, tables).map { action, table in
            let schema = action.sharedSchema ?? "public"
            return StatusReport.Entry(
                id: action.name, schema: schema, schemaExists: existing.contains(schema), tables: table,
                only: action, states: states, scripts: scripts)
        }
    }
}

extension StatusReport.Entry {
    /// A tenant's (or, with `only`, one shared action's) entry: per table, the migrations not
    /// recorded, the rows matching no file (`scripts`: every `sql` action's script, never an
    /// orphan), and the most recent row.
    init(
        id: String, schema: String, schemaExists: Bool, tables: TenantTables, only action: Action?,
        states: [TrackingTableRef: TrackingState], scripts: [Migration]
    ) {
        self.init(
            id: id, schema: schema, schemaExists: schemaExists, format: nil, applied: 0, pending: [], orphaned: [])
        var last: TrackingState.Row?
        for table in tables.tables {
            let state = states[table.ref] ?? .missing
            if case .failure(let error) = FormatResolution.resolve(table.tracking, state: state, table: table.ref) {
                self.error = error.message
            }
            if format == nil { format = state.format }
            pending += state.pending(action?.migrations ?? table.known).map(\.name)
            let orphans = state.orphans(table.known + scripts)
            applied += state.rows.count - orphans.count
            orphaned += orphans.map(\.key)
            let edits = HistoryCheck.edited(
                state, folders: table.folders, known: table.known, folderCount: table.folderSets.count
            ).map(\.migration)
            if !edits.isEmpty { edited = (edited ?? []) + edits }
            if let row = state.last, last == nil || row.id > last!.id { last = row }
        }
        if let last, let format {
            let migrations = tables.tables.flatMap(\.known)
            lastApplied = format.usesHash ? (migrations.first { $0.hash == last.key }?.name ?? last.key) : last.key
            lastAppliedAt = last.applied
        }
    }
}

extension StatusReport {
    /// Fills `summary` from the entries.
    mutating func summarize() {
        var summary = Summary()
        summary.tenants = tenants.count
        summary.errors = sharedActions.filter { $0.error != nil }.count
        for entry in tenants {
            if entry.error != nil { summary.errors += 1 }
            if !entry.schemaExists { summary.missingSchema += 1 }
            if !entry.pending.isEmpty { summary.withPending += 1 }
            if !entry.orphaned.isEmpty { summary.withOrphans += 1 }
            if entry.edited?.isEmpty == false { summary.withEdited += 1 }
            if entry.error == nil && entry.schemaExists && entry.pending.isEmpty { summary.upToDate += 1 }
            summary.pendingMigrations += entry.pending.count
        }
        self.summary = summary
    }
}
