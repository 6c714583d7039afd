import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// Options of one run, from the command line.
public struct RunOptions: Sendable {
    public var command = "apply"
    public var dryRun = false
    public var filter = TenantFilter()
    /// `--mark-applied`: record pending migrations as applied without running them.
    public var markApplied = false
    /// `--up-to NAME` (with `markApplied`): stop after NAME in the action that holds it.
    public var upTo: String?

    public init(command: String = "apply", dryRun: Bool = false, filter: TenantFilter = TenantFilter(),
                markApplied: Bool = false, upTo: String? = nil) {
        self.command = command
        self.dryRun = dryRun
        self.filter = filter
        self.markApplied = markApplied
        self.upTo = upTo
    }
}

/// `--up-to NAME` names no migration of the plan (exit 2).
public struct UnknownMigrationError: Error, CustomStringConvertible, Sendable {
    public var name: String
    public var known: [String]
    public var description: String {
        "--up-to \(name): no action of the plan has a migration of that name" + (known.isEmpty ? "" : " (known: \(known.prefix(12).joined(separator: ", "))\(known.count > 12 ? ", ..." : ""))")
    }
}

/// Runs a compiled plan against a database: discovery, a batched read of every tenant's
/// tracking tables, then each stage's shared actions and a sliding-window sweep of the
/// tenants that have work. Tenants with nothing pending are never locked.
public final class PlanRunner: Sendable {
    public let plan: Plan
    public let graph: ExecutionGraph
    let conninfo: String
    let options: RunOptions
    let control: RunControl
    let events: @Sendable (RunEvent) -> Void

    /// `conninfo` is `database.url` with `${VAR}` already expanded.
    public init(plan: Plan, conninfo: String, options: RunOptions, control: RunControl = RunControl(),
                events: @escaping @Sendable (RunEvent) -> Void = { _ in }) {
        self.plan = plan
        self.graph = ExecutionGraph(plan: plan)
        self.conninfo = conninfo
        self.options = options
        self.control = control
        self.events = events
    }

    /// What every session runs once after connecting.
    static let sessionSetup = "SET client_min_messages = warning;SET standard_conforming_strings = on;SET client_encoding = 'UTF8';"

    /// Connection keywords added to the URL's: `application_name`, and the timeouts as startup
    /// options (`-c`), so they are the session defaults that `RESET` returns to.
    var connectionOverrides: [String: String] {
        var options = ""
        if case .success(let values) = ConnInfo.parse(conninfo), let existing = values["options"], !existing.isEmpty {
            options = existing + " "
        } else if let environment = ProcessInfo.processInfo.environment["PGOPTIONS"], !environment.isEmpty {
            options = environment + " "  // libpq would have used it; an explicit `options` replaces it, so carry it over
        }
        options += "-c statement_timeout=\(plan.database.statementTimeout.milliseconds) -c lock_timeout=\(plan.database.lockTimeout.milliseconds)"
        return ["application_name": plan.database.applicationName, "options": options]
    }

    func makePool() -> ConnectionPool {
        ConnectionPool(conninfo: conninfo, overrides: connectionOverrides,
                       setup: Self.sessionSetup, capacity: min(plan.concurrency, plan.database.maxConnections),
                       recycleAfter: plan.database.recycleAfter)
    }

    // MARK: - Reading state

    /// What the batched read found for one tenant.
    struct TenantState: Sendable {
        var schemaExists: Bool
        var tables: [TrackingTableRef: TrackingState]
    }

