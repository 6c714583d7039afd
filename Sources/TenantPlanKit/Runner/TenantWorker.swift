import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// Advisory-lock keys: one per tenant schema, one per shared action's table.
enum AdvisoryLock {
    /// First key of every tenantplan lock ("tpln").
    static let namespace: Int32 = 0x7470_6C6E

    /// Takes the lock; `then` (a query) runs in the same round trip, after the lock is held,
    /// and its result is returned.
    @discardableResult
    static func acquire(_ name: String, then query: String = "SELECT 1", on connection: PGConnection) throws -> PGResult {
        // Waiting for another tenantplan must not trip lock_timeout: lift it around the wait
        // (RESET returns to the plan's value, set as a startup option).
        let outcome = connection.execAll("SET lock_timeout = 0;SELECT pg_advisory_lock(\(namespace), hashtext(\(SQL.quoteLiteral(name))));RESET lock_timeout;" + query)
        if let error = outcome.error {
            if outcome.results.count >= 2 { release(name, on: connection) }
            throw error
        }
        return outcome.results.last!
    }

    static func release(_ name: String, on connection: PGConnection) {
        _ = connection.execAll("SELECT pg_advisory_unlock(\(namespace), hashtext(\(SQL.quoteLiteral(name))))")
    }
}

/// How far `apply --mark-applied` records an action's migrations.
public enum MarkLimit: Sendable, Equatable {
    case all
    case through(String)
    case nothing
}

/// Runs a group of actions for one tenant (or one shared action) on one connection, under
/// the advisory lock, re-reading the tracking rows after locking. Blocking; runs on the
/// session's own thread.
struct TenantWorker {
    var plan: Plan
    /// `apply --mark-applied`: per action, how far to record without running (nil: run normally).
    var markLimits: [String: MarkLimit]?
    var isInterrupted: @Sendable () -> Bool

    struct Outcome {
        var actions: [Report.ActionResult] = []
        var createdSchema = false
        var format: TrackingFormat?
        var conversions: [TrackingConverter.Conversion] = []
        var error: Report.ErrorInfo?
        var failed: Bool { error != nil || actions.contains { $0.status == .failed } }
    }

