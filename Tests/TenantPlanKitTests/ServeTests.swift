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
