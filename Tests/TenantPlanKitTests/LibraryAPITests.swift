import Foundation
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// `TenantPlan`, the library API a Swift server uses, on a real database.
@Suite struct LibraryAPITests {
    static func load(_ fixture: PlanFixture, _ db: TestDatabase) throws -> TenantPlan {
        var environment = ProcessInfo.processInfo.environment
        environment["TEST_DATABASE_URL"] = db.conninfo
        return try TenantPlan.load(path: fixture.planPath, environment: environment)
    }

    @Test("load, apply as a stream of events then the report, health, and queries in a tenant's schema")
    func serverFlow() async throws {
        let db = try await TestDatabase.create("library")
        try await db.exec(
            "CREATE TABLE public.currencies (code text PRIMARY KEY, name text); "
                + "INSERT INTO public.currencies VALUES ('EUR', 'Euro')")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_invoices.sql", "CREATE TABLE invoices (id int, code text); INSERT INTO invoices VALUES (1, 'EUR');")
        try fixture.write(
            "plan.yaml", ApplyIntegrationTests.listPlan(["acme", "globex"], actions: "  - { name: m, migrate: m }"))
        let tenants = try Self.load(fixture, db)
        var events = 0
        var finished: Report?
        for try await progress in tenants.applying() {
            switch progress {
            case .event: events += 1
            case .finished(let report): finished = report
            }
        }
        #expect(finished?.exitCode == 0)
        #expect(finished?.summary.migrationsApplied == 2)
        #expect(events >= 3, "discovered, then each tenant finished")
        #expect(try await tenants.health().healthy)
        let rows = try await tenants.withTenant("acme") { session in
            #expect(TenantContext.current == TenantContext(id: "acme", schema: "t_acme"))
            return try await session.query(
                "SELECT i.id, c.name, current_setting('tenantplan.tenant_id') FROM invoices i JOIN currencies c "
                    + "USING (code) WHERE i.id = $1", ["1"])
        }
        #expect(rows == [["1", "Euro", "acme"]])
        #expect(TenantContext.current == nil)
        await #expect(throws: TenantPlanError.self) {
            try await tenants.withTenant("initech") { _ in 0 }
        }
        await tenants.close()
    }

    @Test("cancelling the task that applies stops the run like Ctrl-C: nothing half-applied")
    func cancellation() async throws {
        let db = try await TestDatabase.create("library_cancel")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE slow (id int);")
        let ids = (0..<20).map { "c\($0)" }
        try fixture.write("plan.yaml", ApplyIntegrationTests.listPlan(ids, actions: "  - { name: m, migrate: m }"))
        let tenants = try Self.load(fixture, db)
        let run = Task { try await tenants.apply() }
        // Cancel once the first tenants are running (a loaded machine may still be discovering at a fixed time).
        for _ in 0..<600 {
            if try await db.count("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't_c%'") > 0 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        run.cancel()
        let report = try await run.value
        #expect(report.stopReason == .interrupted)
        #expect(report.summary.skipped > 0)
        let recorded = try await db.count(
            "SELECT count(*) FROM pg_tables WHERE tablename = '__drizzle_migrations' AND schemaname LIKE 't_c%'")
        let made = try await db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'slow'")
        var rows = 0
        for id in ids where try await db.tableExists("t_\(id)", "__drizzle_migrations") {
            rows += try await db.count("SELECT count(*) FROM t_\(id).__drizzle_migrations")
        }
        #expect(made == rows, "every table made has its tracking row and no row lacks its table (\(recorded) tables)")
        #expect(report.summary.migrationsApplied == made)
    }
}
