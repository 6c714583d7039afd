import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// Carries out a group of actions on one target (a tenant, or a shared action's schema) on one
/// connection: under the target's advisory lock it checks the schemas, reads the tracking
/// tables again, gets the steps from `StepPlanner` (the same decisions a dry run shows), then
/// creates, converts, runs and records. Blocking; runs on the session's own thread.
struct TenantExecutor: Sendable {
    var planner: StepPlanner
    var isInterrupted: @Sendable () -> Bool
    /// `database.lockWait`: how long to wait for another run's lock on the target.
    var lockWait: PlanDuration = .zero
    /// `database.statementTimeout` and `database.lockTimeout`, which the one-trip path's
    /// transactions set for themselves (as every transaction does under a pooler).
    var statementTimeout: PlanDuration = .zero
    var lockTimeout: PlanDuration = .zero
    /// `database.pooler: transaction` (nil: no pooler).
    var pooling: Pooling?
    /// Another run holds the target's lock: who (`AdvisoryLock.lockedBy`), before this run waits for it.
    var lockWaiting: (@Sendable (StepTarget, String) -> Void)? = nil
    /// A batch of migrations (`0003_a` or `0003_a..0005_c`) is about to be sent for the target.
    var migrating: (@Sendable (StepTarget, String) -> Void)? = nil

    /// What each transaction needs under a transaction pooler.
    struct Pooling: Sendable {
        var statementTimeout: PlanDuration
        var lockTimeout: PlanDuration
        /// `database.directUrl`: a session for what cannot run in one transaction.
        var direct: ConnectionSettings?

        init(plan: Plan, direct: ConnectionSettings?) {
            self.statementTimeout = plan.database.statementTimeout
            self.lockTimeout = plan.database.lockTimeout
            self.direct = direct
        }

        func transaction(locking name: String, wait: PlanDuration) -> PooledTransaction {
            PooledTransaction(
                lockName: name, lockWait: wait, statementTimeout: statementTimeout, lockTimeout: lockTimeout)
        }
    }

    /// Replanning a target after conflicts with racing runs stops after this many (each conflict
    /// means the other run committed something, so this is reached only by a run that keeps losing).
    static let maxReplans = 100

    /// What happened on the target.
    struct Outcome: Sendable {
        var actions: [Report.ActionResult] = []
        var createdSchema = false
        var conversions: [TrackingConverter.Conversion] = []
        /// A failure outside any action (lock, schema, conversion, lost connection).
        var error: Report.ErrorInfo?
        /// The tracking tables as they read after the run (when it succeeded).
        var finalStates: [TrackingTableRef: TrackingState] = [:]
        /// Attempts this outcome adds up (more than 1 after retries, `ApplyRetry`).
        var attempts = 1
        /// Failed attempts per migration (`"action/migration"`), which the report shows on the
        /// migration once a later attempt applied it (`followed(by:)`).
        var failedAttempts: [String: Int] = [:]
        /// The tracking tables as read under the lock before anything ran.
        var readStates: [TrackingTableRef: TrackingState] = [:]
        /// Migrations whose row a lost connection may have committed: the next attempt reports
        /// them applied if it reads that row written by that transaction (`followed(by:)`).
        var unconfirmed: [Unconfirmed] = []

        struct Unconfirmed: Sendable {
            var action: String
            var table: TrackingTableRef
            var key: String
            /// The transaction that wrote the row (`xmin`).
            var writer: String
            var migration: Report.AppliedMigration
        }

        var failed: Bool { error != nil || actions.contains { $0.status == .failed } }
    }

    /// A target's tables as the batched read saw them (this run has not written them since), and
    /// the steps planned from them, which only run migrations (`TenantSteps.onlyRunsMigrations`).
    struct AsRead: Sendable {
        var state: TenantState
        var steps: TenantSteps
    }

