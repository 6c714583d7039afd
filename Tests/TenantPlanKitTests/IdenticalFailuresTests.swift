import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

@Suite struct IdenticalFailuresTests {
    private static func error(_ migration: String, _ sqlstate: String = "42P01", _ message: String = "gone")
        -> Report.ErrorInfo
    {
        Report.ErrorInfo(migration: migration, sqlstate: sqlstate, message: message)
    }

    @Test("the limit trips on the same migration, SQLSTATE and message, and only then")
    func tripsOnSameFailure() {
        var failures = IdenticalFailures(limit: 3)
        failures.record(applied: [], failure: Self.error("0002"))
        failures.record(applied: [], failure: Self.error("0002", "42P01", "other message"))
        failures.record(applied: [], failure: Self.error("0002", "23505"))
        failures.record(applied: [], failure: Self.error("0003"))
        failures.record(applied: ["0001"], failure: Self.error("0002"))
        #expect(failures.tripped == nil)
        failures.record(applied: [], failure: Self.error("0002"))
        #expect(failures.tripped?.tenants == 3)
        #expect(failures.tripped?.failure.migration == "0002")
        #expect(
            failures.detail
                == "0002 failed the same way on 3 tenants and applied on none in this run (42P01 gone); "
                + "fix the migration and rerun"
        )
    }

    @Test("a migration some tenant applied never trips; limit 0 never trips; errors without SQLSTATE do not count")
    func neverTrips() {
        var appliedSomewhere = IdenticalFailures(limit: 2)
        appliedSomewhere.record(applied: ["0002"], failure: nil)
        for _ in 0..<5 { appliedSomewhere.record(applied: [], failure: Self.error("0002")) }
        #expect(appliedSomewhere.tripped == nil)
        var off = IdenticalFailures(limit: 0)
        for _ in 0..<5 { off.record(applied: [], failure: Self.error("0002")) }
        #expect(off.tripped == nil)
        var connectionLost = IdenticalFailures(limit: 2)
        for _ in 0..<5 {
            connectionLost.record(applied: [], failure: Report.ErrorInfo(migration: "0002", message: "server closed"))
        }
        #expect(connectionLost.tripped == nil)
        #expect(connectionLost.detail == nil)
    }

    @Test("a migration failing the same way on every tenant stops the run after stopAfterIdenticalFailures tenants")
    func stopsRun() async throws {
        let db = try await TestDatabase.create("identical")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_ok.sql", "CREATE TABLE ok (id int);")
        try fixture.write("m/0002_bad.sql", "SELECT * FROM public.no_such_table;")
        let ids = (0..<12).map { String(format: "i%02d", $0) }
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(ids, actions: "  - { name: m, migrate: m }"), database: db)
        plan.concurrency = 1
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        #expect(report.stopReason == .identicalFailures)
        #expect(report.summary.failed == 3)
        #expect(report.summary.skipped == 9)
        let detail = try #require(report.stopDetail)
        #expect(detail.hasPrefix("0002_bad failed the same way on 3 tenants and applied on none in this run (42P01 "))
        // Each migration commits on its own: the three tenants that ran keep 0001, and 0002 left nothing.
        #expect(try await db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'ok'") == 3)
        for id in ids.prefix(3) {
            #expect(try await db.count("SELECT count(*) FROM t_\(id).__drizzle_migrations") == 1)
        }
        #expect(try await db.count("SELECT count(*) FROM pg_namespace WHERE nspname = 't_i03'") == 0)
        let skipped = report.tenants.filter { $0.status == .skipped }
        #expect(skipped.allSatisfy { $0.actions.first?.skippedBecause == "the run stopped before this tenant started" })
    }

    @Test("failures that differ per tenant, or a migration another tenant applied, do not stop the run")
    func doesNotStop() async throws {
        let db = try await TestDatabase.create("identical_no")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        // Fails on every tenant but i00, which applies it first: the file is fine, the tenants are not.
        // (Not CASE … ELSE 1 / 0: the planner folds the constant division whatever the branch.)
        try fixture.write(
            "m/0001_x.sql",
            "SELECT 1 / (current_setting('tenantplan.tenant_id') = 'i00')::int;")
        let ids = (0..<8).map { String(format: "i%02d", $0) }
        var plan = try fixture.compile(
            ApplyIntegrationTests.listPlan(ids, actions: "  - { name: m, migrate: m }"), database: db)
        plan.concurrency = 1
        let report = try await runApply(plan, db)
        #expect(report.stopReason == nil)
        #expect(report.summary.succeeded == 1)
        #expect(report.summary.failed == 7)
        // A rerun: i00 has nothing to apply, so no tenant applies 0001 in this run and seven fail it
        // the same way; with the limit at 3 that stops the run, with 0 it never does.
        let rerun = try await runApply(plan, db)
        #expect(rerun.stopReason == .identicalFailures)
        #expect(rerun.summary.failed == 3)
        plan.stopAfterIdenticalFailures = 0
        let off = try await runApply(plan, db)
        #expect(off.stopReason == nil)
        #expect(off.summary.failed == 7)
        #expect(off.summary.succeeded == 1)
    }
}
