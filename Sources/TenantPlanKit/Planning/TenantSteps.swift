import TenantPlanSpec

/// Where a group of actions runs: one tenant's schema, or one shared action's schema.
public struct StepTarget: Sendable {
    /// The tenant id ("" for a shared action).
    public var id: String
    public var schema: String
    public var isShared: Bool
    /// A missing schema is created: always for shared actions, with `tenants.createSchemas` for tenants.
    public var createsSchema: Bool
    /// `search_path` while its migrations run.
    public var searchPath: [String]

    public static func tenant(_ tenant: Tenant, plan: Plan) -> StepTarget {
        let path = plan.tenants.searchPath.map { Template.expand($0, schema: tenant.schema, id: tenant.id) }
        return StepTarget(
            id: tenant.id, schema: tenant.schema, isShared: false, createsSchema: plan.tenants.createSchemas,
            searchPath: path)
    }

    public static func shared(_ action: Action) -> StepTarget {
        let schema = action.sharedSchema ?? "public"
        return StepTarget(
            id: "", schema: schema, isShared: true, createsSchema: true,
            searchPath: schema == "public" ? ["public"] : [schema, "public"])
    }
}

/// Everything a group of actions would do on one target, in order: create schemas, convert
/// tracking tables (`autoMigrateFormat`), then each action's step. The dry run renders it, the
/// executor carries it out; both get it from `StepPlanner`.
public struct TenantSteps: Sendable {
    /// Schemas to create first (the target's own first).
    public var createSchemas: [String] = []
    /// The target's own schema is among `createSchemas`.
    public var createsOwnSchema = false
    /// Why nothing can run (missing schema, refused conversion); the actions are skipped.
    public var error: Report.ErrorInfo?
    public var conversions: [TrackingConverter.Conversion] = []
    public var actions: [ActionStep] = []
    /// The tracking tables as they read once every step is carried out.
    public var finalStates: [TrackingTableRef: TrackingState] = [:]
    /// Every action is blocked (by a failed dependency): nothing runs, whatever else is missing.
    public var allBlocked = false

    /// Something to do (or to fail): the target must be locked and the steps carried out.
    public var hasWork: Bool {
        if allBlocked { return false }
        if error != nil || !createSchemas.isEmpty || !conversions.isEmpty { return true }
        return actions.contains { step in
            switch step.decision {
            case .change, .failed: return true
            case .unchanged, .skipped: return false
            }
        }
    }
}

extension TenantSteps {
    /// The steps only run transactional migrations of one action, into a table that exists: what
    /// `TenantExecutor.runAsRead` sends in one round trip behind a check that nothing changed.
    /// (Creating or converting tables, records without running, orphans, several actions,
    /// migrations outside a transaction or unchecked by the parser take the locked path.)
    public var onlyRunsMigrations: Bool {
        guard error == nil, createSchemas.isEmpty, conversions.isEmpty, !allBlocked else { return false }
        var changes = 0
        for step in actions {
            switch step.decision {
            case .unchanged, .skipped: continue
            case .failed: return false
            case .change(let change):
                guard !step.deferred, step.action.transaction != .none, !change.createTable, !change.run.isEmpty,
                    change.mark.isEmpty, change.deleteOrphans.isEmpty, change.acceptEdits.isEmpty,
                    !change.run.contains(where: { $0.noTransaction || $0.skipsParser })
                else { return false }
                changes += 1
            }
        }
        return changes == 1
    }
}

/// Decides the steps of a group of actions on one target from its tracking tables: the one
/// place where "what would this run do" is answered, for dry runs and real runs (before and
/// under the lock). `sync` and `convert-tracking` decide with `MaintenanceSteps`.
public struct StepPlanner: Sendable {
    public var mode: PlanningMode
    /// Whether a pending migration that sorts before the latest applied one may run.
    public var outOfOrder: OutOfOrder

    public init(mode: PlanningMode = .apply, outOfOrder: OutOfOrder = .refuse) {
        self.mode = mode
        self.outOfOrder = outOfOrder
    }

