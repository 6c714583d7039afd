import Foundation
import Testing

@testable import TenantPlanKit

/// The example Swift server (Examples/TenantServer) over real HTTP: it migrates the demo plan on
/// boot, resolves the tenant from a header, answers with a query across the tenant's and the
/// shared schema, serves tenantplan's /health and /metrics, and stops on SIGTERM.
@Suite(.serialized) struct ExampleServerTests {
    static var binary: String {
        URL(fileURLWithPath: Executable.path).deletingLastPathComponent().appendingPathComponent(
            "tenantplan-example-server"
        ).path
    }

    @Test("the example server migrates on boot, serves one tenant per request, and tenantplan's routes")
    func exampleServer() async throws {
        let db = try await TestDatabase.create("example")
        let root = CLIProcessTests.repositoryRoot
        try await db.exec(try String(contentsOfFile: root + "/plans/demo-seed.sql", encoding: .utf8))
        let port = Int.random(in: 20_000...60_000)
        let server = try ChildProcess(
            Self.binary, [],
            environment: [
                "TENANTPLAN_PLAN": root + "/plans/demo.yaml", "DATABASE_URL": db.conninfo, "PORT": "\(port)",
            ])
        let base = "http://127.0.0.1:\(port)"
        let health = try await ServeTests.wait(for: 200, at: base + "/health", attempts: 300)
        #expect(health.0 == 200, "\(health) \(server.output)")
        #expect(
            try await db.count("SELECT count(*) FROM tenant_acme.__drizzle_migrations") == 7,
            "migrated on boot: 6 migrations and the seed-settings script")
        let invoices = try ChildProcess(
            "/usr/bin/curl", ["-s", "-H", "X-Tenant-ID: acme", base + "/invoices"], separateStderr: true)
        _ = try await invoices.wait()
        #expect(invoices.output.hasPrefix("tenant\tacme\n"), "\(invoices.output)")
        #expect(invoices.output.contains("EUR\tEuro\t0"), "the shared currencies joined with acme's invoices")
        let unknown = try ChildProcess(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Tenant-ID: nope",
                base + "/invoices",
            ], separateStderr: true)
        _ = try await unknown.wait()
        #expect(unknown.output == "404")
        #expect(try await ServeTests.get(base + "/invoices").0 == 400, "no tenant header")
        let metrics = try await ServeTests.get(base + "/metrics")
        #expect(metrics.1.contains("tenantplan_tenants{status=\"ok\"}"))
        server.signal(SIGTERM)
        #expect(try await server.wait(timeout: .seconds(20)) == 0, "\(server.output)")
    }
}
