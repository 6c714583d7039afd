import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// The run's skip and stop rules across stages: no database.
@Suite struct RunStateMachineTests {
    let shared = Build.action("shared", .migrate(Build.folder([])), scope: .shared(schema: "public"))
    let tenantAction = Build.action("tenant", .migrate(Build.folder([])), after: ["shared"])

    func result(_ statuses: [Report.ActionResult.Status], name: String = "tenant") -> Report.TenantResult {
        Report.TenantResult(
            id: "x", schema: "x", status: .succeeded, unchanged: true, durationMs: 0,
            actions: statuses.map { Report.ActionResult(name: name, status: $0, durationMs: 0, applied: []) })
    }

    @Test("a failed shared action blocks the tenant actions after it, naming it")
    func blockedByShared() {
        var machine = RunStateMachine(invalid: [false], onError: .continue, maxFailures: 0)
        #expect(machine.gate(shared: shared, interrupted: false) == .run)
        machine.finished(shared: shared, status: .failed)
        let stage = ExecutionGraph.Stage(shared: [], tenant: [tenantAction])
        #expect(machine.blocked(in: stage) == ["tenant": "it is after shared, which failed or was skipped"])
    }

    @Test("a shared action after a tenant action that failed somewhere is skipped; after a stop, everything is")
    func sharedAfterTenants() {
        var machine = RunStateMachine(invalid: [false, false], onError: .continue, maxFailures: 0)
        let later = Build.action(
            "later", .migrate(Build.folder([])), scope: .shared(schema: "public"), after: ["tenant"])
        machine.finishedStage(
            ExecutionGraph.Stage(shared: [], tenant: [tenantAction]), stop: nil,
            results: [result([.applied]), result([.failed])])
        #expect(
            machine.gate(shared: later, interrupted: false) == .skip("it is after tenant, which failed or was skipped"))
        #expect(machine.gate(shared: shared, interrupted: true) == .skip("the run stopped before this action"))
    }

    @Test("invalid tenants count as failures; a failed tenant skips its later stages; abort applies at once")
    func failures() {
        var machine = RunStateMachine(invalid: [true, false, false], onError: .abort, maxFailures: 0)
        #expect(machine.failures == 1)
        #expect(machine.gate(tenant: 0) == .skip("an earlier step of this tenant failed"))
        #expect(machine.gate(tenant: 1) == .run)
        #expect(machine.windowLimits.stop == .abortOnError)
        machine.failed(tenant: 1)
        machine.failed(tenant: 1)
        #expect(machine.failures == 2)
    }

    @Test("maxFailures leaves the failures still allowed to the next sweep; a stop reason skips every tenant after")
    func limits() {
        var machine = RunStateMachine(invalid: [true, false], onError: .continue, maxFailures: 3)
        #expect(machine.windowLimits.maxFailures == 2)
        #expect(machine.windowLimits.stop == nil)
        machine.finishedStage(ExecutionGraph.Stage(shared: [], tenant: []), stop: .maxFailures, results: [])
        #expect(machine.gate(tenant: 1) == .skip("the run stopped (maxFailures reached)"))
        #expect(machine.stopReason == .maxFailures)
        var reached = RunStateMachine(invalid: [true, true, false], onError: .continue, maxFailures: 2)
        #expect(reached.windowLimits.stop == .maxFailures, "tenants that failed before the sweep count")
        reached.finished(
            shared: Build.action("s", .migrate(Build.folder([])), scope: .shared(schema: "p")), status: .failed)
        #expect(reached.stopReason == nil, "with continue, a failed shared action stops nothing by itself")
        var aborting = RunStateMachine(invalid: [false], onError: .abort, maxFailures: 0)
        aborting.finished(
            shared: Build.action("s", .migrate(Build.folder([])), scope: .shared(schema: "p")), status: .failed)
        #expect(aborting.stopReason == .abortOnError, "with abort, a failed shared action stops the run")
    }

    @Test("final status: failed if anything failed, skipped if never started or all skipped, else succeeded")
    func finalStatus() {
        var machine = RunStateMachine(invalid: [false, false, false, false], onError: .continue, maxFailures: 0)
        machine.started(tenant: 0)
        machine.started(tenant: 2)
        machine.started(tenant: 3)
        #expect(machine.finalStatus(of: 0, result([.applied]), hasTenantActions: true) == .succeeded)
        #expect(machine.finalStatus(of: 1, result([]), hasTenantActions: true) == .skipped)
        #expect(machine.finalStatus(of: 1, result([]), hasTenantActions: false) == .succeeded)
        #expect(machine.finalStatus(of: 2, result([.skipped, .skipped]), hasTenantActions: true) == .skipped)
        #expect(machine.finalStatus(of: 3, result([.applied, .failed]), hasTenantActions: true) == .failed)
    }
}
