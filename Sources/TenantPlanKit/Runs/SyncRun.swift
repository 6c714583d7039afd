import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `sync`: every tenant's tracking rows compared with the files on disk; with `.markMissing`
/// the missing ones recorded, with `.cleanOrphans` the orphan rows deleted (one transaction per
/// tenant, under its lock).
struct SyncRun {
    let session: RunSession
    let mode: SyncReport.Mode
    let scope: MarkScope
    let accept: EditScope
    let dryRun: Bool
    /// Asked with the number of tenants that would change; false refuses (exit 2).
    let confirm: (Int) -> Bool

    func run() async throws -> SyncReport {
        try await session.closing { try await sync() }
    }

    private func sync() async throws -> SyncReport {
        let started = Date()
        let plan = session.plan
        let snapshot = try await session.snapshot()
        var report = SyncReport(
            mode: mode, dryRun: dryRun, plan: .init(path: plan.path, sha256: plan.sha256), database: snapshot.target,
            startedAt: Timestamp.iso8601(started), durationMs: 0, summary: .init(), groups: [], tenants: [])
        var work: [Int] = []
        for (index, tenant) in snapshot.tenants.enumerated() {
            report.tenants.append(entry(tenant, tables: snapshot.tables[index], states: snapshot.states[index].tables))
            if report.tenants[index].status == .wouldChange, !dryRun { work.append(index) }
        }
        if !work.isEmpty, !confirm(work.count) { throw TenantPlanError.notConfirmed(tenants: work.count) }
        if !work.isEmpty { report.stopReason = await write(work, snapshot: snapshot, into: &report) }
        report.summarize()
        report.durationMs = Int(Date().timeIntervalSince(started) * 1000)
        return report
    }

    /// A tenant as the batched read shows it; `wouldChange` when this mode writes to it.
    private func entry(
        _ tenant: Tenant, tables: TenantTables, states: [TrackingTableRef: TrackingState]
    ) -> SyncReport.Tenant {
        var entry = SyncReport.Tenant(
            id: tenant.id, schema: tenant.schema, format: nil, status: .inSync, drift: Drift())
        if let reason = tenant.invalidReason {
            entry.status = .failed
            entry.error = Report.ErrorInfo(message: reason)
            return entry
        }
        let found = MaintenanceSteps.inspect(tables, states: states)
        entry.format = found.format
        entry.drift = found.drift
        if let error = found.error {
            entry.status = .failed
            entry.error = error
        } else if !entry.drift.isEmpty {
            let writes = !MaintenanceSteps.syncChanges(
                mode, scope: scope, accept: accept, tables: tables, states: states
            ).isEmpty
            entry.status = writes ? .wouldChange : .drifted
        }
        return entry
    }

    /// Writes the changes of the tenants at `work`.
    private func write(_ work: [Int], snapshot: Snapshot, into report: inout SyncReport) async
        -> SlidingWindow.StopReason?
    {
        let sweep = Sweep(pool: session.pool, control: session.control, onError: .continue, maxFailures: 0)
        let (mode, scope, accept) = (self.mode, self.scope, self.accept)
        let (lockWait, pooling) = (session.plan.database.lockWait, session.pooling)
        return await sweep.runWrites(
            work,
            operation: { index, connection in
                Self.syncTenant(
                    snapshot.tenants[index], tables: snapshot.tables[index], mode: mode, scope: scope, accept: accept,
                    lockWait: lockWait, pooling: pooling, on: connection)
            },
            record: { report.tenants[$0].record($1) }, skipped: { report.tenants[$0].status = .skipped })
    }

    /// Under the tenant's lock: reads its tables again and writes the changes in one transaction.
    private static func syncTenant(
        _ tenant: Tenant, tables: TenantTables, mode: SyncReport.Mode, scope: MarkScope, accept: EditScope,
        lockWait: PlanDuration, pooling: TenantExecutor.Pooling?, on connection: PGConnection
    ) -> Result<[TableChange], Report.ErrorInfo> {
        let pooled = pooling?.transaction(locking: "tenant:" + tenant.schema, wait: lockWait)
        return TenantExecutor.underLock(
            "tenant:" + tenant.schema, schema: tenant.schema, refs: tables.refs, wait: lockWait, pooled: pooled,
            on: connection
        ) {
            existing, states in
            if let unreadable = states.values.first(where: { $0.readError != nil }) {
                throw Report.ErrorInfo(message: unreadable.readError!)
            }
            let changes = MaintenanceSteps.syncChanges(
                mode, scope: scope, accept: accept, tables: tables, states: states)
            var sql = ""
            if changes.contains(where: { !$0.mark.isEmpty }), existing[tenant.schema] == nil {
                // Recording migrations as applied in a schema that does not exist would claim what never ran.
                throw Report.ErrorInfo(
                    message: "schema \(tenant.schema) does not exist; nothing was marked",
                    hint: "--mark-missing records what a schema already has; `tenantplan apply` creates and migrates "
                        + "a new one")
            }
            if changes.contains(where: \.createTable) {
                let schemas = Set(changes.map(\.table.schema)).subtracting(existing.keys)
                sql += schemas.sorted().map { "CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier($0));" }.joined()
            }
            sql += changes.map { $0.recordSQL(checked: pooled != nil) }.joined()
            if !sql.isEmpty { try TenantExecutor.transaction(sql, pooled: pooled, on: connection) }
            return changes
        }
    }
}

extension SyncReport.Tenant {
    /// What writing to the tenant did.
    mutating func record(_ outcome: Result<[TableChange], Report.ErrorInfo>) {
        switch outcome {
        case .failure(let error):
            self.error = error
            status = .failed
        case .success(let changes):
            let marked = changes.flatMap(\.mark).map(\.name)
            let deleted = changes.flatMap(\.deleteOrphans).map(\.key)
            let accepted = changes.flatMap(\.acceptEdits).map(\.migration)
            self.marked = marked.isEmpty ? nil : marked
            self.deleted = deleted.isEmpty ? nil : deleted
            self.accepted = accepted.isEmpty ? nil : accepted
            status = changes.isEmpty ? .drifted : .changed
        }
    }
}