    /// - Parameters:
    ///   - existingSchemas: which of the target's schemas exist.
    ///   - populated: the target's schema holds objects (with no tracking table at all, a tenant
    ///     migrated by hand or by another tool: running its migrations from scratch is refused).
    ///   - states: the tracking tables as read (tables absent here read as missing).
    ///   - skip: actions not to run, with the reason.
    ///   - createdByRun: an earlier stage of this run created the target's schema.
    public func steps(
        for target: StepTarget, actions: [Action], tables: TenantTables, existingSchemas: Set<String>,
        populated: Bool = false, createdByRun: Bool = false, states initial: [TrackingTableRef: TrackingState],
        skip: [String: String] = [:]
    ) -> TenantSteps {
        var steps = TenantSteps()
        var states = initial
        let refs = actions.map { tables.ref(for: $0) }
        steps.error = schemaSteps(target, refs: refs, existing: existingSchemas, into: &steps)
        if steps.error == nil {
            steps.error = conversionSteps(tables, states: &states, into: &steps)
        }
        for (action, ref) in zip(actions, refs) {
            if let reason = skip[action.name] ?? steps.error.map({ _ in "an earlier step of this tenant failed" }) {
                steps.actions.append(.skipped(action, table: ref, because: reason))
                continue
            }
            let state = states[ref] ?? .missing
            let step = ActionStep.decide(
                action, table: ref, state: state, known: tables.known(in: ref), mode: mode,
                freshSchema: steps.createsOwnSchema || createdByRun)
            if steps.error == nil {
                steps.error = HistoryCheck.refusal(
                    step, state: state, folders: tables.table(ref)?.folders ?? [], known: tables.known(in: ref),
                    folderCount: tables.table(ref)?.folderSets.count ?? 1, outOfOrder: outOfOrder)
            }
            if let change = step.change { states[ref] = change.applied(to: state) }
            steps.actions.append(step)
        }
        if steps.error != nil, !steps.actions.allSatisfy({ $0.isSkipped }) {
            // Refused before anything runs: nothing of this tenant is carried out.
            steps.actions = actions.map {
                .skipped($0, table: tables.ref(for: $0), because: "an earlier step of this tenant failed")
            }
        }
        if populated, steps.error == nil, !target.isShared, tables.refs.allSatisfy({ initial[$0]?.exists != true }),
            let first = steps.actions.first(where: { $0.change?.createTable == true && $0.change?.run.isEmpty == false }
            )
        {
            steps.error = Self.adoptionRefusal(target, table: first.table, migration: first.change?.run.first?.name)
            steps.actions = actions.map {
                .skipped($0, table: tables.ref(for: $0), because: "an earlier step of this tenant failed")
            }
        }
        steps.finalStates = states
        steps.allBlocked = !actions.isEmpty && actions.allSatisfy { skip[$0.name] != nil }
        return steps
    }

    /// The steps of `actions` for a tenant from its tables as the batched read saw them (`state`).
    /// The read checks the tenant's schema only: its other tracking schemas are taken to exist
    /// (the locked path checks them).
    func steps(
        for target: StepTarget, actions: [Action], tables: TenantTables, asRead state: TenantState,
        createdByRun: Bool, skip: [String: String]
    ) -> TenantSteps {
        var existing = Set(tables.schemas).subtracting([target.schema])
        if state.schemaExists { existing.insert(target.schema) }
        return steps(
            for: target, actions: actions, tables: tables, existingSchemas: existing, populated: state.populated,
            createdByRun: createdByRun, states: state.tables, skip: skip)
    }

    /// A tenant whose schema holds objects but that has no tracking table: migrated by hand or by
    /// another tool. Running every migration from scratch would fail or do things twice.
    static func adoptionRefusal(_ target: StepTarget, table: TrackingTableRef, migration: String?) -> Report.ErrorInfo {
        Report.ErrorInfo(
            message: "schema \(target.schema) already holds objects but has no tracking table "
                + "(\(table.schema).\(table.table)): it was migrated by hand or by another tool, and running "
                + (migration.map { "\($0) and the rest" } ?? "its migrations")
                + " from scratch would fail or do things twice",
            hint: "record what it already has: `tenantplan apply PLAN --mark-applied --up-to NAME --tenant "
                + "\(target.id)` (NAME: the last migration it has), or begin the plan with a markApplied action; "
                + "then apply")
    }

    private func schemaSteps(
        _ target: StepTarget, refs: [TrackingTableRef], existing: Set<String>, into steps: inout TenantSteps
    ) -> Report.ErrorInfo? {
        if !existing.contains(target.schema) {
            if case .markApplied = mode {
                // Recording migrations as applied in a schema that does not exist would claim what never ran.
                return Report.ErrorInfo(
                    message: "schema \(target.schema) does not exist: --mark-applied records what a schema already has",
                    hint: "leave this tenant out (--exclude), or create and migrate it with `tenantplan apply`")
            }
            guard target.createsSchema else {
                return Report.ErrorInfo(
                    message: "schema \(target.schema) does not exist",
                    hint: "create it, or set tenants.createSchemas: true")
            }
            steps.createSchemas.append(target.schema)
            steps.createsOwnSchema = true
        }
        var seen: Set<String> = [target.schema]
        for schema in refs.map(\.schema) where !existing.contains(schema) && seen.insert(schema).inserted {
            steps.createSchemas.append(schema)
        }
        return nil
    }

    /// `autoMigrateFormat`: every table in the plan's format before any action runs, or nothing changes.
    private func conversionSteps(
        _ tables: TenantTables, states: inout [TrackingTableRef: TrackingState], into steps: inout TenantSteps
    ) -> Report.ErrorInfo? {
        let targets = FormatResolution.conversionTargets(tables)
        if let unreadable = targets.compactMap({ states[$0.0]?.readError }).first {
            return Report.ErrorInfo(message: unreadable, hint: "nothing was converted")
        }
        let conversions = FormatResolution.plannedConversions(tables, states: states)
        if let refused = conversions.first(where: { !$0.isPossible }) {
            steps.conversions = conversions
            return refused.refusal
        }
        for conversion in conversions {
            let ref = TrackingTableRef(schema: conversion.schema, table: conversion.table)
            states[ref] = (states[ref] ?? .missing).converted(by: conversion)
        }
        steps.conversions = conversions
        return nil
    }
}