    /// Discovers tenants and reads every tenant's tracking tables in batches, in parallel over the pool.
    func discoverAndRead(pool: ConnectionPool) async throws -> (tenants: [Tenant], states: [TenantState], target: ConnInfo.Target) {
        let session = try await pool.acquire()
        let settings = plan.tenants
        let ids: [String]
        let target: ConnInfo.Target
        do {
            ids = try await session.run { try TenantDiscovery.discover(settings, on: $0) }
            target = ConnInfo.target(of: session.connection)
            await pool.release(session, countsAsTenant: false)
        } catch {
            await pool.release(session, countsAsTenant: false)
            throw error
        }
        let tenants = try TenantDiscovery.tenants(ids: ids, settings: settings, filter: options.filter)
        events(.discovered(tenants: tenants.count))
        let actions = graph.tenantActions
        let refsPerTenant: [[TrackingTableRef]] = tenants.map { tenant in
            actions.map { TrackingTableRef(schema: $0.tracking.tableSchema(forTenantSchema: tenant.schema, id: tenant.id), table: $0.tracking.table) }
        }
        let valid = tenants.indices.filter { tenants[$0].invalidReason == nil }
        let chunkSize = TrackingReader.batchSize
        let chunks = valid.chunked(into: chunkSize)
        var states = [TenantState](repeating: TenantState(schemaExists: false, tables: [:]), count: tenants.count)
        try await withThrowingTaskGroup(of: [(Int, TenantState)].self) { group in
            var nextChunk = 0
            func addTask() {
                guard nextChunk < chunks.count else { return }
                let chunk = chunks[nextChunk]
                nextChunk += 1
                let schemas = chunk.map { tenants[$0].schema }
                let refs = chunk.flatMap { refsPerTenant[$0] }
                group.addTask {
                    let session = try await pool.acquire()
                    do {
                        let (existing, tables) = try await session.run { connection in
                            (try TrackingReader.existingSchemas(schemas, on: connection), try TrackingReader.read(refs, on: connection))
                        }
                        await pool.release(session, countsAsTenant: false)
                        return chunk.map { index in
                            (index, TenantState(schemaExists: existing.contains(tenants[index].schema),
                                                tables: Dictionary(refsPerTenant[index].map { ($0, tables[$0] ?? .missing) }, uniquingKeysWith: { first, _ in first })))
                        }
                    } catch {
                        await pool.release(session, countsAsTenant: false)
                        throw error
                    }
                }
            }
            for _ in 0..<min(chunks.count, pool.capacity) { addTask() }
            while let result = try await group.next() {
                for (index, state) in result { states[index] = state }
                addTask()
            }
        }
        return (tenants, states, target)
    }

    /// What an action would do on a tenant, from the batched read (no lock): whether there is
    /// work, and the action's entry for a dry-run report. `state` is updated as if the action had
    /// run, so that a later action on the same table is planned against what this one records.
    func planAction(_ action: Action, tenant: Tenant, state: inout TenantState, worker: TenantWorker, shared: Bool = false) -> (needsWork: Bool, result: Report.ActionResult) {
        let ref = worker.trackingRef(for: action, tenantSchema: tenant.schema, id: tenant.id)
        let table = state.tables[ref] ?? .missing
        var result = Report.ActionResult(name: action.name, status: .unchanged, durationMs: 0, applied: [])
        let format: TrackingFormat
        switch TenantWorker.format(for: action.tracking, state: table, table: ref) {
        case .failure(let error):
            result.status = .failed
            result.error = error
            return (true, result)
        case .success(let resolved):
            format = resolved
            result.format = resolved
        }
        var toRun: [Migration] = []
        var toMark: [Migration] = []
        var orphans: [TrackingState.Row] = []
        if let limit = worker.markLimits?[action.name] {
            toMark = table.pending(TenantWorker.limited(action.recordable, by: limit))
        } else {
            switch action.kind {
            case .migrate, .sql: toRun = table.pending(action.migrations)
            case .markApplied: toMark = table.pending(action.recordable)
            case .sync(let set, let markMissing, let cleanOrphans):
                if markMissing { toMark = table.pending(set.migrations) }
                if cleanOrphans { orphans = table.orphans(worker.known(in: ref, shared: shared, tenantSchema: tenant.schema, id: tenant.id)) }
            }
        }
        if !toRun.isEmpty { result.pending = toRun.map(\.name) }
        if !toMark.isEmpty { result.marked = toMark.map(\.name) }
        if !orphans.isEmpty { result.deletedOrphans = orphans.map(\.key) }
        guard !toRun.isEmpty || !toMark.isEmpty || !orphans.isEmpty else { return (false, result) }
        result.status = .pending
        // Simulate the action's records for the actions after it.
        var simulated = table
        let removed = Set(orphans.map(\.id))
        simulated.rows.removeAll { removed.contains($0.id) }
        simulated.record(toRun + toMark, format: format)
        state.tables[ref] = simulated
        return (true, result)
    }

