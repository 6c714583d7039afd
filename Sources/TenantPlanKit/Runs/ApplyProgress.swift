import TenantPlanSpec

/// What an apply run knows as it goes: each tenant's result so far, its tracking tables as last
/// read (or as the run left them), and the run's state machine.
struct ApplyProgress {
    let snapshot: Snapshot
    let plan: Plan
    let events: @Sendable (RunEvent) -> Void
    var results: [Report.TenantResult]
    var machine: RunStateMachine
    /// Per tenant, the tables as the batched read saw them, updated as the run writes them.
    var states: [TenantState]
    /// Shared tracking tables as a dry run leaves them (later shared actions plan against them).
    var sharedStates: [TrackingTableRef: TrackingState] = [:]
    /// Whether a later stage plans against what this one leaves (`finished` keeps each tenant's
    /// final tables then; without a later stage with tenant actions, holding them for thousands of
    /// tenants is memory for nothing).
    var keepsFinalStates = true
    /// Tenants whose `states` hold what this run wrote, no longer what the batched read saw.
    private var rewritten: Set<Int> = []
    /// Tenants settled or finished, for progress events.
    private var done = 0
    /// The same migration failing the same way on tenant after tenant stops the run.
    var identical: IdenticalFailures

    init(snapshot: Snapshot, plan: Plan, events: @escaping @Sendable (RunEvent) -> Void) {
        self.snapshot = snapshot
        self.plan = plan
        self.events = events
        self.states = snapshot.states
        self.identical = IdenticalFailures(limit: plan.stopAfterIdenticalFailures)
        self.machine = RunStateMachine(
            invalid: snapshot.tenants.map { $0.invalidReason != nil }, onError: plan.onError,
            maxFailures: plan.maxFailures)
        self.results = snapshot.tenants.map { tenant in
            Report.TenantResult(
                id: tenant.id, schema: tenant.schema, status: .succeeded, unchanged: true, durationMs: 0, format: nil,
                actions: [], error: tenant.invalidReason.map { Report.ErrorInfo(message: $0) })
        }
        reportInvalidTenants()
        recordFoundFormats()
    }

    /// Tenants whose id makes no valid schema failed before anything ran.
    private mutating func reportInvalidTenants() {
        for index in snapshot.tenants.indices where snapshot.tenants[index].invalidReason != nil {
            results[index].status = .failed
            results[index].unchanged = false
            done += 1
            events(.tenantFinished(results[index], done: done, failed: machine.failures, total: results.count))
        }
    }

    /// The format found per tenant: the first tenant action's table, as the batched read saw it.
    private mutating func recordFoundFormats() {
        guard let first = ExecutionGraph(plan: plan).tenantActions.first else { return }
        for index in snapshot.validIndices {
            results[index].format = states[index].tables[snapshot.tables[index].ref(for: first)]?.format
        }
    }

    /// The steps of `stage` for tenant `index`, from what the run knows of its tables (no lock).
    func plannedSteps(
        _ index: Int, stage: ExecutionGraph.Stage, skip: [String: String], planner: StepPlanner
    ) -> TenantSteps {
        planner.steps(
            for: .tenant(snapshot.tenants[index], plan: plan), actions: stage.tenant, tables: snapshot.tables[index],
            asRead: states[index], createdByRun: results[index].createdSchema == true, skip: skip)
    }

    /// Tenant `index`'s tables as the batched read saw them, unless this run wrote them since.
    func asRead(_ index: Int) -> TenantState? {
        rewritten.contains(index) ? nil : states[index]
    }

    /// A tenant decided without connecting: a dry run, or nothing to do.
    mutating func settle(_ index: Int, steps: TenantSteps, dryRun: Bool) {
        machine.started(tenant: index)
        results[index].addPlanned(steps)
        if dryRun {
            states[index].tables.merge(steps.finalStates) { _, new in new }
            if steps.createsOwnSchema { states[index].schemaExists = true }
        }
        if steps.error != nil || results[index].actions.contains(where: { $0.status == .failed }) {
            machine.failed(tenant: index, countsTowardLimits: false)
        }
    }

    /// A stage's sweep starts: every tenant started so far and not in `work` counts as done.
    mutating func beginSweep(_ work: [Int]) {
        let running = Set(work)
        done = snapshot.tenants.indices.filter { machine.hasStarted($0) && !running.contains($0) }.count
    }

    /// A tenant the sweep ran.
    mutating func finished(_ index: Int, outcome: TenantExecutor.Outcome, durationMs: Int) {
        results[index].add(outcome, durationMs: durationMs)
        identical.record(
            applied: outcome.actions.flatMap(\.applied).map(\.name),
            failure: outcome.actions.first { $0.status == .failed }?.error)
        if outcome.failed {
            machine.failed(tenant: index)
        } else {
            states[index].schemaExists = true
            if keepsFinalStates { states[index].tables.merge(outcome.finalStates) { _, new in new } }
            rewritten.insert(index)
        }
        done += 1
        events(.tenantFinished(results[index], done: done, failed: machine.failures, total: results.count))
    }

    /// Every tenant's final status.
    mutating func finish(hasTenantActions: Bool) {
        for index in results.indices {
            results[index].status = machine.finalStatus(of: index, results[index], hasTenantActions: hasTenantActions)
            if results[index].status != .succeeded { results[index].unchanged = false }
        }
    }
}

extension Report.TenantResult {
    /// Adds what the executor did on the tenant.
    mutating func add(_ outcome: TenantExecutor.Outcome, durationMs: Int) {
        actions += outcome.actions
        self.durationMs += durationMs
        if outcome.createdSchema { createdSchema = true }
        if !outcome.conversions.isEmpty {
            conversions = outcome.conversions
            convertedTo = outcome.conversions.first?.to
        }
        if let error = outcome.error { self.error = error }
        if outcome.attempts > 1 { attempts = (attempts ?? 1) + outcome.attempts - 1 }
        let changed =
            outcome.createdSchema || !outcome.conversions.isEmpty
            || outcome.actions.contains { !$0.applied.isEmpty || $0.marked != nil || $0.deletedOrphans != nil }
        if changed || outcome.failed { unchanged = false }
        if outcome.failed { status = .failed }
    }
}
