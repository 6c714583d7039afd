import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// The report of `tenantplan convert-tracking`.
public struct ConvertReport: Codable, Sendable {
    public var reportVersion = 1
    public var command = "convert-tracking"
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var to: TrackingFormat
    public var from: TrackingFormat?
    public var dryRun: Bool
    public var startedAt: String
    public var durationMs: Int
    public var stopReason: SlidingWindow.StopReason?
    public var summary: Summary
    public var tenants: [Tenant]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        /// Tenants with at least one table converted (or, in a dry run, to convert).
        public var converted = 0
        public var alreadyInTarget = 0
        /// Tenants with no tracking table yet (nothing to convert).
        public var withoutTable = 0
        /// Tenants whose tables are in a format other than --from.
        public var otherFormat = 0
        public var failed = 0
        public var skipped = 0
        public var rowsConverted = 0
    }

    public struct Tenant: Codable, Sendable {
        public enum Status: String, Codable, Sendable {
            case converted, wouldConvert, alreadyInTarget, withoutTable, otherFormat, failed, skipped
        }

        public var id: String
        public var schema: String
        public var status: Status
        public var conversions: [TrackingConverter.Conversion]
        public var error: Report.ErrorInfo?
    }

    public var exitCode: Int32 {
        if stopReason == .interrupted { return 130 }
        return summary.failed > 0 ? 1 : 0
    }
}

/// The report of `tenantplan sync`.
public struct SyncReport: Codable, Sendable {
    public enum Mode: String, Codable, Sendable {
        case status, markMissing, cleanOrphans
    }

    public var reportVersion = 1
    public var command = "sync"
    public var mode: Mode
    public var dryRun: Bool
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var startedAt: String
    public var durationMs: Int
    public var stopReason: SlidingWindow.StopReason?
    public var summary: Summary
    /// Tenants in the same state, listed once (5,000 identical tenants are one group).
    public var groups: [Group]
    public var tenants: [Tenant]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        public var inSync = 0
        public var drifted = 0
        /// Tenants changed (or, in a dry run, to change) by --mark-missing / --clean-orphans.
        public var changed = 0
        public var failed = 0
        public var skipped = 0
        public var missing = 0
        public var orphans = 0
        public var marked = 0
        public var deleted = 0
    }

    /// A recorded row that matches no file, paired with a file that is not recorded.
    public struct Pair: Codable, Sendable, Hashable {
        /// `edited` (hash formats: the file's bytes changed) or `renamed` (name format).
        public var kind: String
        public var migration: String
        public var recorded: String
    }

    public struct Drift: Codable, Sendable, Hashable {
        /// Migrations on disk with no tracking row.
        public var missing: [String]
        /// Recorded names or hashes that match no file on disk (nor a plan `sql` action).
        public var orphans: [String]
        /// Missing migrations and orphans that are likely the same migration, edited or renamed.
        public var likely: [Pair]
    }

    public struct Group: Codable, Sendable {
        public var count: Int
        /// Up to 10 tenant ids of the group.
        public var sample: [String]
        public var drift: Drift
    }

    public struct Tenant: Codable, Sendable {
        public enum Status: String, Codable, Sendable {
            case inSync, drifted, changed, wouldChange, failed, skipped
        }

        public var id: String
        public var schema: String
        public var format: TrackingFormat?
        public var status: Status
        public var drift: Drift
        public var marked: [String]?
        public var deleted: [String]?
        public var error: Report.ErrorInfo?
    }

    /// `--status` exits 0 when every tenant could be read, whatever drift it found.
    public var exitCode: Int32 {
        if stopReason == .interrupted { return 130 }
        return summary.failed > 0 ? 1 : 0
    }
}

extension PlanRunner {
    /// The distinct tracking tables of a tenant's actions, each with the folders' migrations
    /// (what "missing" compares against) and everything a row may match (for orphans).
    /// One tracking table of a tenant, as `sync` and `convert-tracking` see it.
    typealias TenantTable = (ref: TrackingTableRef, tracking: TrackingSettings, folders: [Migration], known: [Migration])

