import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// Advisory-lock keys: one per tenant schema, one per shared action's table.
enum AdvisoryLock {
    /// First key of every tenantplan lock ("tpln").
    static let namespace: Int32 = 0x7470_6C6E

    static func acquire(_ name: String, on connection: PGConnection) throws {
        // Waiting for another tenantplan must not trip lock_timeout: lift it around the wait.
        try connection.exec("SET lock_timeout = 0;SELECT pg_advisory_lock(\(namespace), hashtext(\(SQL.quoteLiteral(name))));RESET lock_timeout;")
    }

    static func release(_ name: String, on connection: PGConnection) {
        _ = connection.execAll("SELECT pg_advisory_unlock(\(namespace), hashtext(\(SQL.quoteLiteral(name))))")
    }
}

/// Runs a group of actions for one tenant (or one shared action) on one connection, under
/// the advisory lock, re-reading the tracking rows after locking. Blocking; runs on the
/// session's own thread.
struct TenantWorker {
    var plan: Plan
    var isInterrupted: @Sendable () -> Bool

    struct Outcome {
        var actions: [Report.ActionResult] = []
        var createdSchema = false
        var format: TrackingFormat?
        var error: Report.ErrorInfo?
        var failed: Bool { error != nil || actions.contains { $0.status == .failed } }
    }