    /// Conversions `autoMigrateFormat` would make on a tenant, from the batched read.
    func planConversions(tenant: Tenant, state: TenantState, worker: TenantWorker) -> [TrackingConverter.Conversion] {
        let targets = worker.conversionTargets(plan.actions.filter { !$0.scope.isShared }, schemaFor: { _ in tenant.schema }, id: tenant.id)
        return targets.compactMap { ref, format in
            TrackingConverter.plan(state.tables[ref] ?? .missing, table: ref, to: format,
                                   known: worker.known(in: ref, shared: false, tenantSchema: tenant.schema, id: tenant.id))
        }
    }

    /// `--up-to NAME`: how far each action records. Throws when no action holds NAME.
    func markLimits() throws -> [String: MarkLimit]? {
        guard options.markApplied else { return nil }
        let order = graph.stages.flatMap { $0.shared + $0.tenant }
        guard let upTo = options.upTo else {
            return Dictionary(uniqueKeysWithValues: order.map { ($0.name, MarkLimit.all) })
        }
        guard let holder = order.firstIndex(where: { $0.recordable.contains { $0.name == upTo } }) else {
            throw UnknownMigrationError(name: upTo, known: order.flatMap(\.recordable).map(\.name))
        }
        var limits: [String: MarkLimit] = [:]
        for (index, action) in order.enumerated() {
            limits[action.name] = index < holder ? .all : index == holder ? .through(upTo) : .nothing
        }
        return limits
    }

    // MARK: - apply / plan

    /// Applies the plan (or, with `dryRun`, reports what would run without writing).
    /// Throws `UnknownTenantsError` when `--tenant` names an id discovery did not return;
    /// every other failure is recorded in the report.
    public func apply() async throws -> Report {
        let started = Date()
        let pool = makePool()
        control.attach(pool)
        var report = Report(tool: .init(), command: options.command, plan: .init(path: plan.path, sha256: plan.sha256),
                            database: ConnInfo.Target(), options: .init(dryRun: options.dryRun, concurrency: plan.concurrency,
                                                                        onError: plan.onError, maxFailures: plan.maxFailures,
                                                                        tenants: options.filter.only, exclude: options.filter.exclude,
                                                                        markApplied: options.markApplied ? true : nil, upTo: options.upTo),
                            startedAt: Timestamp.iso8601(started), finishedAt: "", durationMs: 0, summary: .init(),
                            sharedActions: [], tenants: [])
        do {
            _ = try markLimits()  // an unknown --up-to is a command-line error, found before connecting
            let (tenants, states, target) = try await discoverAndRead(pool: pool)
            report.database = target
            try await execute(tenants: tenants, states: states, pool: pool, report: &report)
        } catch let error as UnknownTenantsError {
            await pool.close()
            throw error
        } catch let error as UnknownMigrationError {
            await pool.close()
            throw error
        } catch {
            report.error = Report.ErrorInfo(error)
        }
        await pool.close()
        if control.isInterrupted { report.stopReason = .interrupted }
        report.summarize()
        let finished = Date()
        report.finishedAt = Timestamp.iso8601(finished)
        report.durationMs = Int(finished.timeIntervalSince(started) * 1000)
        return report
    }