    func tenantTables(_ tenant: Tenant, worker: TenantWorker) -> [TenantTable] {
        var order: [TrackingTableRef] = []
        var byRef: [TrackingTableRef: (TrackingSettings, [Migration])] = [:]
        for action in graph.tenantActions {
            let ref = worker.trackingRef(for: action, tenantSchema: tenant.schema, id: tenant.id)
            if byRef[ref] == nil { order.append(ref); byRef[ref] = (action.tracking, []) }
            if case .sql = action.kind { continue }
            byRef[ref]!.1 += action.recordable
        }
        return order.map { ref in
            (ref, byRef[ref]!.0, byRef[ref]!.1, worker.known(in: ref, shared: false, tenantSchema: tenant.schema, id: tenant.id))
        }
    }

    static func drift(_ state: TrackingState, folders: [Migration], known: [Migration]) -> SyncReport.Drift {
        guard let format = state.format else {
            return SyncReport.Drift(missing: folders.map(\.name), orphans: [], likely: [])
        }
        let missing = state.pending(folders)
        let orphans = state.orphans(known).sorted { $0.id < $1.id }
        var likely: [SyncReport.Pair] = []
        if format == .drizzleKit {
            // drizzle-kit rows hold the journal `when`: an orphan with a missing migration's `when` is that file, edited.
            for row in orphans {
                if let migration = missing.first(where: { $0.when != nil && String($0.when!) == row.applied }) {
                    likely.append(.init(kind: "edited", migration: migration.name, recorded: row.key))
                }
            }
        } else if !missing.isEmpty, !orphans.isEmpty {
            // An edited or renamed file keeps its place: pair an orphan with the missing migration
            // that stands where the orphan's row stands in the applied order.
            let rows = state.rows.sorted { $0.id < $1.id }
            let missingNames = Set(missing.map(\.name))
            for row in orphans {
                guard let position = rows.firstIndex(where: { $0.id == row.id }), position < folders.count,
                      missingNames.contains(folders[position].name) else { continue }
                likely.append(.init(kind: format == .name ? "renamed" : "edited", migration: folders[position].name, recorded: row.key))
            }
        }
        return SyncReport.Drift(missing: missing.map(\.name), orphans: orphans.map(\.key), likely: likely)
    }

    // MARK: - convert-tracking

