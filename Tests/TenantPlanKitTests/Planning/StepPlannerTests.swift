import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// What an action does to a tenant, decided once for dry runs, real runs and sync: no database.
@Suite struct ActionStepTests {
    let folder = [Build.migration("0000_a"), Build.migration("0001_b"), Build.migration("0002_c")]

    func decide(_ action: Action, _ state: TrackingState, mode: PlanningMode = .apply) -> ActionStep {
        ActionStep.decide(action, table: Build.ref, state: state, known: action.migrations, mode: mode)
    }

    @Test("migrate runs the pending migrations in order; the table is created when missing")
    func migrate() throws {
        let step = decide(Build.migrate("m", folder), Build.state(.name, [folder[0]]))
        let change = try #require(step.change)
        #expect(change.run.map(\.name) == ["0001_b", "0002_c"])
        #expect(!change.createTable)
        #expect(step.format == .name)
        let fresh = try #require(decide(Build.migrate("m", folder), .missing).change)
        #expect(fresh.createTable)
        #expect(fresh.recordSQL.hasPrefix("CREATE TABLE IF NOT EXISTS \"tenant_acme\".\"__drizzle_migrations\""))
    }

    @Test("nothing pending is unchanged; an sql action is one migration named after it")
    func unchangedAndScripts() throws {
        guard case .unchanged = decide(Build.migrate("m", folder), Build.state(.hash, folder)).decision else {
            throw TestFailure("expected unchanged")
        }
        let script = Build.migration("backfill", "UPDATE t SET x = 1;")
        let step = decide(Build.action("backfill", .sql(script)), Build.state(.name, folder))
        #expect(step.change?.run.map(\.name) == ["backfill"])
    }

    @Test("markApplied records up to upTo without running; sync marks missing and deletes orphans")
    func recordingKinds() throws {
        let mark = decide(Build.action("baseline", .markApplied(Build.folder(folder), upTo: "0001_b")), .missing)
        #expect(mark.change?.mark.map(\.name) == ["0000_a", "0001_b"])
        #expect(mark.change?.run.isEmpty == true)
        #expect(!mark.deferred)
        let sync = Build.action("reconcile", .sync(Build.folder(folder), markMissing: true, cleanOrphans: true))
        let change = try #require(decide(sync, Build.state(.name, [folder[0]], extra: ["0099_gone"])).change)
        #expect(change.mark.map(\.name) == ["0001_b", "0002_c"])
        #expect(change.deleteOrphans.map(\.key) == ["0099_gone"])
        #expect(
            change.recordSQL.contains(
                "DELETE FROM \"tenant_acme\".\"__drizzle_migrations\" WHERE \"name\" IN ('0099_gone')"))
    }

    @Test("--mark-applied: every action records (deferred to one transaction); --up-to stops, later actions skip")
    func markAppliedMode() throws {
        let action = Build.migrate("m", folder)
        let all = decide(action, .missing, mode: .markApplied(["m": .all]))
        #expect(all.deferred)
        #expect(all.change?.mark.count == 3)
        #expect(all.change?.run.isEmpty == true)
        let through = decide(action, .missing, mode: .markApplied(["m": .through("0000_a")]))
        #expect(through.change?.mark.map(\.name) == ["0000_a"])
        guard case .skipped(let reason) = decide(action, .missing, mode: .markApplied(["m": .nothing])).decision else {
            throw TestFailure("an action after --up-to's must be skipped")
        }
        #expect(reason == "it runs after the action holding --up-to")
    }

    @Test("a table in another format than the plan's fails the step")
    func failedFormat() throws {
        let action = Build.migrate("m", folder, tracking: Build.tracking(.fixed(.name)))
        guard case .failed(let error) = decide(action, Build.state(.hash, folder)).decision else {
            throw TestFailure("expected a failed step")
        }
        #expect(error.message.contains("is in hash format; the plan says name"))
    }
}

@Suite struct StepPlannerTests {
    let folder = [Build.migration("0000_a"), Build.migration("0001_b")]

    func steps(
        _ actions: [Action], existing: Set<String> = ["tenant_acme"], states: [TrackingTableRef: TrackingState] = [:],
        skip: [String: String] = [:], createSchemas: Bool = true, mode: PlanningMode = .apply
    ) -> TenantSteps {
        let plan = Build.plan(actions, createSchemas: createSchemas)
        let tables = TenantTables(tenant: Build.tenant, graph: ExecutionGraph(plan: plan))
        return StepPlanner(mode: mode).steps(
            for: .tenant(Build.tenant, plan: plan), actions: actions, tables: tables, existingSchemas: existing,
            states: states, skip: skip)
    }

    @Test("a missing schema is created with createSchemas, else it is the tenant's error and its actions skip")
    func missingSchema() {
        let created = steps([Build.migrate("m", folder)], existing: [])
        #expect(created.createSchemas == ["tenant_acme"])
        #expect(created.createsOwnSchema)
        #expect(created.hasWork)
        let refused = steps([Build.migrate("m", folder)], existing: [], createSchemas: false)
        #expect(refused.error?.message == "schema tenant_acme does not exist")
        #expect(refused.actions.map(\.isSkipped) == [true])
        #expect(refused.hasWork)
    }