    /// Locks the target, re-reads and plans, then carries out the steps.
    /// `createdByRun`: an earlier stage of this run created the target's schema.
    /// `asRead`: the steps planned from the batched read, when they only run migrations: they go in
    /// one round trip first (`runAsRead`).
    /// Under a transaction pooler, a write that finds another run recorded a migration since the
    /// read fails as a conflict having done nothing; the target is then read and planned again.
    func run(
        _ target: StepTarget, actions: [Action], tables: TenantTables, skip: [String: String],
        createdByRun: Bool = false, asRead: AsRead? = nil, on connection: PGConnection
    ) -> Outcome {
        let lockName = AdvisoryLock.name(for: target, table: actions.first.map { tables.ref(for: $0) })
        let context = ExecutionContext(target, pooled: pooling?.transaction(locking: lockName, wait: lockWait))
        connection.labels = ["tenant": target.id, "schema": target.schema]
        defer { connection.labels = [:] }
        func attempt() -> Outcome {
            let locked = Self.underLock(
                lockName, schema: target.schema, refs: tables.refs, wait: lockWait, pooled: context.pooled,
                waiting: lockWaiting.map { report in { report(target, $0) } }, on: connection
            ) {
                schemas, states in
                let steps = planner.steps(
                    for: target, actions: actions, tables: tables, existingSchemas: Set(schemas.keys),
                    populated: schemas[target.schema] == true, createdByRun: createdByRun, states: states, skip: skip)
                var outcome = carryOut(steps, context: context, on: connection)
                outcome.readStates = states
                return outcome
            }
            switch locked {
            case .success(let outcome): return outcome
            case .failure(let error): return Outcome(error: error)
            }
        }
        var outcome =
            asRead.flatMap { runAsRead(target, tables: tables, $0, lockName: lockName, on: connection) } ?? attempt()
        var replans = 0
        while outcome.failure?.sqlstate == TrackingSQL.conflict, replans < Self.maxReplans, !isInterrupted() {
            replans += 1
            var merged = outcome.followed(by: attempt())
            merged.attempts = outcome.attempts
            outcome = merged
        }
        return outcome
    }

    /// The common case in one round trip: the steps planned from the batched read, which only run
    /// migrations (`asRead`), go to the server in one text whose first transaction takes the
    /// target's lock only if it is free (`pg_try_advisory_xact_lock`) and checks that the target's
    /// schema and every tracking table are exactly as read (`TrackingSQL.unchangedSince`) before
    /// anything runs; later transactions of the text each take the lock and check their migration
    /// is unrecorded, as under a transaction pooler. Nil when a table has no stamp to check, or when
    /// the check refuses (another run holds the lock or wrote since): nothing was done, and the
    /// locked path (`underLock`) takes over on the same connection.
    private func runAsRead(
        _ target: StepTarget, tables: TenantTables, _ asRead: AsRead, lockName: String, on connection: PGConnection
    ) -> Outcome? {
        let (state, steps) = (asRead.state, asRead.steps)
        // A tracking table in the tenant's schema proves the schema is there.
        var conditions =
            tables.refs.contains { $0.schema == target.schema }
            ? [] : ["pg_catalog.to_regnamespace(\(SQL.quoteLiteral(SQL.quoteIdentifier(target.schema)))) IS NOT NULL"]
        for ref in tables.refs {
            guard let table = state.tables[ref], let unchanged = TrackingSQL.unchangedSince(table, in: ref) else {
                return nil
            }
            conditions.append(unchanged)
        }
        let transaction =
            pooling?.transaction(locking: lockName, wait: lockWait)
            ?? PooledTransaction(
                lockName: lockName, lockWait: lockWait, statementTimeout: statementTimeout, lockTimeout: lockTimeout,
                ownSession: true)
        var context = ExecutionContext(target, pooled: transaction)
        context.cleansAtLastCommit = pooling != nil
        // On a session of its own, what the last tenant left on it goes (as in `AdvisoryLock.acquire`),
        // inside the transaction: nothing may run before its BEGIN. (Rolled back with it, it runs
        // again before whatever comes next on the session.)
        context.firstBegin =
            PooledTransaction.begin + (pooling == nil ? AdvisoryLock.cleanSession : "")
            + transaction.checkedPrelude(conditions.joined(separator: " AND "))
        var outcome = Outcome()
        guard
            let actions = runActions(steps.actions, context: context, unconfirmed: &outcome.unconfirmed, on: connection)
        else {
            // Refused, nothing done: the locked path takes over, unless the run is stopping.
            guard isInterrupted() else { return nil }
            outcome.actions = steps.actions.map { .skipped($0.action, because: "the run was interrupted") }
            return outcome
        }
        outcome.actions = actions
        outcome.readStates = state.tables
        if !outcome.failed { outcome.finalStates = steps.finalStates }
        return outcome
    }

