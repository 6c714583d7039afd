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
    var sessionSetup: String {
        "SET statement_timeout = \(plan.database.statementTimeout.milliseconds);SET lock_timeout = \(plan.database.lockTimeout.milliseconds);SET client_min_messages = warning;SET standard_conforming_strings = on;SET client_encoding = 'UTF8';"
    }

    func makePool() -> ConnectionPool {
        ConnectionPool(conninfo: conninfo, overrides: ["application_name": plan.database.applicationName],
                       setup: sessionSetup, capacity: min(plan.concurrency, plan.database.maxConnections),
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
    /// work, and the action's entry for a dry-run report.
    func planAction(_ action: Action, tenant: Tenant, state: TenantState, worker: TenantWorker) -> (needsWork: Bool, result: Report.ActionResult) {
        let ref = worker.trackingRef(for: action, tenantSchema: tenant.schema, id: tenant.id)
        let table = state.tables[ref] ?? .missing
        var result = Report.ActionResult(name: action.name, status: .unchanged, durationMs: 0, applied: [])
        switch TenantWorker.format(for: action.tracking, state: table, table: ref) {
        case .failure(let error):
            result.status = .failed
            result.error = error
            return (true, result)
        case .success(let format):
            result.format = format
        }
        var pending: [Migration] = []
        var orphans: [TrackingState.Row] = []
        if let limit = worker.markLimits?[action.name] {
            pending = table.pending(TenantWorker.limited(action.recordable, by: limit))
        } else {
            switch action.kind {
            case .migrate, .sql: pending = table.pending(action.migrations)
            case .markApplied: pending = table.pending(action.recordable)
            case .sync(let set, let markMissing, let cleanOrphans):
                if markMissing { pending = table.pending(set.migrations) }
                if cleanOrphans { orphans = table.orphans(worker.known(in: ref, shared: false, tenantSchema: tenant.schema, id: tenant.id)) }
            }
        }
        if !pending.isEmpty { result.pending = pending.map(\.name) }
        if !orphans.isEmpty { result.deletedOrphans = orphans.map(\.key) }
        if !pending.isEmpty || !orphans.isEmpty { result.status = .pending }
        return (result.status == .pending, result)
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

    private func execute(tenants: [Tenant], states: [TenantState], pool: ConnectionPool, report: inout Report) async throws {
        // Per-tenant accumulated results.
        var results: [Report.TenantResult] = tenants.map {
            Report.TenantResult(id: $0.id, schema: $0.schema, status: .succeeded, unchanged: true, durationMs: 0,
                                format: nil, actions: [], error: $0.invalidReason.map { Report.ErrorInfo(message: $0) })
        }
        var started = [Bool](repeating: false, count: tenants.count)
        var failed = [Bool](repeating: false, count: tenants.count)
        for index in tenants.indices where tenants[index].invalidReason != nil {
            failed[index] = true
            started[index] = true
            results[index].status = .failed
            results[index].unchanged = false
            events(.tenantFinished(results[index], done: index + 1, failed: failed.filter { $0 }.count, total: tenants.count))
        }
        // Initial format per tenant, from the batched read (first tenant action's table).
        if let first = graph.tenantActions.first {
            for index in tenants.indices where tenants[index].invalidReason == nil {
                let ref = TrackingTableRef(schema: first.tracking.tableSchema(forTenantSchema: tenants[index].schema, id: tenants[index].id), table: first.tracking.table)
                results[index].format = states[index].tables[ref]?.format
            }
        }
        var actionStatus: [String: Report.ActionResult.Status] = [:]   // shared actions, and tenant actions aggregated
        var tenantActionFailed: [String: Bool] = [:]
        var stopReason: SlidingWindow.StopReason?
        var failures = failed.filter { $0 }.count
        let worker = TenantWorker(plan: plan, markLimits: try markLimits(), isInterrupted: { [control] in control.isInterrupted })
        // autoMigrateFormat: planned conversions (a dry run reports them; a tenant with one has work).
        var conversions = [[TrackingConverter.Conversion]](repeating: [], count: tenants.count)
        for index in tenants.indices where tenants[index].invalidReason == nil {
            conversions[index] = planConversions(tenant: tenants[index], state: states[index], worker: worker)
            guard !conversions[index].isEmpty, options.dryRun else { continue }
            results[index].conversions = conversions[index]
            results[index].convertedTo = conversions[index].first?.to
            results[index].unchanged = false
            if let refused = conversions[index].first(where: { !$0.isPossible }) {
                results[index].error = Report.ErrorInfo(message: "cannot convert \(refused.schema).\(refused.table) from \(refused.from.rawValue) to \(refused.to.rawValue): \(refused.unmatched.count) row(s) match no migration on disk: \(refused.unmatched.joined(separator: ", "))")
                failed[index] = true
            }
        }

        for stage in graph.stages {
            // Shared actions, once each.
            for action in stage.shared {
                let blockers = action.after.filter { dep in
                    if let status = actionStatus[dep], status == .failed || status == .skipped { return true }
                    return tenantActionFailed[dep] == true
                }
                var result: Report.ActionResult
                if stopReason != nil || control.isInterrupted {
                    result = .skipped(action, because: "the run stopped before this action", schema: action.sharedSchema)
                } else if !blockers.isEmpty {
                    result = .skipped(action, because: "it is after \(blockers.joined(separator: ", ")), which failed or was skipped", schema: action.sharedSchema)
                } else if options.dryRun {
                    result = try await dryRunShared(action, pool: pool)
                } else {
                    let session = try await pool.acquire()
                    let schema = action.sharedSchema ?? "public"
                    result = try await session.run { worker.runShared(action, schema: schema, on: $0) }
                    await pool.release(session, countsAsTenant: false)
                }
                actionStatus[action.name] = result.status
                report.sharedActions.append(result)
                events(.sharedFinished(result))
            }
            guard !stage.tenant.isEmpty else { continue }

            // Which tenant actions of this stage are blocked by a failed shared dependency.
            var skip: [String: String] = [:]
            for action in stage.tenant {
                let blockers = action.after.filter { dep in
                    guard let status = actionStatus[dep] else { return false }
                    return status == .failed || status == .skipped
                }
                if !blockers.isEmpty { skip[action.name] = "it is after \(blockers.joined(separator: ", ")), which failed or was skipped" }
            }

            // Tenants with work in this stage; the rest are settled from the batched read.
            var work: [Int] = []
            for index in tenants.indices where !failed[index] {
                let tenant = tenants[index]
                var needsWork = !states[index].schemaExists || !conversions[index].isEmpty
                var planned: [Report.ActionResult] = []
                for action in stage.tenant {
                    if let reason = skip[action.name] {
                        planned.append(.skipped(action, because: reason))
                        continue
                    }
                    let plannedAction = planAction(action, tenant: tenant, state: states[index], worker: worker)
                    if plannedAction.needsWork { needsWork = true }
                    planned.append(plannedAction.result)
                }
                if options.dryRun || stopReason != nil || !needsWork {
                    if !states[index].schemaExists {
                        if !plan.tenants.createSchemas {
                            results[index].error = Report.ErrorInfo(message: "schema \(tenant.schema) does not exist",
                                                                    hint: "create it, or set tenants.createSchemas: true")
                            failed[index] = true
                        } else {
                            results[index].createdSchema = true
                        }
                    }
                    if stopReason != nil {
                        results[index].actions += stage.tenant.map { .skipped($0, because: "the run stopped (\(stopReason!.rawValue))") }
                        continue
                    }
                    results[index].actions += planned
                    if planned.contains(where: { $0.status == .failed }) { failed[index] = true }
                    if options.dryRun { started[index] = true }
                    if planned.contains(where: { $0.status == .pending }) || results[index].createdSchema == true { results[index].unchanged = false }
                    if !needsWork { started[index] = true }
                } else {
                    work.append(index)
                }
            }

            // Sliding window over the tenants with work.
            let budget = plan.maxFailures > 0 ? max(1, plan.maxFailures - failures) : 0
            let actions = stage.tenant
            let skipNow = skip
            var done = tenants.indices.filter { started[$0] && !work.contains($0) }.count
            let window = try await sweep(work, pool: pool, maxFailures: budget, stopAtOnce: plan.onError == .abort && failures > 0,
                                         operation: { index, connection in
                                             worker.run(tenant: tenants[index], actions: actions, skip: skipNow, on: connection)
                                         },
                                         succeeded: { !$0.failed },
                                         started: { started[$0] = true },
                                         finished: { index, outcome, duration in
                results[index].actions += outcome.actions
                results[index].durationMs += duration
                if outcome.createdSchema { results[index].createdSchema = true }
                if !outcome.conversions.isEmpty {
                    results[index].conversions = outcome.conversions
                    results[index].convertedTo = outcome.conversions.first?.to
                }
                if results[index].format == nil { results[index].format = outcome.format }
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
        for index in tenants.indices {
            if failed[index] || results[index].error != nil || results[index].actions.contains(where: { $0.status == .failed }) {
                results[index].status = .failed
            } else if !started[index] {
                results[index].status = .skipped
            }
            if results[index].status != .succeeded { results[index].unchanged = false }
        }
        report.stopReason = stopReason
        report.tenants = results
    }

    /// Runs `operation` for the tenants at `work` (indices) in a sliding window over the pool:
    /// while work remains, exactly `pool.capacity` tenants are in flight. `finished` runs on the
    /// calling task, one tenant at a time. Returns the window (its stop reason, tenants not started).
    func sweep<Outcome: Sendable>(_ work: [Int], pool: ConnectionPool, maxFailures: Int, stopAtOnce: Bool,
                                  operation: @escaping @Sendable (Int, PGConnection) -> Outcome,
                                  succeeded: (Outcome) -> Bool,
                                  started: (Int) -> Void,
                                  finished: (Int, Outcome, Int) -> Void) async throws -> SlidingWindow {
        var window = SlidingWindow(total: work.count, concurrency: pool.capacity, onError: plan.onError, maxFailures: maxFailures)
        if stopAtOnce { window.stop(.abortOnError) }
        let control = self.control
        try await withThrowingTaskGroup(of: (Int, Outcome, Int).self) { group in
            func startMore() {
                while true {
                    if control.isInterrupted { window.interrupt() }
                    guard case .start(let position) = window.next() else { return }
                    let index = work[position]
                    started(index)
                    group.addTask {
                        let began = Date()
                        let session = try await pool.acquire()
                        let outcome = try await session.run { operation(index, $0) }
                        await pool.release(session)
                        return (position, outcome, Int(Date().timeIntervalSince(began) * 1000))
                    }
                }
            }
            startMore()
            while let (position, outcome, duration) = try await group.next() {
                let ok = succeeded(outcome)
                finished(work[position], outcome, duration)
                window.finish(position, succeeded: ok)
                startMore()
            }
        }
        return window
    }

    private func dryRunShared(_ action: Action, pool: ConnectionPool) async throws -> Report.ActionResult {
        let schema = action.sharedSchema ?? "public"
        let table = TrackingTableRef(schema: action.tracking.tableSchema(forTenantSchema: schema, id: ""), table: action.tracking.table)
        let session = try await pool.acquire()
        defer { Task { await pool.release(session, countsAsTenant: false) } }
        let state = try await session.run { try TrackingReader.read([table], on: $0)[table] ?? .missing }
        var result = Report.ActionResult(name: action.name, schema: schema, status: .unchanged, durationMs: 0, applied: [])
        switch TenantWorker.format(for: action.tracking, state: state, table: table) {
        case .failure(let error):
            result.status = .failed
            result.error = error
        case .success(let format):
            result.format = format
            let pending = state.pending(action.migrations)
            if !pending.isEmpty {
                result.status = .pending
                result.pending = pending.map(\.name)
            }
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
