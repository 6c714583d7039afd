import Foundation
import TenantPlanKit
import Testing

/// The binary as someone who installed it runs it: from any folder, against a throwaway
/// database, and with failures that name their source.
@Suite(.serialized) struct CommandLineTests {
    static let repositoryRoot = CLIProcessTests.repositoryRoot

    static func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "tenantplan-cwd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("tenantplan demo run from a folder outside the repository exits 0 and removes its cluster")
    func demoAnywhere() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let child = try ChildProcess(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$1\" demo --tenants 14", folder, Executable.path])
        #expect(try await child.wait(timeout: .seconds(240)) == 0, "\(child.output)")
        let output = child.output
        #expect(output.contains("(the built-in demo, written there with its migrations)"))
        #expect(output.contains("discovered 13 tenants"))  // the 12th of 14 is inactive
        #expect(output.contains("13 tenants: 13 succeeded (0 unchanged), 0 failed, 0 skipped; 94 migrations applied"))
        #expect(output.contains("13 tenants: 13 succeeded (13 unchanged), 0 failed, 0 skipped; 0 migrations applied"))
        let removed = try #require(
            output.split(separator: "\n").first { $0.hasPrefix("stopped and removed the cluster at ") })
        let cluster = String(removed.dropFirst("stopped and removed the cluster at ".count))
        #expect(!FileManager.default.fileExists(atPath: cluster), "the cluster folder \(cluster) is still there")
        let plan = try #require(output.split(separator: "\n").first { $0.hasPrefix("plan: ") })
        let planPath = String(plan.dropFirst("plan: ".count).prefix { $0 != " " })
        #expect(!FileManager.default.fileExists(atPath: planPath), "the demo's files at \(planPath) are still there")
    }

    @Test("the embedded demo files are the repository's plans/ and migrations/, byte for byte")
    func embeddedDemoMatchesRepository() throws {
        #expect(DemoProject.paths.contains("plans/demo.yaml"))
        #expect(DemoProject.paths.contains("migrations/tenant/meta/_journal.json"))
        for path in DemoProject.paths {
            let onDisk = try String(contentsOfFile: Self.repositoryRoot + "/" + path, encoding: .utf8)
            #expect(DemoProject.text(of: path) == onDisk, "\(path) differs: run scripts/embed-demo.py")
        }
        let migrations = try FileManager.default.subpathsOfDirectory(atPath: Self.repositoryRoot + "/migrations")
            .filter { !$0.hasSuffix("/") && !$0.hasSuffix("meta") && $0.contains(".") }
        #expect(Set(migrations.map { "migrations/" + $0 }).isSubset(of: Set(DemoProject.paths)))
    }

    @Test("apply, plan and status --ephemeral run plans/demo.yaml on a throwaway cluster seeded by ephemeral.seed")
    func ephemeralRuns() async throws {
        let plan = Self.repositoryRoot + "/plans/demo.yaml"
        let pending = try ChildProcess(Executable.path, ["plan", plan, "--ephemeral", "--detailed-exitcode"])
        #expect(try await pending.wait(timeout: .seconds(120)) == 3, "\(pending.output)")
        #expect(pending.output.contains("totals: 33 tenants: 33 would change, 0 up to date, 0 failed, 0 skipped"))
        let apply = try ChildProcess(Executable.path, ["apply", plan, "--ephemeral"])
        #expect(try await apply.wait(timeout: .seconds(120)) == 0, "\(apply.output)")
        #expect(
            apply.output.contains("33 tenants: 33 succeeded (0 unchanged), 0 failed, 0 skipped; 234 migrations applied")
        )
        #expect(apply.output.contains("removed the throwaway cluster at "))
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "INSERT INTO public.tenants (id) VALUES ('extra');".write(
            toFile: folder + "/more.sql", atomically: true, encoding: .utf8)
        let status = try ChildProcess(Executable.path, ["status", plan, "--ephemeral", "--seed", folder + "/more.sql"])
        #expect(try await status.wait(timeout: .seconds(120)) == 0, "\(status.output)")
        #expect(status.output.contains("34 tenants: 0 up to date, 34 with pending migrations"))
    }

    @Test("a discovery query that fails prints one located error on stderr, no summary, and exits 1")
    func discoveryFailure() async throws {
        let db = try await TestDatabase.create("fatal")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database: { url: "${TEST_DATABASE_URL}" }
            tenants:
              discover:
                sql: SELECT id FROM public.tenant
            actions: [{ name: m, migrate: m }]
            """)
        let child = try ChildProcess(
            Executable.path, ["apply", fixture.planPath], environment: ["TEST_DATABASE_URL": db.conninfo],
            separateStderr: true)
        #expect(try await child.wait() == 1)
        #expect(child.output.isEmpty, "stdout: \(child.output)")
        #expect(
            child.errors
                == "error: \(fixture.planPath):5:5: tenants.discover.sql: relation \"public.tenant\" does not exist "
                + "(SQLSTATE 42P01) at character 16\n")
    }

    @Test(
        "a malformed database.url is a located error (exit 2) for every command that connects",
        arguments: ["foo", "postgresql//x", "host=db dbname", "host=db password=s3cret dbname"])
    func malformedURL(url: String) async throws {
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database: { url: "\(url)" }
            tenants: { discover: { list: [a] } }
            actions: [{ name: m, migrate: m }]
            """)
        for command in [["apply"], ["plan"], ["status"], ["sync", "--status"], ["convert-tracking", "--to", "hash"]] {
            let child = try ChildProcess(Executable.path, [command[0], fixture.planPath] + command.dropFirst())
            #expect(try await child.wait() == 2, "\(command): \(child.output)")
            #expect(child.output.hasPrefix("\(fixture.planPath):2:18: error: invalid database.url: "))
            #expect(!child.output.contains("s3cret"))
        }
        let validate = try ChildProcess(Executable.path, ["validate", fixture.planPath])
        #expect(try await validate.wait() == 2, "validate reads the URL with libpq's parser when it can")
        #expect(validate.output.contains("\(fixture.planPath):2:18: error: invalid database.url: "))
        #expect(!validate.output.contains("s3cret"))
    }

    @Test("--help, help COMMAND and --version exit 0 with their text; a missing argument exits 2")
    func helpAndUsage() async throws {
        for arguments in [["--help"], ["help", "apply"], ["apply", "--help"], ["sync", "--help"]] {
            let child = try ChildProcess(Executable.path, arguments)
            #expect(try await child.wait() == 0, "\(arguments): \(child.output)")
            #expect(child.output.contains("USAGE: tenantplan"), "\(arguments): \(child.output)")
        }
        let version = try ChildProcess(Executable.path, ["--version"])
        #expect(try await version.wait() == 0)
        #expect(version.output == TenantPlanVersion.current + "\n")
        let missing = try ChildProcess(Executable.path, ["apply"])
        #expect(try await missing.wait() == 2)
        #expect(missing.output.contains("Missing expected argument '<plan>'"))
    }

    @Test("a reader that goes away (| head -1) loses the output, not the run: the report is written, exit 0")
    func closedPipe() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let report = folder + "/report.json"
        let script =
            "\"$0\" apply \"$1\" --ephemeral --report \"$2\" | head -1; echo \"tenantplan exited ${PIPESTATUS[0]}\""
        let child = try ChildProcess(
            "/bin/bash", ["-c", script, Executable.path, Self.repositoryRoot + "/plans/demo.yaml", report])
        #expect(try await child.wait(timeout: .seconds(120)) == 0)
        #expect(child.output.contains("tenantplan exited 0"), "\(child.output)")
        let written = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: report)))
        #expect(written.summary.succeeded == 33)
    }
}
