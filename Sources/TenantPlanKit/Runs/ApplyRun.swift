import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `apply` and its dry run (`plan`): each stage's shared actions, then a sliding-window sweep of
/// the tenants with work in that stage. Tenants with nothing to do are settled from the batched
/// read and never locked. Decisions come from `StepPlanner` and `RunStateMachine`.
struct ApplyRun {
    let session: RunSession
    let options: RunOptions
    let planner: StepPlanner

    var plan: Plan { session.plan }
    var graph: ExecutionGraph { session.graph }

    init(session: RunSession, options: RunOptions) throws(TenantPlanError) {
        self.session = session
        self.options = options
        let limits = try Self.markLimits(options, graph: session.graph)
        self.planner = StepPlanner(
            mode: limits.map(PlanningMode.markApplied) ?? .apply, outOfOrder: session.plan.outOfOrder)
    }

    /// `--mark-applied [--up-to NAME]`: how far each action records. Throws when no action holds
    /// NAME, or several do (then `ACTION:NAME` says which). With `--tenant` or `--exclude` the run is
    /// about some tenants: shared actions record nothing.
    static func markLimits(_ options: RunOptions, graph: ExecutionGraph) throws(TenantPlanError) -> [String: MarkLimit]?
    {
        guard options.markApplied else { return nil }
        let order = graph.stages.flatMap { $0.shared + $0.tenant }
        let someTenants = !options.filter.only.isEmpty || !options.filter.exclude.isEmpty
        func base(_ action: Action) -> MarkLimit { someTenants && action.scope.isShared ? .untouched : .all }
        guard let upTo = options.upTo else {
            return Dictionary(uniqueKeysWithValues: order.map { ($0.name, base($0)) })
        }
        var name = upTo
        var candidates = order
        if let colon = upTo.firstIndex(of: ":"), order.contains(where: { $0.name == upTo[..<colon] }) {
            name = String(upTo[upTo.index(after: colon)...])
            candidates = order.filter { $0.name == upTo[..<colon] }
        }
        let holders = candidates.filter { $0.recordable.contains { $0.name == name } }
        guard let holder = holders.first else {
            throw .unknownMigration(upTo, known: order.flatMap(\.recordable).map(\.name))
        }
        guard holders.count == 1 else { throw .ambiguousMigration(name, actions: holders.map(\.name)) }
        let holderIndex = order.firstIndex { $0.name == holder.name }!
        var limits: [String: MarkLimit] = [:]
        for (index, action) in order.enumerated() {
            if someTenants, action.scope.isShared {
                limits[action.name] = .untouched
            } else {
                limits[action.name] = index < holderIndex ? .all : index == holderIndex ? .through(name) : .nothing
            }
        }
        return limits
    }

    var executor: TenantExecutor {
        TenantExecutor(
            planner: planner, isInterrupted: { [control = session.control] in control.isInterrupted },
            lockWait: plan.database.lockWait, statementTimeout: plan.database.statementTimeout,
            lockTimeout: plan.database.lockTimeout, pooling: session.pooling,
            lockWaiting: { [events = session.events, wait = plan.database.lockWait] target, holder in
                events(
                    .waitingForLock(
                        tenant: target.id, schema: target.schema, holder: holder, lockWait: Int(wait.milliseconds)))
            },
            migrating: { [events = session.events] target, migrations in
                events(.migrating(tenant: target.id, schema: target.schema, migrations: migrations))
            })
    }

    /// Runs the plan. Throws `TenantPlanError` for an invalid command line (an unknown `--tenant`);
    /// every other failure is recorded in the report.
    func run() async throws(TenantPlanError) -> Report {
        let started = Date()
        var report = Report(plan: plan, command: options.command, options: options, startedAt: started)
        do {
            let snapshot = try await session.snapshot(speculation: speculation)
            report.database = snapshot.target
            let warnings = FormatResolution.newTableWarnings(
                graph.tenantActions, tables: snapshot.validIndices.map { snapshot.tables[$0] },
                states: snapshot.validIndices.map { snapshot.states[$0].tables })
            for warning in warnings { session.events(.warning(warning)) }
            if !warnings.isEmpty { report.warnings = warnings }
            var progress = ApplyProgress(snapshot: snapshot, plan: plan, events: session.events)
            for (number, stage) in graph.stages.enumerated() {
                progress.keepsFinalStates = graph.stages.dropFirst(number + 1).contains { !$0.tenant.isEmpty }
                await runShared(stage, progress: &progress, report: &report)
                await runTenants(stage, progress: &progress)
            }
            progress.finish(hasTenantActions: !graph.tenantActions.isEmpty)
            report.tenants = progress.results
            report.stopReason = progress.machine.stopReason
            if report.stopReason == .identicalFailures { report.stopDetail = progress.identical.detail }
            if report.stopReason == .databaseUnreachable { report.stopDetail = session.circuit?.gaveUp }
        } catch let error as TenantPlanError {
            await session.close()
            throw error
        } catch {
            report.error = Report.ErrorInfo(error)
        }
        let pool = session.pool
        let usage = await pool.usage
        report.connections = Report.Connections(
            opened: await pool.opened, recycled: await pool.recycled, active: usage.open - usage.idle, idle: usage.idle,
            waiting: usage.waiting)
        await session.close()
        report.finish(started: started, interrupted: session.control.isInterrupted)
        return report
    }