    /// Converts every tenant's tracking tables to `target` (only those in `source`, when given).
    public func convertTracking(to target: TrackingFormat, from source: TrackingFormat?) async throws -> ConvertReport {
        let conflicting = graph.tenantActions.filter { action in
            if case .fixed(let format) = action.tracking.format { return format != target }
            return false
        }
        if !conflicting.isEmpty {
            throw ConversionTargetConflict(target: target, actions: conflicting.map(\.name), planFormat: conflicting[0].tracking.format.description,
                                           autoMigrate: conflicting[0].tracking.autoMigrateFormat)
        }
        let started = Date()
        let pool = makePool()
        control.attach(pool)
        var report = ConvertReport(plan: .init(path: plan.path, sha256: plan.sha256), database: ConnInfo.Target(), to: target, from: source,
                                   dryRun: options.dryRun, startedAt: Timestamp.iso8601(started), durationMs: 0, summary: .init(), tenants: [])
        do {
            let (tenants, states, target_) = try await discoverAndRead(pool: pool)
            report.database = target_
            let worker = TenantWorker(plan: plan, markLimits: nil, isInterrupted: { [control] in control.isInterrupted })
            var work: [Int] = []
            var entries: [ConvertReport.Tenant] = tenants.map { ConvertReport.Tenant(id: $0.id, schema: $0.schema, status: .alreadyInTarget, conversions: []) }
            for (index, tenant) in tenants.enumerated() {
                if let reason = tenant.invalidReason {
                    entries[index].status = .failed
                    entries[index].error = Report.ErrorInfo(message: reason)
                    continue
                }
                let tables = tenantTables(tenant, worker: worker)
                let formats = tables.compactMap { states[index].tables[$0.ref]?.format }
                if formats.isEmpty { entries[index].status = .withoutTable; continue }
                if let source, !formats.contains(source) { entries[index].status = .otherFormat; continue }
                let conversions = tables.compactMap { table -> TrackingConverter.Conversion? in
                    let state = states[index].tables[table.ref] ?? .missing
                    if let source, state.format != source { return nil }
                    return TrackingConverter.plan(state, table: table.ref, to: target, known: table.known)
                }
                if conversions.isEmpty { continue }
                entries[index].conversions = conversions
                if let unreadable = tables.compactMap({ states[index].tables[$0.ref]?.readError }).first {
                    entries[index].status = .failed
                    entries[index].error = Report.ErrorInfo(message: unreadable)
                } else if let refused = conversions.first(where: { !$0.isPossible }) {
                    entries[index].status = .failed
                    entries[index].error = refused.refusal
                } else if options.dryRun {
                    entries[index].status = .wouldConvert
                } else {
                    work.append(index)
                }
            }
            if !work.isEmpty {
                let plan = self.plan
                let window = await sweep(work, pool: pool, onError: .continue, maxFailures: 0, stopAtOnce: false, operation: { index, connection in
                    Self.convertTenant(tenants[index], to: target, from: source, plan: plan, worker: worker, runner: self, on: connection)
                }, failure: { ([], Report.ErrorInfo($0)) }, succeeded: { $0.error == nil }, started: { _ in }, finished: { index, outcome, _ in
                    entries[index].conversions = outcome.conversions
                    entries[index].status = outcome.error == nil ? (outcome.conversions.isEmpty ? .alreadyInTarget : .converted) : .failed
                    entries[index].error = outcome.error
                })
                for position in window.notStarted { entries[work[position]].status = .skipped }
                report.stopReason = window.stopReason
            }
            report.tenants = entries
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        var summary = ConvertReport.Summary()
        summary.tenants = report.tenants.count
        for entry in report.tenants {
            switch entry.status {
            case .converted, .wouldConvert:
                summary.converted += 1
                summary.rowsConverted += entry.conversions.reduce(0) { $0 + $1.rows.count }
            case .alreadyInTarget: summary.alreadyInTarget += 1
            case .withoutTable: summary.withoutTable += 1
            case .otherFormat: summary.otherFormat += 1
            case .failed: summary.failed += 1
            case .skipped: summary.skipped += 1
            }
        }
        report.summary = summary
        report.durationMs = Int(Date().timeIntervalSince(started) * 1000)
        return report
    }

    /// Under the tenant's advisory lock, reads the tenant's tracking tables again and runs `body`
    /// with them; any error becomes `failed(error)`.
    func underTenantLock<Outcome>(_ tenant: Tenant, worker: TenantWorker, on connection: PGConnection,
                                  failed: (Report.ErrorInfo) -> Outcome,
                                  body: ([TenantTable], [TrackingTableRef: TrackingState]) throws -> Outcome) -> Outcome {
        let lockName = "tenant:" + tenant.schema
        do {
            try AdvisoryLock.acquire(lockName, on: connection)
        } catch {
            return failed(Report.ErrorInfo(error))
        }
        defer { AdvisoryLock.release(lockName, on: connection) }
        do {
            let tables = tenantTables(tenant, worker: worker)
            let states = try TrackingReader.read(tables.map(\.ref), on: connection)
            if let unreadable = states.values.first(where: { $0.readError != nil }) {
                return failed(Report.ErrorInfo(message: unreadable.readError!))
            }
            return try body(tables, states)
        } catch {
            return failed(Report.ErrorInfo(error))
        }
    }

    private static func convertTenant(_ tenant: Tenant, to target: TrackingFormat, from source: TrackingFormat?, plan: Plan,
                                      worker: TenantWorker, runner: PlanRunner, on connection: PGConnection) -> (conversions: [TrackingConverter.Conversion], error: Report.ErrorInfo?) {
        runner.underTenantLock(tenant, worker: worker, on: connection, failed: { ([], $0) }) { tables, states in
            let conversions = tables.compactMap { table -> TrackingConverter.Conversion? in
                let state = states[table.ref] ?? .missing
                if let source, state.format != source { return nil }
                return TrackingConverter.plan(state, table: table.ref, to: target, known: table.known)
            }
            if let refused = conversions.first(where: { !$0.isPossible }) { return (conversions, refused.refusal) }
            if !conversions.isEmpty { try worker.transaction(conversions.map(TrackingConverter.sql).joined(), on: connection) }
            return (conversions, nil)
        }
    }

    // MARK: - sync

    /// Compares every tenant's tracking rows with the files on disk; with `.markMissing` records the
    /// missing ones, with `.cleanOrphans` deletes the orphan rows (one transaction per tenant).
    /// `confirm` is asked (once, before writing) when more than one tenant would change.
    public func sync(_ mode: SyncReport.Mode, confirm: @Sendable (Int) -> Bool = { _ in true }) async throws -> SyncReport {
        let started = Date()
        let pool = makePool()
        control.attach(pool)
        var report = SyncReport(mode: mode, dryRun: options.dryRun, plan: .init(path: plan.path, sha256: plan.sha256), database: ConnInfo.Target(),
                                startedAt: Timestamp.iso8601(started), durationMs: 0, summary: .init(), groups: [], tenants: [])
        do {
            let (tenants, states, target) = try await discoverAndRead(pool: pool)
            report.database = target
            let worker = TenantWorker(plan: plan, markLimits: nil, isInterrupted: { [control] in control.isInterrupted })
            var entries: [SyncReport.Tenant] = []
            var work: [Int] = []
            for (index, tenant) in tenants.enumerated() {
                var entry = SyncReport.Tenant(id: tenant.id, schema: tenant.schema, format: nil, status: .inSync,
                                              drift: .init(missing: [], orphans: [], likely: []))
                if let reason = tenant.invalidReason {
                    entry.status = .failed
                    entry.error = Report.ErrorInfo(message: reason)
                    entries.append(entry)
                    continue
                }
                for table in tenantTables(tenant, worker: worker) {
                    let state = states[index].tables[table.ref] ?? .missing
                    if entry.format == nil { entry.format = state.format }
                    if case .failure(let error) = TenantWorker.format(for: table.tracking, state: state, table: table.ref) {
                        entry.status = .failed
                        entry.error = error
                    }
                    let drift = Self.drift(state, folders: table.folders, known: table.known)
                    entry.drift.missing += drift.missing
                    entry.drift.orphans += drift.orphans
                    entry.drift.likely += drift.likely
                }
                if entry.status != .failed, !entry.drift.missing.isEmpty || !entry.drift.orphans.isEmpty {
                    entry.status = .drifted
                    let changes = (mode == .markMissing && !entry.drift.missing.isEmpty) || (mode == .cleanOrphans && !entry.drift.orphans.isEmpty)
                    if changes {
                        if options.dryRun { entry.status = .wouldChange } else { work.append(index) }
                    }
                }
                entries.append(entry)
            }
            if !work.isEmpty, !confirm(work.count) {
                await pool.close()
                throw SyncNotConfirmed(tenants: work.count)
            }
            if !work.isEmpty {
                let window = await sweep(work, pool: pool, onError: .continue, maxFailures: 0, stopAtOnce: false, operation: { index, connection in
                    Self.syncTenant(tenants[index], mode: mode, worker: worker, runner: self, on: connection)
                }, failure: { ([], [], Report.ErrorInfo($0)) }, succeeded: { $0.error == nil }, started: { _ in }, finished: { index, outcome, _ in
                    entries[index].marked = outcome.marked.isEmpty ? nil : outcome.marked
                    entries[index].deleted = outcome.deleted.isEmpty ? nil : outcome.deleted
                    entries[index].error = outcome.error
                    entries[index].status = outcome.error != nil ? .failed : (outcome.marked.isEmpty && outcome.deleted.isEmpty ? .drifted : .changed)
                })
                for position in window.notStarted { entries[work[position]].status = .skipped }
                report.stopReason = window.stopReason
            }
            report.tenants = entries
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        var summary = SyncReport.Summary()
        summary.tenants = report.tenants.count
        var groups: [SyncReport.Drift: (Int, [String])] = [:]
        var order: [SyncReport.Drift] = []
        for entry in report.tenants {
            switch entry.status {
            case .inSync: summary.inSync += 1
            case .drifted: summary.drifted += 1
            case .changed, .wouldChange: summary.drifted += 1; summary.changed += 1
            case .failed: summary.failed += 1
            case .skipped: summary.skipped += 1
            }
            summary.missing += entry.drift.missing.count
            summary.orphans += entry.drift.orphans.count
            summary.marked += entry.marked?.count ?? 0
            summary.deleted += entry.deleted?.count ?? 0
            guard entry.status != .inSync, entry.status != .failed else { continue }
            if groups[entry.drift] == nil { order.append(entry.drift); groups[entry.drift] = (0, []) }
            groups[entry.drift]!.0 += 1
            if groups[entry.drift]!.1.count < 10 { groups[entry.drift]!.1.append(entry.id) }
        }
        report.groups = order.map { SyncReport.Group(count: groups[$0]!.0, sample: groups[$0]!.1, drift: $0) }
            .sorted { $0.count > $1.count }
        report.summary = summary
        report.durationMs = Int(Date().timeIntervalSince(started) * 1000)
        return report
    }

    private static func syncTenant(_ tenant: Tenant, mode: SyncReport.Mode, worker: TenantWorker, runner: PlanRunner,
                                   on connection: PGConnection) -> (marked: [String], deleted: [String], error: Report.ErrorInfo?) {
        runner.underTenantLock(tenant, worker: worker, on: connection, failed: { ([], [], $0) }) { tables, states in
            var sql = ""
            var marked: [String] = [], deleted: [String] = []
            for table in tables {
                let state = states[table.ref] ?? .missing
                guard case .success(let resolved) = TenantWorker.format(for: table.tracking, state: state, table: table.ref) else { continue }
                // Rows go in the table's own layout (sync never converts; apply's autoMigrateFormat does).
                let format = state.format ?? resolved
                switch mode {
                case .markMissing:
                    let missing = state.pending(table.folders)
                    guard !missing.isEmpty else { continue }
                    if !state.exists {
                        let existing = try TrackingReader.existingSchemas([tenant.schema, table.ref.schema], on: connection)
                        guard existing.contains(tenant.schema) || runner.plan.tenants.createSchemas else {
                            throw PostgresError(kind: .client, message: "schema \(tenant.schema) does not exist; nothing was marked (set tenants.createSchemas: true to create it)")
                        }
                        sql += "CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(tenant.schema));CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(table.ref.schema));"
                        sql += TrackingSQL.createTable(table.ref, format: format) + ";"
                    }
                    sql += missing.map { TrackingSQL.record($0, in: table.ref, format: format) + ";" }.joined()
                    marked += missing.map(\.name)
                case .cleanOrphans:
                    let orphans = state.orphans(table.known)
                    guard !orphans.isEmpty else { continue }
                    sql += TrackingSQL.deleteRows(withKeys: orphans.map(\.key), in: table.ref, format: format)
                    deleted += orphans.map(\.key)
                case .status:
                    break
                }
            }
            if !sql.isEmpty { try worker.transaction(sql, on: connection) }
            return (marked, deleted, nil)
        }
    }
}

/// `convert-tracking --to F` while the plan pins another format: every later run would fail (exit 2).
public struct ConversionTargetConflict: Error, CustomStringConvertible, Sendable {
    public var target: TrackingFormat
    public var actions: [String]
    public var planFormat: String
    public var autoMigrate: Bool
    public var description: String {
        let consequence = autoMigrate ? "so the next apply would convert the tables back (autoMigrateFormat)" : "so every later run would refuse the converted tables"
        return "--to \(target.rawValue): the plan's tracking.format for \(actions.joined(separator: ", ")) is \(planFormat), \(consequence); set tracking.format to \(target.rawValue) (or auto-detect) in the plan first"
    }
}

/// `sync --mark-missing/--clean-orphans` would change several tenants and was not confirmed (exit 2).
public struct SyncNotConfirmed: Error, CustomStringConvertible, Sendable {
    public var tenants: Int
    public var description: String {
        "sync would change \(tenants) tenants; run it again with --yes to confirm (or --dry-run to see the changes)"
    }
}