    private func execute(tenants: [Tenant], states initialStates: [TenantState], pool: ConnectionPool, report: inout Report) async throws {
        let worker = TenantWorker(plan: plan, markLimits: try markLimits(), isInterrupted: { [control] in control.isInterrupted })
        var states = initialStates
        var results: [Report.TenantResult] = tenants.map {
            Report.TenantResult(id: $0.id, schema: $0.schema, status: .succeeded, unchanged: true, durationMs: 0,
                                format: nil, actions: [], error: $0.invalidReason.map { Report.ErrorInfo(message: $0) })
        }
        // Results are the report's even when something below throws.
        defer { report.tenants = results }
        var started = [Bool](repeating: false, count: tenants.count)
        var failed = [Bool](repeating: false, count: tenants.count)
        var failures = 0
        for index in tenants.indices where tenants[index].invalidReason != nil {
            failed[index] = true
            started[index] = true
            failures += 1
            results[index].status = .failed
            results[index].unchanged = false
            events(.tenantFinished(results[index], done: failures, failed: failures, total: tenants.count))
        }
        // The format found per tenant: the first tenant action's table, as the batched read saw it.
        if let first = graph.tenantActions.first {
            for index in tenants.indices where tenants[index].invalidReason == nil {
                results[index].format = states[index].tables[worker.trackingRef(for: first, tenantSchema: tenants[index].schema, id: tenants[index].id)]?.format
            }
        }
        // autoMigrateFormat: planned conversions (a dry run reports them; a tenant with one has work).
        var conversions = [[TrackingConverter.Conversion]](repeating: [], count: tenants.count)
        for index in tenants.indices where tenants[index].invalidReason == nil {
            conversions[index] = planConversions(tenant: tenants[index], state: states[index], worker: worker)
            guard !conversions[index].isEmpty, options.dryRun else { continue }
            results[index].conversions = conversions[index]
            results[index].convertedTo = conversions[index].first?.to
            results[index].unchanged = false
            if let refused = conversions[index].first(where: { !$0.isPossible }) {
                results[index].error = refused.refusal
                failed[index] = true
            }
        }
        var actionStatus: [String: Report.ActionResult.Status] = [:]
        var tenantActionFailed: [String: Bool] = [:]
        var stopReason: SlidingWindow.StopReason?

        for stage in graph.stages {
            // Shared actions, once each.
            for action in stage.shared {
                let blockers = action.after.filter { dependency in
                    if let status = actionStatus[dependency], status == .failed || status == .skipped { return true }
                    return tenantActionFailed[dependency] == true
                }
                let schema = action.sharedSchema ?? "public"
                var result: Report.ActionResult
                if stopReason != nil || control.isInterrupted {
                    result = .skipped(action, because: "the run stopped before this action", schema: schema)
                } else if !blockers.isEmpty {
                    result = .skipped(action, because: "it is after \(blockers.joined(separator: ", ")), which failed or was skipped", schema: schema)
                } else {
                    do {
                        let session = try await pool.acquire()
                        do {
                            if options.dryRun {
                                result = try await session.run { [self] in try planShared(action, schema: schema, worker: worker, on: $0) }
                            } else {
                                result = try await session.run { worker.runShared(action, schema: schema, on: $0) }
                            }
                        } catch {
                            result = .failed(action, error: Report.ErrorInfo(error), schema: schema)
                        }
                        await pool.release(session, countsAsTenant: false)
                    } catch {
                        result = .failed(action, error: Report.ErrorInfo(error), schema: schema)
                    }
                }
                actionStatus[action.name] = result.status
                report.sharedActions.append(result)
                events(.sharedFinished(result))
            }
            guard !stage.tenant.isEmpty else { continue }

            // Tenant actions of this stage blocked by a failed or skipped shared dependency.
            var skip: [String: String] = [:]
            for action in stage.tenant {
                let blockers = action.after.filter { dependency in
                    guard let status = actionStatus[dependency] else { return false }
                    return status == .failed || status == .skipped
                }
                if !blockers.isEmpty { skip[action.name] = "it is after \(blockers.joined(separator: ", ")), which failed or was skipped" }
            }

            // Tenants with work in this stage; the rest are settled from the batched read.
            var work: [Int] = []
            for index in tenants.indices {
                let tenant = tenants[index]
                if failed[index] {
                    if tenant.invalidReason == nil {
                        results[index].actions += stage.tenant.map { .skipped($0, because: "an earlier step of this tenant failed") }
                    }
                    continue
                }
                if let stopReason {
                    results[index].actions += stage.tenant.map { .skipped($0, because: "the run stopped (\(stopReason.rawValue))") }
                    continue
                }
                var needsWork = !states[index].schemaExists || !conversions[index].isEmpty
                var planned: [Report.ActionResult] = []
                var simulated = states[index]
                for action in stage.tenant {
                    if let reason = skip[action.name] {
                        planned.append(.skipped(action, because: reason))
                        continue
                    }
                    let plannedAction = planAction(action, tenant: tenant, state: &simulated, worker: worker)
                    if plannedAction.needsWork { needsWork = true }
                    planned.append(plannedAction.result)
                }
                if planned.allSatisfy({ $0.status == .skipped }) { needsWork = false }
                guard options.dryRun || !needsWork else {
                    work.append(index)
                    continue
                }
                // Settled without connecting: a dry run, or nothing to do.
                started[index] = true
                if options.dryRun, !states[index].schemaExists {
                    if plan.tenants.createSchemas {
                        results[index].createdSchema = true
                    } else {
                        results[index].error = Report.ErrorInfo(message: "schema \(tenant.schema) does not exist",
                                                                hint: "create it, or set tenants.createSchemas: true")
                        failed[index] = true
                    }
                }
                results[index].actions += planned
                if options.dryRun { states[index] = simulated }
                if planned.contains(where: { $0.status == .failed }) { failed[index] = true }
                if planned.contains(where: { $0.status == .pending }) || results[index].createdSchema == true { results[index].unchanged = false }
            }

            // Sliding window over the tenants with work.
            let budget = plan.maxFailures > 0 ? max(1, plan.maxFailures - failures) : 0
            let actions = stage.tenant
            let skipNow = skip
            var done = tenants.indices.filter { started[$0] && !work.contains($0) }.count
            let window = await sweep(work, pool: pool, maxFailures: budget, stopAtOnce: plan.onError == .abort && failures > 0,
                                     operation: { index, connection in
                                         worker.run(tenant: tenants[index], actions: actions, skip: skipNow, on: connection)
                                     },
                                     failure: { error in TenantWorker.Outcome(error: Report.ErrorInfo(error)) },
                                     succeeded: { !$0.failed },
                                     started: { started[$0] = true },
                                     finished: { index, outcome, duration in
                results[index].actions += outcome.actions
                results[index].durationMs += duration
                if outcome.createdSchema { results[index].createdSchema = true }
                if !outcome.failed {
                    states[index].schemaExists = true
                    conversions[index] = []
                }
                if !outcome.conversions.isEmpty {
                    results[index].conversions = outcome.conversions
                    results[index].convertedTo = outcome.conversions.first?.to
                }
                if let error = outcome.error { results[index].error = error }
                let changed = outcome.createdSchema || !outcome.conversions.isEmpty
                    || outcome.actions.contains { !$0.applied.isEmpty || $0.marked != nil || $0.deletedOrphans != nil }
                if changed { results[index].unchanged = false }
                if outcome.failed {
                    failed[index] = true
                    failures += 1
                    results[index].status = .failed
                    results[index].unchanged = false
                }
                done += 1
                events(.tenantFinished(results[index], done: done, failed: failures, total: tenants.count))
            })
            for position in window.notStarted {
                let index = work[position]
                results[index].actions += stage.tenant.map { .skipped($0, because: "the run stopped before this tenant started") }
            }
            if let reason = window.stopReason { stopReason = reason }
            for action in stage.tenant {
                tenantActionFailed[action.name] = tenants.indices.contains { index in
                    results[index].actions.contains { $0.name == action.name && ($0.status == .failed || $0.status == .skipped) }
                }
            }
        }
        // A plan with no tenant actions has nothing to start per tenant: its tenants succeed unchanged.
        if graph.tenantActions.isEmpty {
            for index in tenants.indices where tenants[index].invalidReason == nil { started[index] = true }
        }
        for index in tenants.indices {
            if failed[index] || results[index].error != nil || results[index].actions.contains(where: { $0.status == .failed }) {
                results[index].status = .failed
            } else if !started[index] || (!results[index].actions.isEmpty && results[index].actions.allSatisfy { $0.status == .skipped }) {
                results[index].status = .skipped
            }
            if results[index].status != .succeeded { results[index].unchanged = false }
        }
        report.stopReason = stopReason
    }