    @Test("a later action on the same table plans against what the earlier one records")
    func simulation() {
        let actions = [
            Build.action("baseline", .markApplied(Build.folder(folder), upTo: "0000_a")),
            Build.migrate("m", folder),
        ]
        let planned = steps(actions)
        #expect(planned.actions[0].change?.mark.map(\.name) == ["0000_a"])
        #expect(planned.actions[1].change?.run.map(\.name) == ["0001_b"])
        #expect(planned.actions[1].change?.createTable == false)
        #expect(planned.finalStates[Build.ref]?.keys == ["0000_a", "0001_b"])
    }

    @Test("autoMigrateFormat converts first, and the actions plan against the converted table")
    func conversionFirst() throws {
        let tracking = Build.tracking(.fixed(.hash), autoMigrate: true)
        let planned = steps(
            [Build.migrate("m", folder, tracking: tracking)], states: [Build.ref: Build.state(.name, [folder[0]])])
        let conversion = try #require(planned.conversions.first)
        #expect(conversion.to == .hash)
        #expect(planned.actions[0].format == .hash)
        #expect(planned.actions[0].change?.run.map(\.name) == ["0001_b"])
        let refused = steps(
            [Build.migrate("m", folder, tracking: tracking)],
            states: [Build.ref: Build.state(.name, [folder[0]], extra: ["0099_gone"])])
        #expect(refused.error?.message.contains("match no migration on disk: 0099_gone") == true)
        #expect(refused.actions.allSatisfy { $0.isSkipped })
    }

    @Test("nothing to do, or every action blocked, is no work; a failing step is work (it fails under the lock)")
    func hasWork() {
        #expect(!steps([Build.migrate("m", folder)], states: [Build.ref: Build.state(.name, folder)]).hasWork)
        #expect(!steps([Build.migrate("m", folder)], existing: [], skip: ["m": "it is after s, which failed"]).hasWork)
        let mismatch = Build.migrate("m", folder, tracking: Build.tracking(.fixed(.name)))
        #expect(steps([mismatch], states: [Build.ref: Build.state(.hash, folder)]).hasWork)
    }

    @Test("a dry run reports each step: pending, marked, orphans, skipped, failed")
    func plannedResults() {
        let planned = steps([Build.migrate("m", folder)], existing: [])
        var tenant = Report.TenantResult(
            id: "acme", schema: "tenant_acme", status: .succeeded, unchanged: true, durationMs: 0, actions: [])
        tenant.addPlanned(planned)
        #expect(tenant.createdSchema == true)
        #expect(!tenant.unchanged)
        #expect(tenant.actions.map(\.status) == [.pending])
        #expect(tenant.actions.first?.pending == ["0000_a", "0001_b"])
    }
}

@Suite struct MaintenanceStepsTests {
    let folder = [Build.migration("0000_a"), Build.migration("0001_b")]

    @Test("sync writes in the table's own layout: missing rows, or orphan deletions; --status writes nothing")
    func syncChanges() throws {
        let plan = Build.plan([Build.migrate("m", folder, tracking: Build.tracking(.autoDetect, newTableFormat: .name))]
        )
        let tables = TenantTables(tenant: Build.tenant, graph: ExecutionGraph(plan: plan))
        let states = [Build.ref: Build.state(.hash, [folder[0]], extra: ["old"])]
        #expect(
            MaintenanceSteps.syncChanges(.markMissing, tables: tables, states: states).isEmpty,
            "0001_b sorts after the latest applied migration: not a gap, so not marked by default")
        let mark = try #require(
            MaintenanceSteps.syncChanges(.markMissing, scope: .all, tables: tables, states: states).first)
        #expect(mark.format == .hash)
        #expect(mark.mark.map(\.name) == ["0001_b"])
        #expect(mark.deleteOrphans.isEmpty)
        let clean = try #require(MaintenanceSteps.syncChanges(.cleanOrphans, tables: tables, states: states).first)
        #expect(clean.deleteOrphans.map(\.key) == ["old"])
        #expect(!clean.createTable)
        #expect(MaintenanceSteps.syncChanges(.status, tables: tables, states: states).isEmpty)
        let inspected = MaintenanceSteps.inspect(tables, states: states)
        #expect(inspected.format == .hash)
        #expect(inspected.drift.missing == ["0001_b"])
        #expect(inspected.error == nil)
    }

    @Test("convert-tracking --from converts only tables found in that format")
    func conversionsFrom() {
        let plan = Build.plan([Build.migrate("m", folder)])
        let tables = TenantTables(tenant: Build.tenant, graph: ExecutionGraph(plan: plan))
        let states = [Build.ref: Build.state(.name, folder)]
        #expect(MaintenanceSteps.conversions(tables, states: states, to: .hash, from: .drizzleKit).isEmpty)
        #expect(MaintenanceSteps.conversions(tables, states: states, to: .hash, from: .name).map(\.to) == [.hash])
    }
}