    func trackingRef(for action: Action, tenantSchema: String, id: String) -> TrackingTableRef {
        TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: tenantSchema, id: id), table: action.tracking.table)
    }

    /// Every migration and script recorded in `table` by the plan's actions of the same scope:
    /// what a row may match (for orphans and conversion).
    func known(in table: TrackingTableRef, shared: Bool, tenantSchema: String, id: String) -> [Migration] {
        plan.actions.filter { $0.scope.isShared == shared }.filter { action in
            let schema = shared ? (action.sharedSchema ?? "public") : tenantSchema
            return trackingRef(for: action, tenantSchema: schema, id: id) == table
        }.flatMap(\.migrations)
    }

    /// Resolves the format to use for a table in `state`, or explains why it cannot be used.
    /// With `autoMigrateFormat`, a table in another format resolves to the target (it is converted first).
    static func format(for tracking: TrackingSettings, state: TrackingState, table: TrackingTableRef) -> Result<TrackingFormat, Report.ErrorInfo> {
        if let readError = state.readError {
            return .failure(Report.ErrorInfo(message: readError))
        }
        if state.unrecognized {
            return .failure(Report.ErrorInfo(message: "tracking table \(table.schema).\(table.table) has neither a name nor a hash column",
                                             hint: "point tracking.table at tenantplan's table, or rename this one"))
        }
        switch (tracking.format, state.format) {
        case (.autoDetect, let found?): return .success(found)
        case (.autoDetect, nil): return .success(tracking.newTableFormat)
        case (.fixed(let wanted), nil): return .success(wanted)
        case (.fixed(let wanted), let found?) where found == wanted: return .success(wanted)
        case (.fixed(let wanted), _) where tracking.autoMigrateFormat: return .success(wanted)
        case (.fixed(let wanted), let found?):
            return .failure(Report.ErrorInfo(
                message: "tracking table \(table.schema).\(table.table) is in \(found.rawValue) format; the plan says \(wanted.rawValue)",
                hint: "set tracking.autoMigrateFormat: true, run `tenantplan convert-tracking --to \(wanted.rawValue)`, or set tracking.format: auto-detect"))
        }
    }

    /// Tables of `actions` that `autoMigrateFormat` converts, with their target format.
    func conversionTargets(_ actions: [Action], schemaFor: (Action) -> String, id: String) -> [(TrackingTableRef, TrackingFormat)] {
        var seen = Set<TrackingTableRef>()
        var targets: [(TrackingTableRef, TrackingFormat)] = []
        for action in actions where action.tracking.autoMigrateFormat {
            guard case .fixed(let format) = action.tracking.format else { continue }
            let ref = trackingRef(for: action, tenantSchema: schemaFor(action), id: id)
            if seen.insert(ref).inserted { targets.append((ref, format)) }
        }
        return targets
    }

    /// Converts tables to their target formats in one transaction; refuses (changing nothing)
    /// when a row matches no migration.
    func convert(_ targets: [(TrackingTableRef, TrackingFormat)], shared: Bool, tenantSchema: String, id: String,
                 on connection: PGConnection) throws -> Result<[TrackingConverter.Conversion], Report.ErrorInfo> {
        guard !targets.isEmpty else { return .success([]) }
        let states = try TrackingReader.read(targets.map(\.0), on: connection)
        if let unreadable = states.values.first(where: { $0.readError != nil }) {
            return .failure(Report.ErrorInfo(message: unreadable.readError!, hint: "nothing was converted"))
        }
        let conversions = targets.compactMap { ref, format in
            TrackingConverter.plan(states[ref] ?? .missing, table: ref, to: format,
                                   known: known(in: ref, shared: shared, tenantSchema: tenantSchema, id: id))
        }
        if let refused = conversions.first(where: { !$0.isPossible }) {
            return .failure(refused.refusal)
        }
        guard !conversions.isEmpty else { return .success([]) }
        try transaction(conversions.map(TrackingConverter.sql).joined(), on: connection)
        return .success(conversions)
    }

    /// Runs `sql` in one transaction, rolling back on failure.
    func transaction(_ sql: String, on connection: PGConnection) throws {
        let outcome = connection.execAll("BEGIN;" + sql + "COMMIT;")
        if let error = outcome.error {
            if !connection.isHealthy { _ = connection.execAll("ROLLBACK") }
            throw error
        }
    }

    /// Runs `actions` for one tenant. `skip` names actions not to run (with the reason).
    func run(tenant: Tenant, actions: [Action], skip: [String: String], on connection: PGConnection) -> Outcome {
        var outcome = Outcome()
        let lockName = "tenant:" + tenant.schema
        let schemas = Set(actions.map { trackingRef(for: $0, tenantSchema: tenant.schema, id: tenant.id).schema }).union([tenant.schema])
        let existing: Set<String>
        do {
            // The lock and the schema check in one round trip.
            let result = try AdvisoryLock.acquire(lockName, then: "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(\(SQL.quoteLiteral(PGArray.literal(Array(schemas))))::text[])", on: connection)
            existing = Set((0..<result.rowCount).compactMap { result.value($0, 0) })
        } catch {
            outcome.error = Report.ErrorInfo(error)
            return outcome
        }
        defer { AdvisoryLock.release(lockName, on: connection) }
        let tenantActions = plan.actions.filter { !$0.scope.isShared }
        do {
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
            // autoMigrateFormat: before any action runs, every table of the tenant is in the plan's format.
            let targets = conversionTargets(tenantActions, schemaFor: { _ in tenant.schema }, id: tenant.id)
            switch try convert(targets, shared: false, tenantSchema: tenant.schema, id: tenant.id, on: connection) {
            case .success(let conversions): outcome.conversions = conversions
            case .failure(let error):
                outcome.error = error
                return outcome
            }
        } catch {
            outcome.error = Report.ErrorInfo(error)
            return outcome
        }
        let context = ExecutionContext(tenantID: tenant.id, schema: tenant.schema,
                                       searchPath: plan.tenants.searchPath.map { $0.replacingOccurrences(of: "{schema}", with: tenant.schema).replacingOccurrences(of: "{id}", with: tenant.id) })
        var failedReason: String?
        var deferred: [(index: Int, sql: String)] = []
        // One batched read of every table the actions use; a table is read again only after an action wrote to it.
        var states: [TrackingTableRef: TrackingState]
        do {
            states = try TrackingReader.read(actions.map { trackingRef(for: $0, tenantSchema: tenant.schema, id: tenant.id) }, on: connection)
        } catch {
            outcome.error = Report.ErrorInfo(error)
            return outcome
        }
        var written = Set<TrackingTableRef>()
        for action in actions {
            if let reason = skip[action.name] ?? failedReason {
                outcome.actions.append(.skipped(action, because: reason))
                continue
            }
            if isInterrupted() {
                outcome.actions.append(.skipped(action, because: "the run was interrupted"))
                continue
            }
            let table = trackingRef(for: action, tenantSchema: tenant.schema, id: tenant.id)
            let (result, sql) = runAction(action, table: table, state: written.contains(table) ? nil : states[table],
                                          known: known(in: table, shared: false, tenantSchema: tenant.schema, id: tenant.id),
                                          context: context, on: connection, outcome: &outcome)
            if sql == nil, result.status != .unchanged, result.status != .skipped { written.insert(table) }
            if let sql {
                deferred.append((outcome.actions.count, sql))
                // Not committed yet: later actions on the same table must see these records.
                let marked = Set(result.marked ?? [])
                states[table, default: .missing].record(action.migrations.filter { marked.contains($0.name) }, format: result.format ?? .name)
            }
            outcome.actions.append(result)
            if result.status == .failed { failedReason = "action \(action.name) failed" }
        }
        // --mark-applied: every record of the tenant commits in one transaction.
        if !deferred.isEmpty {
            do {
                try transaction(deferred.map(\.sql).joined(), on: connection)
            } catch {
                for (index, _) in deferred {
                    outcome.actions[index].status = .failed
                    outcome.actions[index].error = Report.ErrorInfo(error)
                    outcome.actions[index].pending = outcome.actions[index].marked
                    outcome.actions[index].marked = nil
                }
            }
        }
        return outcome
    }

    /// Runs one shared action under its own lock.
    func runShared(_ action: Action, schema: String, on connection: PGConnection) -> Report.ActionResult {
        let table = TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: schema, id: ""), table: action.tracking.table)
        let lockName = "shared:\(table.schema).\(table.table)"
        var outcome = Outcome()
        var converted: [TrackingConverter.Conversion] = []
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
            let targets = conversionTargets([action], schemaFor: { _ in schema }, id: "")
            switch try convert(targets, shared: true, tenantSchema: schema, id: "", on: connection) {
            case .failure(let error): return .failed(action, error: error, schema: schema)
            case .success(let conversions): converted = conversions
            }
        } catch {
            return .failed(action, error: Report.ErrorInfo(error), schema: schema)
        }
        let searchPath = schema == "public" ? ["public"] : [schema, "public"]
        let context = ExecutionContext(tenantID: "", schema: schema, searchPath: searchPath)
        var (result, deferred) = runAction(action, table: table, state: nil, known: known(in: table, shared: true, tenantSchema: schema, id: ""),
                                           context: context, on: connection, outcome: &outcome)
        if let deferred {
            do {
                try transaction(deferred, on: connection)
            } catch {
                result.status = .failed
                result.error = Report.ErrorInfo(error)
                result.pending = result.marked
                result.marked = nil
            }
        }
        result.schema = schema
        if !converted.isEmpty { result.conversions = converted }
        return result
    }

    /// Runs one action. In `--mark-applied` mode the tracking inserts are returned, to be
    /// committed with the tenant's other records in one transaction.
    /// `state`: the table as read after locking, or nil to read it now.
    private func runAction(_ action: Action, table: TrackingTableRef, state knownState: TrackingState?, known: [Migration], context: ExecutionContext,
                           on connection: PGConnection, outcome: inout Outcome) -> (Report.ActionResult, String?) {
        let started = Date()
        var result = Report.ActionResult(name: action.name, status: .unchanged, durationMs: 0, applied: [])
        var deferred: String?
        do {
            let state = try knownState ?? TrackingReader.read([table], on: connection)[table] ?? .missing
            let format: TrackingFormat
            switch Self.format(for: action.tracking, state: state, table: table) {
            case .success(let resolved): format = resolved
            case .failure(let error):
                result.status = .failed
                result.error = error
                return (result, nil)
            }
            result.format = format
            if outcome.format == nil { outcome.format = state.format }
            let create = state.exists ? "" : TrackingSQL.createTable(table, format: format) + ";"

            if let limit = markLimits?[action.name] {
                let pending = state.pending(Self.limited(action.recordable, by: limit))
                if !pending.isEmpty {
                    deferred = create + pending.map { TrackingSQL.record($0, in: table, format: format) + ";" }.joined()
                    result.status = .applied
                    result.marked = pending.map(\.name)
                } else if limit == .nothing {
                    result.status = .skipped
                    result.skippedBecause = "it runs after the action holding --up-to"
                }
                result.durationMs = Int(Date().timeIntervalSince(started) * 1000)
                return (result, deferred)
            }

            switch action.kind {
            case .markApplied:
                let pending = state.pending(action.recordable)
                if !pending.isEmpty {
                    try transaction(create + pending.map { TrackingSQL.record($0, in: table, format: format) + ";" }.joined(), on: connection)
                    result.status = .applied
                    result.marked = pending.map(\.name)
                }
            case .sync(let set, let markMissing, let cleanOrphans):
                let missing = markMissing ? state.pending(set.migrations) : []
                let orphans = cleanOrphans ? state.orphans(known) : []
                if !missing.isEmpty || !orphans.isEmpty {
                    var sql = create + missing.map { TrackingSQL.record($0, in: table, format: format) + ";" }.joined()
                    if !orphans.isEmpty {
                        sql += TrackingSQL.deleteRows(withKeys: orphans.map(\.key), in: table, format: state.format ?? format)
                    }
                    try transaction(sql, on: connection)
                    result.status = .applied
                    if !missing.isEmpty { result.marked = missing.map(\.name) }
                    if !orphans.isEmpty { result.deletedOrphans = orphans.map(\.key) }
                }
            case .migrate, .sql:
                let pending = state.pending(action.migrations)
                guard !pending.isEmpty else { break }
                if !create.isEmpty { try connection.exec(create) }
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
            }
        } catch {
            result.status = .failed
            result.error = Report.ErrorInfo(error)
        }
        result.durationMs = Int(Date().timeIntervalSince(started) * 1000)
        return (result, deferred)
    }

    static func limited(_ migrations: [Migration], by limit: MarkLimit) -> [Migration] {
        switch limit {
        case .all: return migrations
        case .nothing: return []
        case .through(let name):
            guard let index = migrations.firstIndex(where: { $0.name == name }) else { return migrations }
            return Array(migrations[...index])
        }
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
