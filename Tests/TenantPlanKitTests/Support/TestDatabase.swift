import Foundation
import TenantPlanCluster
import TenantPlanKit
import TenantPlanPostgres
import TenantPlanSpec

/// The PostgreSQL server the integration tests use: the one named by
/// `TENANTPLAN_TEST_DATABASE_URL` (a conninfo with rights to CREATE DATABASE), or a throwaway
/// cluster started once per test process from the installed server binaries. There is no
/// fallback: without a server the tests fail and say why.
enum TestServer {
    private static let started: Result<Server, Error> = {
        if let url = ProcessInfo.processInfo.environment["TENANTPLAN_TEST_DATABASE_URL"], !url.isEmpty {
            return .success(Server(adminConninfo: url, cluster: nil))
        }
        do {
            let cluster = try EphemeralCluster.start(maxConnections: 300)
            runningCluster = cluster
            atexit { runningCluster?.stop() }
            return .success(Server(adminConninfo: cluster.conninfo, cluster: cluster))
        } catch {
            return .failure(error)
        }
    }()

    nonisolated(unsafe) private static var runningCluster: EphemeralCluster?

    struct Server {
        var adminConninfo: String
        var cluster: EphemeralCluster?
    }

    static func server() throws -> Server {
        switch started {
        case .success(let server): return server
        case .failure(let error):
            throw TestFailure(
                "integration tests need PostgreSQL: could not start a throwaway cluster (\(error)); "
                    + "install the Debian package `postgresql` or set TENANTPLAN_TEST_DATABASE_URL"
            )
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh database for one test, with helpers to query it.
final class TestDatabase: @unchecked Sendable {
    let name: String
    let conninfo: String
    let session: PGSession

    static func create(_ label: String) async throws -> TestDatabase {
        let server = try TestServer.server()
        let name = "tp_\(label.lowercased().filter { $0.isLetter || $0.isNumber })_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await PGSession.open(server.adminConninfo)
        _ = try await admin.run { try $0.exec("CREATE DATABASE \(SQL.quoteIdentifier(name))") }
        let conninfo: String
        if let cluster = server.cluster {
            conninfo = cluster.conninfo(database: name)
        } else {
            conninfo = server.adminConninfo + (server.adminConninfo.contains("://") ? "" : " dbname=\(name)")
            guard !server.adminConninfo.contains("://") else {
                throw TestFailure(
                    "TENANTPLAN_TEST_DATABASE_URL must be key=value conninfo (host=... user=...) "
                        + "so tests can pick databases"
                )
            }
        }
        let session = try await PGSession.open(conninfo)
        return TestDatabase(name: name, conninfo: conninfo, session: session)
    }

    private init(name: String, conninfo: String, session: PGSession) {
        self.name = name
        self.conninfo = conninfo
        self.session = session
    }

    func exec(_ sql: String) async throws {
        _ = try await session.run { try $0.exec(sql) }
    }

    /// Rows of a query as text values.
    func rows(_ sql: String) async throws -> [[String?]] {
        try await session.run { try $0.exec(sql).rows }
    }

    func scalar(_ sql: String) async throws -> String? {
        try await rows(sql).first?.first ?? nil
    }

    func count(_ sql: String) async throws -> Int {
        Int(try await scalar(sql) ?? "0") ?? 0
    }

    func schemaExists(_ schema: String) async throws -> Bool {
        try await count("SELECT count(*) FROM pg_namespace WHERE nspname = \(SQL.quoteLiteral(schema))") == 1
    }

    func tableExists(_ schema: String, _ table: String) async throws -> Bool {
        try await scalar(
            "SELECT to_regclass("
                + "\(SQL.quoteLiteral(SQL.quoteIdentifier(schema) + "." + SQL.quoteIdentifier(table)))) IS NOT NULL"
        ) == "t"
    }
}

/// A plan and its migration files in a temporary folder.
struct PlanFixture {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "tenantplan-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        let path = directory + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Writes a drizzle-kit folder: files plus meta/_journal.json with `when` = base + idx * 1000.
    func writeJournaled(
        _ folder: String, _ migrations: [(tag: String, sql: String)], baseWhen: Int64 = 1_732_000_000_000
    ) throws {
        for migration in migrations { try write("\(folder)/\(migration.tag).sql", migration.sql) }
        let entries = migrations.enumerated().map { index, migration in
            #"""
            {"idx":\#(index),"version":"7","when":\#(baseWhen + Int64(index) * 1000),\#
            "tag":"\#(migration.tag)","breakpoints":true}
            """#
        }.joined(separator: ",")
        try write("\(folder)/meta/_journal.json", #"{"version":"7","dialect":"postgresql","entries":[\#(entries)]}"#)
    }

    var planPath: String { directory + "/plan.yaml" }

    func compile(_ yaml: String, database: TestDatabase, concurrency: Int? = nil) throws -> Plan {
        try write("plan.yaml", yaml)
        var environment = ProcessInfo.processInfo.environment
        environment["TEST_DATABASE_URL"] = database.conninfo
        return try PlanCompiler.compile(
            path: planPath,
            options: CompileOptions(environment: environment, overrides: RunOverrides(concurrency: concurrency)))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs a plan in-process, as `tenantplan apply` does.
func runApply(_ plan: Plan, _ database: TestDatabase, dryRun: Bool = false, filter: TenantFilter = TenantFilter())
    async throws -> Report
{
    let runner = PlanRunner(
        plan: plan, conninfo: database.conninfo,
        options: RunOptions(command: dryRun ? "plan" : "apply", dryRun: dryRun, filter: filter))
    return try await runner.apply()
}

extension Report {
    func tenant(_ id: String) -> TenantResult? { tenants.first { $0.id == id } }
}