    /// Under the advisory lock `lockName`, finds which of the schemas (`schema` and those of
    /// `refs`) exist, each with whether it holds objects, and reads the tables of `refs` again,
    /// then runs `body` with them. The lock and the schema check take one round trip. Any error
    /// becomes the failure.
    /// Under a transaction pooler (`pooled`), the lock is held while reading only: `body` runs
    /// after, and each of its transactions takes the lock again (`ExecutionContext.begin`).
    static func underLock<T>(
        _ lockName: String, schema: String, refs: [TrackingTableRef], wait: PlanDuration,
        pooled: PooledTransaction? = nil, waiting: ((String) -> Void)? = nil, on connection: PGConnection,
        body: ([String: Bool], [TrackingTableRef: TrackingState]) throws -> T
    ) -> Result<T, Report.ErrorInfo> {
        let schemas = Array(Set([schema] + refs.map(\.schema)))
        var existing: [String: Bool] = [:]
        do {
            let result = try AdvisoryLock.acquire(
                lockName, wait: wait,
                then: "SELECT nspname, \(TrackingSQL.populated) FROM pg_catalog.pg_namespace n WHERE nspname = ANY("
                    + "\(SQL.quoteLiteral(PGArray.literal(schemas)))::text[])", pooled: pooled, waiting: waiting,
                on: connection)
            for row in 0..<result.rowCount { existing[result.value(row, 0) ?? ""] = result.value(row, 1) == "t" }
        } catch let error as Report.ErrorInfo {
            return .failure(error)
        } catch {
            return .failure(Report.ErrorInfo(error))
        }
        var held = true
        defer { if held { AdvisoryLock.release(lockName, pooled: pooled != nil, on: connection) } }
        do {
            let states = try TrackingReader.read(refs, writers: true, on: connection)
            if pooled != nil {
                AdvisoryLock.release(lockName, pooled: true, on: connection)
                held = false
            }
            return .success(try body(existing, states))
        } catch let error as Report.ErrorInfo {
            return .failure(error)
        } catch {
            return .failure(Report.ErrorInfo(error))
        }
    }

    /// Carries out `steps` (planned under the lock this connection holds).
    func carryOut(_ steps: TenantSteps, context: ExecutionContext, on connection: PGConnection) -> Outcome {
        var outcome = Outcome()
        if let error = steps.error {
            outcome.error = error
            outcome.actions = steps.actions.map { Report.ActionResult.planned($0) }
            return outcome
        }
        do {
            if !steps.createSchemas.isEmpty {
                try Self.locked(
                    steps.createSchemas.map { "CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier($0));" }.joined(),
                    pooled: context.pooled, on: connection)
            }
            outcome.createdSchema = steps.createsOwnSchema
            if !steps.conversions.isEmpty {
                try Self.transaction(
                    TrackingConverter.sql(steps.conversions, checked: context.pooled != nil), pooled: context.pooled,
                    on: connection)
                outcome.conversions = steps.conversions
            }
        } catch {
            outcome.error = Report.ErrorInfo(error)
            return outcome
        }
        outcome.actions =
            runActions(steps.actions, context: context, unconfirmed: &outcome.unconfirmed, on: connection) ?? []
        if !outcome.failed { outcome.finalStates = steps.finalStates }
        return outcome
    }

    /// Each action in turn; after a failure the rest are skipped. Deferred records
    /// (`--mark-applied`) commit together at the end. Nil when the check of a one-trip context
    /// (`ExecutionContext.firstBegin`) refused: nothing was done.
    private func runActions(
        _ steps: [ActionStep], context: ExecutionContext, unconfirmed: inout [Outcome.Unconfirmed],
        on connection: PGConnection
    ) -> [Report.ActionResult]? {
        var results: [Report.ActionResult] = []
        var failedReason: String?
        var deferred: [(index: Int, sql: String)] = []
        for step in steps {
            if !step.isSkipped, let reason = failedReason ?? (isInterrupted() ? "the run was interrupted" : nil) {
                results.append(.skipped(step.action, because: reason))
                continue
            }
            let started = Date()
            var result: Report.ActionResult
            if step.deferred, let change = step.change {
                deferred.append((results.count, change.recordSQL(checked: context.pooled != nil)))
                result = .planned(step)
                result.status = .applied
            } else {
                guard let carried = carryOut(step, context: context, unconfirmed: &unconfirmed, on: connection)
                else { return nil }
                result = carried
            }
            result.durationMs = Int(Date().timeIntervalSince(started) * 1000)
            if result.status == .failed { failedReason = "action \(step.action.name) failed" }
            results.append(result)
        }
        commitDeferred(deferred, into: &results, pooled: context.pooled, on: connection)
        return results
    }