    /// The speculative read (`Speculation`), for a real run whose tenant actions are all in one
    /// stage (a later stage would plan against what the first leaves).
    private var speculation: Speculation? {
        let stages = graph.stages.filter { !$0.tenant.isEmpty }
        guard !options.dryRun, stages.count == 1, let stage = stages.first else { return nil }
        let (planner, plan) = (self.planner, self.plan)
        var speculation = Speculation { index, state, snapshot in
            let steps = planner.steps(
                for: .tenant(snapshot.tenants[index], plan: plan), actions: stage.tenant,
                tables: snapshot.tables[index],
                asRead: state, createdByRun: false, skip: [:])
            return steps.hasWork && steps.onlyRunsMigrations
        }
        speculation.minimum = options.assumeFrom
        return speculation
    }

    // MARK: - Shared actions

    private func runShared(_ stage: ExecutionGraph.Stage, progress: inout ApplyProgress, report: inout Report) async {
        for action in stage.shared {
            let schema = action.sharedSchema ?? "public"
            let result: Report.ActionResult
            switch progress.machine.gate(shared: action, interrupted: session.control.isInterrupted) {
            case .skip(let reason):
                result = .skipped(action, because: reason, schema: schema)
            case .run:
                result = await runShared(action, progress: &progress)
            }
            progress.machine.finished(shared: action, status: result.status)
            report.sharedActions.append(result)
            session.events(.sharedFinished(result))
        }
    }

    private func runShared(_ action: Action, progress: inout ApplyProgress) async -> Report.ActionResult {
        let target = StepTarget.shared(action)
        let tables = TenantTables(shared: action, graph: graph)
        let executor = self.executor
        let planner = self.planner
        let known = progress.sharedStates
        do {
            if options.dryRun {
                let steps = try await session.withConnection { connection in
                    let missing = tables.refs.filter { known[$0] == nil }
                    var states = known
                    states.merge(try TrackingReader.read(missing, on: connection)) { first, _ in first }
                    return planner.steps(
                        for: target, actions: [action], tables: tables, existingSchemas: [target.schema], states: states
                    )
                }
                progress.sharedStates.merge(steps.finalStates) { _, new in new }
                return .plannedShared(steps, schema: target.schema)
            }
            let session = self.session
            let once: @Sendable () async -> TenantExecutor.Outcome = {
                do {
                    return try await session.withConnection { connection in
                        executor.run(target, actions: [action], tables: tables, skip: [:], on: connection)
                    }
                } catch {
                    return TenantExecutor.Outcome(error: Report.ErrorInfo(error))
                }
            }
            let rule = ApplyRetry.rule(
                plan: plan, actions: [action], name: { _ in ("shared " + action.name, target.schema) },
                events: session.events)
            let outcome =
                if let rule {
                    await rule.run(index: 0, interrupted: { session.control.isInterrupted }, attempt: once)
                } else {
                    await once()
                }
            if outcome.actions.isEmpty, let error = outcome.error {
                return .failed(action, error: error, schema: target.schema)
            }
            return .executedShared(outcome, action: action, schema: target.schema)
        } catch {
            return .failed(
                action, error: Report.ErrorInfo(error), schema: target.schema)
        }
    }

    // MARK: - Tenant actions