    /// Runs `operation` for the tenants at `work` (indices) in a sliding window over the pool:
    /// while work remains, exactly `pool.capacity` tenants are in flight. `finished` runs on the
    /// calling task, one tenant at a time. Returns the window (its stop reason, tenants not started).
    /// A tenant whose connection cannot be had or is lost gets `failure(error)` as its outcome.
    func sweep<Outcome: Sendable>(_ work: [Int], pool: ConnectionPool, onError: OnError? = nil, maxFailures: Int, stopAtOnce: Bool,
                                  operation: @escaping @Sendable (Int, PGConnection) -> Outcome,
                                  failure: @escaping @Sendable (Error) -> Outcome,
                                  succeeded: (Outcome) -> Bool,
                                  started: (Int) -> Void,
                                  finished: (Int, Outcome, Int) -> Void) async -> SlidingWindow {
        var window = SlidingWindow(total: work.count, concurrency: pool.capacity, onError: onError ?? plan.onError, maxFailures: maxFailures)
        if stopAtOnce { window.stop(.abortOnError) }
        let control = self.control
        await withTaskGroup(of: (Int, Outcome, Int).self) { group in
            func startMore() {
                while true {
                    if control.isInterrupted { window.interrupt() }
                    guard case .start(let position) = window.next() else { return }
                    let index = work[position]
                    started(index)
                    group.addTask {
                        let began = Date()
                        let outcome: Outcome
                        do {
                            let session = try await pool.acquire()
                            outcome = try await session.run { operation(index, $0) }
                            await pool.release(session)
                        } catch {
                            outcome = failure(error)
                        }
                        return (position, outcome, Int(Date().timeIntervalSince(began) * 1000))
                    }
                }
            }
            startMore()
            while let (position, outcome, duration) = await group.next() {
                let ok = succeeded(outcome)
                finished(work[position], outcome, duration)
                window.finish(position, succeeded: ok)
                startMore()
            }
        }
        return window
    }

