import Foundation
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// `tenantplan health` on a real database: ok, degraded (pending), unhealthy (no schema, an
/// unreadable table), the JSON Schema and the exit code; and a database that is not there.
@Suite struct HealthTests {
    @Test("health: ok, degraded with pending migrations, unhealthy without schema or without a usable tracking table")
    func states() async throws {
        let db = try await TestDatabase.create("health")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try CLIProcessTests.writePlan(fixture, ids: ["h1", "h2", "h3"], concurrency: 2)
        #expect(try await CLIProcessTests().run(["apply", fixture.planPath], database: db).code == 0)
        let healthy = try await CLIProcessTests().run(["health", fixture.planPath], database: db)
        #expect(healthy.code == 0, "\(healthy.output)")
        #expect(healthy.output.contains("healthy: 3 tenants: 3 ok, 0 degraded, 0 unhealthy; shared database ok ("))
        let warm = try await CLIProcessTests().run(["warmup", fixture.planPath], database: db)
        #expect(warm.code == 0, "\(warm.output)")
        #expect(warm.output.contains("h1 (t_h1): "))
        #expect(warm.output.contains("warmed 3 of 3 tenants on "), "\(warm.output)")
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (id int);")
        try await db.exec(
            "DROP SCHEMA t_h3 CASCADE; CREATE SCHEMA t_h3; CREATE VIEW t_h3.__drizzle_migrations AS SELECT 1/0 AS id, "
                + "'x'::text AS hash, 1::bigint AS created_at")
        try CLIProcessTests.writePlan(fixture, ids: ["h1", "h2", "h3", "h4"], concurrency: 2)
        let path = fixture.directory + "/health.json"
        let child = try ChildProcess(
            Executable.path, ["health", fixture.planPath, "--json", "--timeout", "3s"],
            environment: ["TEST_DATABASE_URL": db.conninfo], separateStderr: true)
        #expect(try await child.wait() == 1, "\(child.errors)")
        try child.output.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try CLIProcessTests.validate(json: path, schema: "health-v1.json") == nil)
        let report = try JSONDecoder().decode(HealthReport.self, from: Data(child.output.utf8))
        #expect(!report.healthy)
        #expect(report.totalPools == 4)
        let byId = Dictionary(uniqueKeysWithValues: report.pools.map { ($0.tenantId, $0) })
        #expect(byId["h1"]?.status == .degraded)
        #expect(byId["h1"]?.error == "1 pending: 0002_b")
        #expect(byId["h1"]?.pendingMigrations == 1)
        #expect(byId["h1"]?.responseTimeMs != nil)
        #expect(byId["h3"]?.status == .unhealthy, "\(byId["h3"] as Any)")
        #expect(byId["h3"]?.error?.contains("has no tracking table") == true, "\(byId["h3"]?.error as Any)")
        #expect(byId["h4"]?.status == .unhealthy)
        #expect(byId["h4"]?.error == "schema t_h4 does not exist")
        #expect(report.degradedPools == 2)
        #expect(report.unhealthyPools == 2)
        #expect(report.sharedDb.status == .ok)
        let cold = try await CLIProcessTests().run(["warmup", fixture.planPath], database: db)
        #expect(cold.code == 1)
        #expect(cold.output.contains("h4 (t_h4): FAILED schema does not exist"), "\(cold.output)")
    }

    @Test("health with the database down: the shared database is unhealthy, exit 1, one report")
    func databaseDown() async throws {
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database: { url: "host=\(fixture.directory) port=1 user=nobody", retry: { maxAttempts: 1 } }
            tenants: { discover: { list: [a] }, schema: "t_{id}" }
            actions: [{ name: m, migrate: m }]
            """)
        let child = try ChildProcess(Executable.path, ["health", fixture.planPath, "--json"], separateStderr: true)
        #expect(try await child.wait() == 1)
        let report = try JSONDecoder().decode(HealthReport.self, from: Data(child.output.utf8))
        #expect(report.sharedDb.status == .unhealthy)
        #expect(report.sharedDb.error?.contains("No such file or directory") == true, "\(report.sharedDb)")
        #expect(report.pools.isEmpty)
    }
}