    func trackingRef(for action: Action, tenantSchema: String, id: String) -> TrackingTableRef {
        TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: tenantSchema, id: id), table: action.tracking.table)
    }

    /// Resolves the format to use for a table in `state`, or explains why it cannot be used.
    static func format(for tracking: TrackingSettings, state: TrackingState, table: TrackingTableRef) -> Result<TrackingFormat, Report.ErrorInfo> {
        if state.unrecognized {
            return .failure(Report.ErrorInfo(message: "tracking table \(table.schema).\(table.table) has neither a name nor a hash column",
                                             hint: "point tracking.table at tenantplan's table, or rename this one"))
        }
        switch (tracking.format, state.format) {
        case (.autoDetect, let found?): return .success(found)
        case (.autoDetect, nil): return .success(tracking.newTableFormat)
        case (.fixed(let wanted), nil): return .success(wanted)
        case (.fixed(let wanted), let found?) where found == wanted: return .success(wanted)
        case (.fixed(let wanted), let found?):
            return .failure(Report.ErrorInfo(
                message: "tracking table \(table.schema).\(table.table) is in \(found.rawValue) format; the plan says \(wanted.rawValue)",
                hint: "set tracking.format: auto-detect, or convert the table to \(wanted.rawValue)"))
        }
    }

    /// Runs `actions` for one tenant. `skip` names actions not to run (with the reason).
    func run(tenant: Tenant, actions: [Action], skip: [String: String], on connection: PGConnection) -> Outcome {
        var outcome = Outcome()
        let lockName = "tenant:" + tenant.schema
        do {
            try AdvisoryLock.acquire(lockName, on: connection)
        } catch {
            outcome.error = Report.ErrorInfo(error)
            return outcome
        }
        defer { AdvisoryLock.release(lockName, on: connection) }
        do {
            let schemas = Set(actions.map { trackingRef(for: $0, tenantSchema: tenant.schema, id: tenant.id).schema }).union([tenant.schema])
            let existing = try TrackingReader.existingSchemas(Array(schemas), on: connection)
            if !existing.contains(tenant.schema) {
                guard plan.tenants.createSchemas else {
                    outcome.error = Report.ErrorInfo(message: "schema \(tenant.schema) does not exist",
                                                     hint: "create it, or set tenants.createSchemas: true")
                    return outcome
                }
                try connection.exec("CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(tenant.schema))")
                outcome.createdSchema = true
            }
            for schema in schemas.subtracting(existing).subtracting([tenant.schema]).sorted() {
                try connection.exec("CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(schema))")
            }
        } catch {
            outcome.error = Report.ErrorInfo(error)
            return outcome
        }
        let context = ExecutionContext(tenantID: tenant.id, schema: tenant.schema,
                                       searchPath: plan.tenants.searchPath.map { $0.replacingOccurrences(of: "{schema}", with: tenant.schema).replacingOccurrences(of: "{id}", with: tenant.id) })
        var failedReason: String?
        for action in actions {
            if let reason = skip[action.name] ?? failedReason {
                outcome.actions.append(.skipped(action, because: reason))
                continue
            }
            if isInterrupted() {
                outcome.actions.append(.skipped(action, because: "the run was interrupted"))
                continue
            }
            let result = runAction(action, table: trackingRef(for: action, tenantSchema: tenant.schema, id: tenant.id),
                                   context: context, on: connection, outcome: &outcome)
            outcome.actions.append(result)
            if result.status == .failed { failedReason = "action \(action.name) failed" }
        }
        return outcome
    }

    /// Runs one shared action under its own lock.
    func runShared(_ action: Action, schema: String, on connection: PGConnection) -> Report.ActionResult {
        let table = TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: schema, id: ""), table: action.tracking.table)
        let lockName = "shared:\(table.schema).\(table.table)"
        var outcome = Outcome()
        do {
            try AdvisoryLock.acquire(lockName, on: connection)
        } catch {
            return .failed(action, error: Report.ErrorInfo(error), schema: schema)
        }
        defer { AdvisoryLock.release(lockName, on: connection) }
        do {
            for name in Set([schema, table.schema]).sorted() {
                try connection.exec("CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(name))")
            }
        } catch {
            return .failed(action, error: Report.ErrorInfo(error), schema: schema)
        }
        let searchPath = schema == "public" ? ["public"] : [schema, "public"]
        let context = ExecutionContext(tenantID: "", schema: schema, searchPath: searchPath)
        var result = runAction(action, table: table, context: context, on: connection, outcome: &outcome)
        result.schema = schema
        return result
    }

    private func runAction(_ action: Action, table: TrackingTableRef, context: ExecutionContext,
                           on connection: PGConnection, outcome: inout Outcome) -> Report.ActionResult {
        let started = Date()
        var result = Report.ActionResult(name: action.name, status: .unchanged, durationMs: 0, applied: [])
        do {
            let state = try TrackingReader.read([table], on: connection)[table] ?? .missing
            let format: TrackingFormat
            switch Self.format(for: action.tracking, state: state, table: table) {
            case .success(let resolved): format = resolved
            case .failure(let error):
                result.status = .failed
                result.error = error
                return result
            }
            result.format = format
            if outcome.format == nil { outcome.format = state.format }
            let pending = state.pending(action.migrations)
            guard !pending.isEmpty else {
                result.durationMs = Int(Date().timeIntervalSince(started) * 1000)
                return result
            }
            if !state.exists {
                try connection.exec(TrackingSQL.createTable(table, format: format))
            }
            let executor = MigrationExecutor(connection: connection, context: context, table: table, format: format,
                                             mode: action.transaction, isInterrupted: isInterrupted)
            let execution = executor.apply(pending)
            result.applied = execution.applied
            if let error = execution.error {
                result.status = .failed
                result.error = error
                let done = Set(execution.applied.map(\.name))
                result.pending = pending.map(\.name).filter { !done.contains($0) }
            } else {
                result.status = .applied
            }
        } catch {
            result.status = .failed
            result.error = Report.ErrorInfo(error)
        }
        result.durationMs = Int(Date().timeIntervalSince(started) * 1000)
        return result
    }
}

extension Report.ActionResult {
    static func skipped(_ action: Action, because reason: String, schema: String? = nil) -> Self {
        Self(name: action.name, schema: schema, status: .skipped, durationMs: 0, applied: [], skippedBecause: reason)
    }

    static func failed(_ action: Action, error: Report.ErrorInfo, schema: String? = nil) -> Self {
        Self(name: action.name, schema: schema, status: .failed, durationMs: 0, applied: [], error: error)
    }
}