    /// What a shared action would do (dry run), read on one connection.
    private func planShared(_ action: Action, schema: String, worker: TenantWorker, on connection: PGConnection) throws -> Report.ActionResult {
        let ref = TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: schema, id: ""), table: action.tracking.table)
        let state = try TrackingReader.read([ref], on: connection)[ref] ?? .missing
        let shared = Tenant(id: "", schema: schema)
        var simulated = TenantState(schemaExists: true, tables: [ref: state])
        var result = planAction(action, tenant: shared, state: &simulated, worker: worker, shared: true).result
        result.schema = schema
        let conversions = worker.conversionTargets([action], schemaFor: { _ in schema }, id: "").compactMap { ref, format in
            TrackingConverter.plan(state, table: ref, to: format, known: worker.known(in: ref, shared: true, tenantSchema: schema, id: ""))
        }
        if let refused = conversions.first(where: { !$0.isPossible }) {
            result.status = .failed
            result.error = refused.refusal
        } else if !conversions.isEmpty {
            result.conversions = conversions
            if result.status == .unchanged { result.status = .pending }
        }
        return result
    }
}

extension Action {
    /// The schema of a shared action (nil for tenant actions).
    var sharedSchema: String? {
        if case .shared(let schema) = scope { return schema }
        return nil
    }
}

extension Report {
    /// Fills `summary` from the tenants and actions.
    mutating func summarize() {
        var summary = Summary()
        summary.tenants = tenants.count
        summary.succeeded = tenants.filter { $0.status == .succeeded }.count
        summary.failed = tenants.filter { $0.status == .failed }.count
        summary.skipped = tenants.filter { $0.status == .skipped }.count
        summary.unchanged = tenants.filter { $0.status == .succeeded && $0.unchanged }.count
        let allActions = tenants.flatMap(\.actions) + sharedActions
        summary.migrationsApplied = allActions.reduce(0) { $0 + $1.applied.count }
        let marked = allActions.reduce(0) { $0 + ($1.marked?.count ?? 0) }
        if marked > 0 || options.markApplied == true { summary.migrationsMarked = marked }
        let converted = tenants.filter { $0.convertedTo != nil && $0.status == .succeeded }.count
        if converted > 0 { summary.tenantsConverted = converted }
        if options.dryRun {
            summary.migrationsPending = allActions.reduce(0) { $0 + ($1.status == .pending ? ($1.pending?.count ?? 0) : 0) }
        }
        self.summary = summary
    }
}
