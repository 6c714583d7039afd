import Foundation
import TenantPlanCluster
import TenantPlanPostgres
import Testing

@testable import TenantPlanKit

/// `tenantplan serve` over real HTTP (curl), on a cluster of its own that the test stops and
/// starts: 200, then 503 while the database is down, then 200 again; graceful exit on SIGTERM.
@Suite(.serialized) struct ServeTests {
    /// `(HTTP status, body)` of GET `url`.
    static func get(_ url: String) async throws -> (Int, String) {
        let child = try ChildProcess(
            "/usr/bin/curl", ["-s", "-m", "5", "-w", "\n%{http_code}", url], separateStderr: true)
        _ = try await child.wait(timeout: .seconds(10))
        var lines = child.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let code = Int(lines.popLast() ?? "") ?? 0
        return (code, lines.joined(separator: "\n"))
    }

    /// Polls `url` until it answers `status` (or `attempts` run out); the last answer.
    static func wait(for status: Int, at url: String, attempts: Int = 100) async throws -> (Int, String) {
        var answer = (0, "")
        for _ in 0..<attempts {
            answer = try await get(url)
            if answer.0 == status { return answer }
            try await Task.sleep(for: .milliseconds(100))
        }
        return answer
    }

    @Test("the monitoring examples parse (YAML, JSON) and name only metrics tenantplan writes")
    func monitoringExamples() async throws {
        let script = """
            import json, re, sys, yaml
            root = sys.argv[1] + "/docs/examples/"
            yaml.safe_load(open(root + "prometheus.yml"))
            alerts = open(root + "tenantplan-alerts.yml").read()
            yaml.safe_load(alerts)
            dashboard = open(root + "grafana-dashboard.json").read()
            json.loads(dashboard)
            names = set(re.findall(r"tenantplan_[a-z_]+", alerts + dashboard))
            print("\\n".join(sorted(names)))
            """
        let child = try ChildProcess(
            "/usr/bin/python3", ["-c", script, CLIProcessTests.repositoryRoot], separateStderr: true)
        #expect(try await child.wait() == 0, "\(child.errors)")
        let written: Set<String> = [
            "tenantplan_tenants", "tenantplan_migrations_applied_total", "tenantplan_migration_duration_seconds_bucket",
            "tenantplan_retries_total", "tenantplan_pending_migrations", "tenantplan_pool_connections",
            "tenantplan_connections_opened_total", "tenantplan_connections_recycled_total", "tenantplan_shared_db_up",
        ]
        let named = Set(child.output.split(separator: "\n").map(String.init))
        #expect(!named.isEmpty)
        #expect(named.isSubset(of: written), "unknown: \(named.subtracting(written))")
    }

    @Test("serve: /health 200, 503 while the database is down, 200 again; /metrics parses; /status; SIGTERM exits 0")
    func serve() async throws {
        let cluster = try EphemeralCluster.start()
        defer { cluster.stop() }
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try CLIProcessTests.writePlan(fixture, ids: ["s1", "s2"], concurrency: 2)
        let environment = ["TEST_DATABASE_URL": cluster.conninfo]
        let applied = try ChildProcess(Executable.path, ["apply", fixture.planPath], environment: environment)
        #expect(try await applied.wait() == 0, "\(applied.output)")
        let port = Int.random(in: 20_000...60_000)
        let server = try ChildProcess(
            Executable.path, ["serve", fixture.planPath, "--port", "\(port)", "--refresh", "200ms"],
            environment: environment)
        let base = "http://127.0.0.1:\(port)"
        let up = try await Self.wait(for: 200, at: base + "/health")
        #expect(up.0 == 200, "\(up) \(server.output)")
        let health = try JSONDecoder().decode(HealthReport.self, from: Data(up.1.utf8))
        #expect(health.healthy && health.totalPools == 2)
        let (metricsCode, metricsText) = try await Self.get(base + "/metrics")
        #expect(metricsCode == 200)
        let metricsFile = fixture.directory + "/serve.prom"
        try metricsText.write(toFile: metricsFile, atomically: true, encoding: .utf8)
        let samples = try CLIProcessTests.prometheusSamples(metricsFile)
        #expect(samples.contains("tenantplan_tenants{status=ok} 2.0"), "\(samples)")
        #expect(samples.contains("tenantplan_shared_db_up 1.0"))
        let (statusCode, statusBody) = try await Self.get(base + "/status")
        #expect(statusCode == 200)
        #expect(try JSONDecoder().decode(StatusReport.self, from: Data(statusBody.utf8)).tenants.count == 2)
        try cluster.shutDown()
        let down = try await Self.wait(for: 503, at: base + "/health")
        #expect(down.0 == 503, "\(down)")
        try cluster.startAgain()
        let back = try await Self.wait(for: 200, at: base + "/health")
        #expect(back.0 == 200, "\(back)")
        server.signal(SIGTERM)
        #expect(try await server.wait(timeout: .seconds(20)) == 0, "\(server.output)")
    }
}