    private func runTenants(_ stage: ExecutionGraph.Stage, progress: inout ApplyProgress) async {
        guard !stage.tenant.isEmpty else { return }
        let skip = progress.machine.blocked(in: stage)
        let everyActionBlocked = stage.tenant.allSatisfy { skip[$0.name] != nil }
        var planned: [Int: TenantExecutor.AsRead] = [:]
        var work: [Int] = []
        for index in progress.snapshot.tenants.indices {
            switch progress.machine.gate(tenant: index) {
            case .skip(let reason):
                if progress.snapshot.tenants[index].invalidReason == nil {
                    progress.results[index].actions += stage.tenant.map { .skipped($0, because: reason) }
                }
            case .run:
                var steps = progress.plannedSteps(index, stage: stage, skip: skip, planner: planner)
                // Assumed rows (`Speculation`) are only for the one-trip path, which checks them;
                // anything else about such a tenant is decided under its lock, on rows read there.
                let assumed =
                    !everyActionBlocked && progress.asRead(index)?.tables.values.contains { $0.speculative } == true
                if steps.hasWork || assumed, !options.dryRun {
                    work.append(index)
                    // The one-trip path carries out these steps, planned from the batched read.
                    if steps.hasWork, steps.onlyRunsMigrations, let state = progress.asRead(index) {
                        if !progress.keepsFinalStates { steps.finalStates = [:] }
                        planned[index] = TenantExecutor.AsRead(state: state, steps: steps)
                    }
                } else {
                    progress.settle(index, steps: steps, dryRun: options.dryRun)
                }
            }
        }
        var stop: SlidingWindow.StopReason?
        if !work.isEmpty {
            progress.beginSweep(work)
            let window = await sweep(work, stage: stage, skip: skip, planned: planned, progress: &progress)
            for position in window.notStarted {
                progress.results[work[position]].actions += stage.tenant.map {
                    .skipped($0, because: "the run stopped before this tenant started")
                }
            }
            stop = window.stopReason
        }
        progress.machine.finishedStage(stage, stop: stop, results: progress.results)
    }

    /// `planned`: by tenant, the steps planned from the batched read for the one-trip path.
    private func sweep(
        _ work: [Int], stage: ExecutionGraph.Stage, skip: [String: String], planned: [Int: TenantExecutor.AsRead],
        progress: inout ApplyProgress
    ) async -> SlidingWindow {
        let limits = progress.machine.windowLimits
        let sweep = Sweep(
            pool: session.pool, control: session.control, onError: plan.onError, maxFailures: limits.maxFailures,
            stopAtOnce: limits.stop, circuit: options.dryRun ? nil : session.circuit)
        let executor = self.executor
        let snapshot = progress.snapshot
        let plan = self.plan
        let created = Set(work.filter { progress.results[$0].createdSchema == true })
        return await sweep.run(
            work,
            operation: { index, connection in
                executor.run(
                    .tenant(snapshot.tenants[index], plan: plan), actions: stage.tenant, tables: snapshot.tables[index],
                    skip: skip, createdByRun: created.contains(index), asRead: planned[index], on: connection)
            },
            failure: { TenantExecutor.Outcome(error: Report.ErrorInfo($0)) },
            succeeded: { !$0.failed },
            started: { index in
                progress.machine.started(tenant: index)
                let tenant = snapshot.tenants[index]
                session.events(.tenantStarted(tenant: tenant.id, schema: tenant.schema))
            },
            finished: { index, outcome, duration in progress.finished(index, outcome: outcome, durationMs: duration) },
            shouldStop: { progress.identical.tripped == nil ? nil : .identicalFailures },
            retry: options.dryRun
                ? nil
                : ApplyRetry.rule(
                    plan: plan, actions: stage.tenant, name: { (snapshot.tenants[$0].id, snapshot.tenants[$0].schema) },
                    events: session.events),
            unreachable: { $0.failure?.unreachable == true })
    }
}

extension Report.ActionResult {
    /// A shared action's dry-run result: its step, and the conversion `autoMigrateFormat` would make.
    static func plannedShared(_ steps: TenantSteps, schema: String) -> Self {
        var result = Self.planned(steps.actions[0], schema: schema)
        if let error = steps.error {
            result.status = .failed
            result.error = error
            result.skippedBecause = nil
        } else if !steps.conversions.isEmpty {
            result.conversions = steps.conversions
            if result.status == .unchanged { result.status = .pending }
        }
        return result
    }

    /// A shared action's result from what the executor did.
    static func executedShared(_ outcome: TenantExecutor.Outcome, action: Action, schema: String) -> Self {
        guard outcome.error == nil, var result = outcome.actions.first else {
            return .failed(
                action, error: outcome.error ?? Report.ErrorInfo(message: "the action did not run"), schema: schema)
        }
        result.schema = schema
        if !outcome.conversions.isEmpty { result.conversions = outcome.conversions }
        if outcome.attempts > 1 { result.attempts = outcome.attempts }
        return result
    }
}