    /// `--mark-applied`: every record of the target commits in one transaction, or none does.
    private func commitDeferred(
        _ deferred: [(index: Int, sql: String)], into results: inout [Report.ActionResult],
        pooled: PooledTransaction?, on connection: PGConnection
    ) {
        guard !deferred.isEmpty else { return }
        do {
            try Self.transaction(deferred.map(\.sql).joined(), pooled: pooled, on: connection)
        } catch {
            for (index, _) in deferred {
                results[index].status = .failed
                results[index].error = Report.ErrorInfo(error)
                results[index].pending = results[index].marked
                results[index].marked = nil
            }
        }
    }

    /// One action's step: run its migrations, or record and delete rows in one transaction. Nil
    /// when the check of a one-trip context refused.
    private func carryOut(
        _ step: ActionStep, context: ExecutionContext, unconfirmed: inout [Outcome.Unconfirmed],
        on connection: PGConnection
    ) -> Report.ActionResult? {
        guard let change = step.change else { return .planned(step) }
        var result = Report.ActionResult.planned(step)
        result.pending = nil
        do {
            guard !change.run.isEmpty else {
                try Self.transaction(
                    change.recordSQL(checked: context.pooled != nil), pooled: context.pooled, on: connection)
                result.status = .applied
                return result
            }
            if change.createTable {
                try Self.locked(
                    TrackingSQL.createTable(change.table, format: change.format) + ";", pooled: context.pooled,
                    on: connection)
            }
            var sending: (@Sendable (String) -> Void)?
            if let migrating {
                let target = context.target
                sending = { migrating(target, $0) }
            }
            let executor = MigrationExecutor(
                connection: connection, context: context, table: change.table, format: change.format,
                actionName: step.action.name, recordsTime: change.recordsTime, mode: step.action.transaction,
                direct: pooling?.direct, isInterrupted: isInterrupted, sending: sending)
            let execution = executor.apply(change.run)
            if execution.checkFailed { return nil }
            unconfirmed += execution.unconfirmed.map {
                .init(
                    action: step.action.name, table: change.table, key: $0.key, writer: $0.writer,
                    migration: $0.migration)
            }
            result.applied = execution.applied
            result.status = execution.error == nil ? .applied : .failed
            result.error = execution.error
            if execution.error != nil {
                let done = Set(execution.applied.map(\.name))
                result.pending = change.run.map(\.name).filter { !done.contains($0) }
            }
        } catch {
            result.status = .failed
            result.error = Report.ErrorInfo(error)
            result.marked = nil
            result.deletedOrphans = nil
        }
        return result
    }

    /// Runs `sql` as it is on a session this run holds the target's lock on, or, under a
    /// transaction pooler (`pooled`), in a transaction that takes the lock.
    static func locked(_ sql: String, pooled: PooledTransaction?, on connection: PGConnection) throws {
        if pooled == nil {
            try connection.exec(sql)
        } else {
            try transaction(sql, pooled: pooled, on: connection)
        }
    }

    /// Runs `sql` in one transaction, rolling back on failure; under a transaction pooler
    /// (`pooled`), the transaction takes the target's lock and the plan's settings first.
    static func transaction(_ sql: String, pooled: PooledTransaction? = nil, on connection: PGConnection) throws {
        let outcome = connection.execAll(
            (pooled.map { PooledTransaction.begin + $0.prelude } ?? "BEGIN;") + sql + "COMMIT;")
        if let error = outcome.error {
            if !connection.isHealthy { _ = connection.execAll("ROLLBACK") }
            throw error
        }
    }
}
