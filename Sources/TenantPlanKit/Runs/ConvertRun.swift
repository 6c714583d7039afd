import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `convert-tracking`: every tenant's tracking tables rewritten in `target` (only those found in
/// `source`, when given), one transaction per tenant under its lock.
struct ConvertRun {
    let session: RunSession
    let target: TrackingFormat
    let source: TrackingFormat?
    let dryRun: Bool

    /// Refuses a target the plan contradicts: every later run would fail or convert back.
    static func checkTarget(_ target: TrackingFormat, graph: ExecutionGraph) throws(TenantPlanError) {
        let conflicting = graph.tenantActions.filter { action in
            if case .fixed(let format) = action.tracking.format { return format != target }
            return false
        }
        guard let first = conflicting.first else { return }
        throw .conversionTargetConflict(
            target: target, actions: conflicting.map(\.name), planFormat: first.tracking.format.description,
            autoMigrate: first.tracking.autoMigrateFormat)
    }

    func run() async throws -> ConvertReport {
        try await session.closing { try await convert() }
    }

    private func convert() async throws -> ConvertReport {
        let started = Date()
        let plan = session.plan
        let snapshot = try await session.snapshot()
        var report = ConvertReport(
            plan: .init(path: plan.path, sha256: plan.sha256), database: snapshot.target, to: target, from: source,
            dryRun: dryRun, startedAt: Timestamp.iso8601(started), durationMs: 0, summary: .init(), tenants: [])
        var work: [Int] = []
        for (index, tenant) in snapshot.tenants.enumerated() {
            report.tenants.append(entry(tenant, tables: snapshot.tables[index], states: snapshot.states[index].tables))
            if report.tenants[index].status == .wouldConvert, !dryRun { work.append(index) }
        }
        if !work.isEmpty { report.stopReason = await write(work, snapshot: snapshot, into: &report) }
        report.summarize()
        report.durationMs = Int(Date().timeIntervalSince(started) * 1000)
        return report
    }

    /// A tenant as the batched read shows it; `wouldConvert` when it has a table to convert.
    private func entry(
        _ tenant: Tenant, tables: TenantTables, states: [TrackingTableRef: TrackingState]
    ) -> ConvertReport.Tenant {
        var entry = ConvertReport.Tenant(
            id: tenant.id, schema: tenant.schema, status: .alreadyInTarget, conversions: [])
        if let reason = tenant.invalidReason {
            entry.status = .failed
            entry.error = Report.ErrorInfo(message: reason)
            return entry
        }
        let formats = tables.refs.compactMap { states[$0]?.format }
        if formats.isEmpty {
            entry.status = .withoutTable
            return entry
        }
        if let source, !formats.contains(source) {
            entry.status = .otherFormat
            return entry
        }
        entry.conversions = MaintenanceSteps.conversions(tables, states: states, to: target, from: source)
        guard !entry.conversions.isEmpty else { return entry }
        if let unreadable = tables.refs.compactMap({ states[$0]?.readError }).first {
            entry.status = .failed
            entry.error = Report.ErrorInfo(message: unreadable)
        } else if let refused = entry.conversions.first(where: { !$0.isPossible }) {
            entry.status = .failed
            entry.error = refused.refusal
        } else {
            entry.status = .wouldConvert
        }
        return entry
    }

    private func write(_ work: [Int], snapshot: Snapshot, into report: inout ConvertReport) async
        -> SlidingWindow.StopReason?
    {
        let sweep = Sweep(pool: session.pool, control: session.control, onError: .continue, maxFailures: 0)
        let (target, source) = (self.target, self.source)
        let (lockWait, pooling) = (session.plan.database.lockWait, session.pooling)
        return await sweep.runWrites(
            work,
            operation: { index, connection in
                Self.convertTenant(
                    snapshot.tenants[index], tables: snapshot.tables[index], to: target, from: source,
                    lockWait: lockWait, pooling: pooling, on: connection)
            },
            record: { report.tenants[$0].record($1) }, skipped: { report.tenants[$0].status = .skipped })
    }

    /// Under the tenant's lock: reads its tables again and converts them in one transaction.
    private static func convertTenant(
        _ tenant: Tenant, tables: TenantTables, to target: TrackingFormat, from source: TrackingFormat?,
        lockWait: PlanDuration, pooling: TenantExecutor.Pooling?, on connection: PGConnection
    ) -> Result<[TrackingConverter.Conversion], Report.ErrorInfo> {
        let pooled = pooling?.transaction(locking: "tenant:" + tenant.schema, wait: lockWait)
        return TenantExecutor.underLock(
            "tenant:" + tenant.schema, schema: tenant.schema, refs: tables.refs, wait: lockWait, pooled: pooled,
            on: connection
        ) {
            _, states in
            if let unreadable = states.values.first(where: { $0.readError != nil }) {
                throw Report.ErrorInfo(message: unreadable.readError!)
            }
            let conversions = MaintenanceSteps.conversions(tables, states: states, to: target, from: source)
            if let refused = conversions.first(where: { !$0.isPossible }) { throw refused.refusal }
            if !conversions.isEmpty {
                try TenantExecutor.transaction(
                    TrackingConverter.sql(conversions, checked: pooled != nil), pooled: pooled, on: connection)
            }
            return conversions
        }
    }
}

extension ConvertReport.Tenant {
    /// What converting the tenant did.
    mutating func record(_ outcome: Result<[TrackingConverter.Conversion], Report.ErrorInfo>) {
        switch outcome {
        case .failure(let error):
            self.error = error
            status = .failed
        case .success(let conversions):
            self.conversions = conversions
            status = conversions.isEmpty ? .alreadyInTarget : .converted
        }
    }
}
