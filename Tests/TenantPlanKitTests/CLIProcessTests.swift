import Foundation
import TenantPlanCluster
import TenantPlanPostgres
import TenantPlanSpec
import Testing

@testable import TenantPlanKit

/// The `tenantplan` executable as a user runs it: exit codes, reports, two processes at once, Ctrl-C.
@Suite(.serialized) struct CLIProcessTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Validates a JSON file against one of docs/schemas with jsonschema (a real validator), run by
    /// Debian's /usr/bin/python3 (scripts/setup.sh installs python3-jsonschema and python3-yaml).
    static func validate(json path: String, schema: String, yaml: Bool = false) throws -> String? {
        let script = """
            import json, sys, jsonschema, yaml
            schema = json.load(open(sys.argv[1]))
            doc = yaml.safe_load(open(sys.argv[2])) if sys.argv[3] == 'yaml' else json.load(open(sys.argv[2]))
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
            print('\\n'.join(f"{list(e.path)}: {e.message}" for e in errors[:5]))
            sys.exit(1 if errors else 0)
            """
        let child = try ChildProcess(
            "/usr/bin/python3",
            ["-c", script, repositoryRoot + "/docs/schemas/" + schema, path, yaml ? "yaml" : "json"])
        var status: Int32 = 0
        waitpid(child.pid, &status, 0)
        return status == 0 ? nil : "schema violations: \(child.output)"
    }

    /// The samples of a Prometheus text file as Prometheus's own Python client parses them
    /// (`name{label=value} value`, sorted; histogram buckets and sums left out), or a parse error.
    static func prometheusSamples(_ path: String) throws -> [String] {
        let script = """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            lines = []
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    if s.name.endswith("_bucket") or s.name.endswith("_sum") or s.name.endswith("_created"):
                        continue
                    labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                    lines.append(s.name + ("{" + labels + "}" if labels else "") + " " + str(float(s.value)))
            print("\\n".join(sorted(lines)))
            """
        let child = try ChildProcess("/usr/bin/python3", ["-c", script, path], separateStderr: true)
        var status: Int32 = 0
        waitpid(child.pid, &status, 0)
        guard status == 0 else { throw TestFailure("prometheus_client refused \(path): \(child.errors)") }
        return child.output.split(separator: "\n").map(String.init)
    }

    static func plan(
        _ fixture: PlanFixture, ids: [String], sleep: Double = 0, concurrency: Int = 4, database: String = ""
    ) throws {
        for index in 1...3 {
            try fixture.write(
                "m/000\(index)_m\(index).sql",
                """
                SELECT pg_sleep(\(sleep));
                CREATE TABLE m\(index) (id int);
                INSERT INTO public.applied_log (tenant, migration) \
                VALUES (current_setting('tenantplan.tenant_id'), 'm\(index)');
                """)
        }
        try writePlan(fixture, ids: ids, concurrency: concurrency, database: database)
    }

    /// plan.yaml: the tenants `ids` in schemas t_ID, one action migrating folder m; `extra` adds top-level keys.
    /// `database` adds keys to `database:`.
    static func writePlan(
        _ fixture: PlanFixture, ids: [String], concurrency: Int, extra: String = "", database: String = ""
    ) throws {
        try fixture.write("plan.yaml", planText(ids: ids, concurrency: concurrency, extra: extra, database: database))
    }

    /// The text `writePlan` writes.
    static func planText(ids: [String], concurrency: Int, extra: String = "", database: String = "") -> String {
        """
        version: 1
        database: { url: "${TEST_DATABASE_URL}", maxConnections: 8\(database.isEmpty ? "" : ", " + database) }
        tenants:
          discover: { list: [\(ids.joined(separator: ", "))] }
          schema: "t_{id}"
          createSchemas: true
        concurrency: \(concurrency)
        \(extra)
        actions: [{ name: m, migrate: m }]
        """
    }

    func run(_ arguments: [String], database: TestDatabase) async throws -> (code: Int32, output: String) {
        let child = try ChildProcess(Executable.path, arguments, environment: ["TEST_DATABASE_URL": database.conninfo])
        let code = try await child.wait()
        return (code, child.output)
    }

    @Test("two apply processes at once both succeed and apply each migration exactly once")
    func twoProcesses() async throws {
        let db = try await TestDatabase.create("twoproc")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<60).map { "p\($0)" }
        try Self.plan(fixture, ids: ids, sleep: 0.005)
        let environment = ["TEST_DATABASE_URL": db.conninfo]
        let first = try ChildProcess(
            Executable.path, ["apply", fixture.planPath, "--report", fixture.directory + "/r1.json"],
            environment: environment)
        let second = try ChildProcess(
            Executable.path, ["apply", fixture.planPath, "--report", fixture.directory + "/r2.json"],
            environment: environment)
        let codes = (try await first.wait(), try await second.wait())
        #expect(codes.0 == 0, "\(first.output)")
        #expect(codes.1 == 0, "\(second.output)")
        #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 180)
        #expect(
            try await db.count(
                "SELECT count(*) FROM (SELECT tenant, migration FROM public.applied_log "
                    + "GROUP BY 1, 2 HAVING count(*) > 1) d"
            ) == 0)
        let reports = try [fixture.directory + "/r1.json", fixture.directory + "/r2.json"].map {
            try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: $0)))
        }
        #expect(reports[0].summary.migrationsApplied + reports[1].summary.migrationsApplied == 180)
    }

    @Test(
        "eight apply processes racing on 200 tenants, directly and through PgBouncer: each migration once, all succeed",
        arguments: [false, true])
    func eightProcesses(throughPooler: Bool) async throws {
        let db = try await TestDatabase.create("eightproc")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<200).map { "e\($0)" }
        try Self.plan(
            fixture, ids: ids, sleep: 0.001, concurrency: 4, database: throughPooler ? "pooler: transaction" : "")
        let environment = ["TEST_DATABASE_URL": throughPooler ? try TestBouncer.conninfo(db) : db.conninfo]
        let children = try (1...8).map { number in
            try ChildProcess(
                Executable.path, ["apply", fixture.planPath, "--report", fixture.directory + "/r\(number).json"],
                environment: environment)
        }
        for child in children {
            let code = try await child.wait(timeout: .seconds(300))
            #expect(code == 0, "\(child.output.suffix(2000))")
        }
        #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 600)
        #expect(
            try await db.count(
                "SELECT count(*) FROM (SELECT tenant, migration FROM public.applied_log "
                    + "GROUP BY 1, 2 HAVING count(*) > 1) d") == 0)
        #expect(
            try await db.count(
                "SELECT count(*) FROM ("
                    + ids.map { "SELECT count(*) AS n FROM t_\($0).__drizzle_migrations" }
                    .joined(separator: " UNION ALL ") + ") c WHERE n <> 3") == 0)
        var applied = 0
        for number in 1...8 {
            let path = fixture.directory + "/r\(number).json"
            #expect(try Self.validate(json: path, schema: "report-v1.json") == nil)
            applied += try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
                .summary.migrationsApplied
        }
        #expect(applied == 600, "the reports together claim each migration once")
    }

    /// A fault run: a cluster of its own (the suite's is shared by every other test), an apply of 60
    /// tenants x 3 migrations with `retry` started on it, and `fault` done to the server once 30
    /// migrations are logged. Returns the exit code, the output and the report.
    /// With `upToDate`, every tenant has its first migration from an earlier run: the faulted run
    /// applies the other two on the one-trip path.
    static func faultRun(
        retry: String, fault: (EphemeralCluster) throws -> Void, upToDate: Bool = false,
        check: (EphemeralCluster, _ ids: [String]) async throws -> Void = { _, _ in }
    ) async throws -> (code: Int32, output: String, report: Report) {
        let cluster = try EphemeralCluster.start()
        defer { cluster.stop() }
        let admin = try await PGSession.open(cluster.conninfo)
        _ = try await admin.run { try $0.exec("CREATE TABLE public.applied_log (tenant text, migration text)") }
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<60).map { "f\($0)" }
        try plan(fixture, ids: ids, sleep: 0.03, concurrency: 4, database: "retry: " + retry)
        if upToDate {
            for later in ["m/0002_m2.sql", "m/0003_m3.sql"] {
                try FileManager.default.removeItem(atPath: fixture.directory + "/" + later)
            }
            let first = try ChildProcess(
                Executable.path, ["apply", fixture.planPath, "--quiet"],
                environment: ["TEST_DATABASE_URL": cluster.conninfo])
            #expect(try await first.wait(timeout: .seconds(120)) == 0, "\(first.output)")
            try plan(fixture, ids: ids, sleep: 0.03, concurrency: 4, database: "retry: " + retry)
        }
        let report = fixture.directory + "/report.json"
        let child = try ChildProcess(
            Executable.path, ["apply", fixture.planPath, "--report", report],
            environment: ["TEST_DATABASE_URL": cluster.conninfo])
        let base = try await admin.run { Int(try $0.exec("SELECT count(*) FROM public.applied_log").value(0, 0)!)! }
        var logged = base
        for _ in 0..<400 where logged < base + 30 {
            try await Task.sleep(for: .milliseconds(25))
            logged = try await admin.run { Int(try $0.exec("SELECT count(*) FROM public.applied_log").value(0, 0)!)! }
        }
        try fault(cluster)
        let code = try await child.wait(timeout: .seconds(180))
        #expect(try validate(json: report, schema: "report-v1.json") == nil)
        try await check(cluster, ids)
        let decoded = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: report)))
        return (code, child.output, decoded)
    }

    @Test("a server restart mid-run: tenants cut off are retried, every migration applied once, exit 0")
    func restartMidRun() async throws {
        let (code, output, report) = try await Self.faultRun(
            retry: "{ maxAttempts: 20, initialDelay: 100ms, maxDelay: 500ms }", fault: { try $0.restart() },
            check: Self.eachMigrationOnce)
        #expect(code == 0, "\(output.suffix(3000))")
        #expect(report.summary.migrationsApplied == 180, "\(output.suffix(6000))")
        #expect((report.summary.retries ?? 0) > 0, "the restart cut off running tenants: they were retried")
        #expect(output.contains("\nretry "), "\(output.suffix(2000))")
    }

    @Test("a server restart mid-run on the one-trip path: retried, every new migration applied once, exit 0")
    func restartMidOneTrip() async throws {
        let (code, output, report) = try await Self.faultRun(
            retry: "{ maxAttempts: 20, initialDelay: 100ms, maxDelay: 500ms }", fault: { try $0.restart() },
            upToDate: true, check: Self.eachMigrationOnce)
        #expect(code == 0, "\(output.suffix(3000))")
        #expect(report.summary.migrationsApplied == 120, "\(output.suffix(6000))")
        #expect((report.summary.retries ?? 0) > 0, "the restart cut off running tenants: they were retried")
    }

    /// Every tenant of a fault run has its 3 migrations, each applied (logged) once.
    static func eachMigrationOnce(_ cluster: EphemeralCluster, ids: [String]) async throws {
        let session = try await PGSession.open(cluster.conninfo)
        let logged = try await session.run { try $0.exec("SELECT count(*) FROM public.applied_log").value(0, 0) }
        #expect(logged == "180")
        let twice = try await session.run {
            try $0.exec(
                "SELECT count(*) FROM (SELECT 1 FROM public.applied_log GROUP BY tenant, migration "
                    + "HAVING count(*) > 1) d"
            ).value(0, 0)
        }
        #expect(twice == "0")
        let rows = try await session.run {
            try $0.exec(
                ids.map { "SELECT count(*) AS n FROM t_\($0).__drizzle_migrations" }.joined(separator: " UNION ALL ")
            ).rows.map { $0[0] }
        }
        #expect(rows == Array(repeating: "3", count: ids.count))
    }

    @Test("a server that goes away for good: one wait for the run, then it stops; only tenants in flight fail")
    func serverGone() async throws {
        let (code, output, decoded) = try await Self.faultRun(
            retry: "{ maxAttempts: 4, initialDelay: 100ms, maxDelay: 200ms, jitter: none }",
            fault: { try $0.shutDown() })
        #expect(code == 1, "\(output.suffix(3000))")
        #expect(decoded.stopReason == .databaseUnreachable)
        #expect(decoded.stopDetail?.contains("gave up after 4 attempts") == true, "\(decoded.stopDetail as Any)")
        #expect(decoded.summary.failed <= 4, "only the tenants in flight fail: \(decoded.summary)")
        #expect(decoded.summary.skipped > 0)
        #expect(decoded.summary.succeeded + decoded.summary.failed + decoded.summary.skipped == 60)
        #expect(output.contains("the database cannot be reached"), "\(output.suffix(3000))")
    }

    @Test("without a terminal: failures and a progress line, not a line per tenant; --verbose and --quiet")
    func outputAtScale() async throws {
        let db = try await TestDatabase.create("output_scale")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<12).map { "o\($0)" } + ["slow"]
        try Self.plan(fixture, ids: ids, sleep: 0.1, concurrency: 2)
        try fixture.write(
            "m/0004_slow.sql",
            "SELECT pg_sleep(CASE WHEN current_setting('tenantplan.tenant_id') = 'slow' THEN 1.5 ELSE 0 END);")
        let normal = try await run(["apply", fixture.planPath, "--progress-every", "200ms"], database: db)
        #expect(normal.code == 0, "\(normal.output)")
        #expect(!normal.output.contains("ok o1 (t_o1)"), "no line per tenant")
        #expect(normal.output.contains("progress: "), "\(normal.output)")
        #expect(normal.output.contains(" tenants done, 0 failed, "))
        #expect(normal.output.contains("slow (t_slow): 0001_m1..0004_slow running for "), "\(normal.output)")
        #expect(normal.output.contains("13 tenants: 13 succeeded (0 unchanged)"))
        try fixture.write("m/0005_x.sql", "SELECT 1;")
        let verbose = try await run(["apply", fixture.planPath, "--verbose"], database: db)
        #expect(verbose.output.contains("ok o1 (t_o1) "), "\(verbose.output)")
        try fixture.write("m/0006_y.sql", "SELECT 2;")
        let quiet = try await run(["apply", fixture.planPath, "--quiet", "--progress-every", "100ms"], database: db)
        #expect(!quiet.output.contains("progress: "))
        #expect(quiet.output.contains("13 tenants: 13 succeeded"))
    }

    @Test("--log-format json: every stderr line is JSON; SLOW_QUERY and query logs name the tenant, never a literal")
    func logging() async throws {
        let db = try await TestDatabase.create("logging")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_slow.sql", "SELECT pg_sleep(0.3); ALTER ROLE CURRENT_USER PASSWORD 'hunter2-must-not-leak';")
        try Self.writePlan(
            fixture, ids: ["l1"], concurrency: 1, extra: "debug: { logQueries: true, logPoolEvents: true }")
        let child = try ChildProcess(
            Executable.path,
            ["apply", fixture.planPath, "--log-format", "json", "--slow-query", "200ms"],
            environment: ["TEST_DATABASE_URL": db.conninfo], separateStderr: true)
        #expect(try await child.wait() == 0, "\(child.errors)")
        let lines = child.errors.split(separator: "\n").map(String.init)
        let objects = lines.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
        }
        #expect(objects.count == lines.count, "every line on stderr is a JSON object: \(lines.prefix(3))")
        let slow = try #require(objects.first { $0["message"] == "SLOW_QUERY" }, "\(lines)")
        #expect(slow["level"] == "warning")
        #expect(slow["tenant"] == "l1" && slow["schema"] == "t_l1" && slow["migration"] == "0001_slow")
        #expect(Int(slow["duration"]?.dropLast(2) ?? "") ?? 0 >= 300)
        #expect(objects.contains { $0["message"] == "query" && $0["tenant"] == "l1" })
        #expect(objects.contains { $0["message"] == "pool" && $0["event"] == "connect" && $0["duration"] != nil })
        #expect(objects.contains { $0["message"]?.hasPrefix("1 tenant: 1 succeeded") == true }, "the summary too")
        #expect(!child.errors.contains("hunter2"), "a literal never reaches the logs")
    }

    @Test("kill -9 mid-run, then a rerun: every migration applied exactly once, each with its tracking row")
    func killedThenRerun() async throws {
        let db = try await TestDatabase.create("sigkill")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<30).map { "k\($0)" }
        try Self.plan(fixture, ids: ids, sleep: 0.2, concurrency: 4)
        let child = try ChildProcess(
            Executable.path, ["apply", fixture.planPath], environment: ["TEST_DATABASE_URL": db.conninfo])
        var waited = 0
        while try await db.count("SELECT count(*) FROM public.applied_log") < 6, waited < 300 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        child.signal(SIGKILL)
        _ = try await child.wait(timeout: .seconds(60))
        let before = try await db.count("SELECT count(*) FROM public.applied_log")
        #expect(before >= 6 && before < 90, "killed mid-run: \(before) of 90 migrations ran")
        // The killed run's backends may still hold a tenant lock until they notice: the rerun waits for it.
        let rerun = try await run(["apply", fixture.planPath], database: db)
        #expect(rerun.code == 0, "\(rerun.output)")
        #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 90)
        #expect(
            try await db.count(
                "SELECT count(*) FROM (SELECT tenant, migration FROM public.applied_log "
                    + "GROUP BY 1, 2 HAVING count(*) > 1) d")
                == 0)
        for id in ids {
            #expect(try await db.count("SELECT count(*) FROM t_\(id).__drizzle_migrations") == 3, "\(id)")
        }
    }

    @Test("a server that comes up after apply started is waited for (database.retry); one that never does is one error")
    func serverStartsLate() async throws {
        // The suite's cluster listens on a Unix socket; a folder that gets a link to that socket only
        // after apply has started is, to libpq, a server that starts late.
        // (With TENANTPLAN_TEST_DATABASE_URL there is no suite cluster: a throwaway one stands in.)
        let suite = try TestServer.server().cluster
        let cluster = try suite ?? EphemeralCluster.start()
        defer { if suite == nil { cluster.stop() } }
        let dbName = suite == nil ? "postgres" : try await TestDatabase.create("late").name
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let late = fixture.directory + "/late-socket"
        try FileManager.default.createDirectory(atPath: late, withIntermediateDirectories: true)
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database:
              url: "host=\(late) port=5432 user=postgres dbname=\(dbName)"
              retry: { maxAttempts: 30, initialDelay: 100ms, maxDelay: 200ms, jitter: none }
            tenants:
              discover: { list: [a, b] }
              schema: "t_{id}"
              createSchemas: true
            actions: [{ name: m, migrate: m }]
            """)
        let report = fixture.directory + "/report.json"
        let child = try ChildProcess(Executable.path, ["apply", fixture.planPath, "--report", report])
        try await Task.sleep(for: .milliseconds(700))
        try FileManager.default.createSymbolicLink(
            atPath: late + "/.s.PGSQL.5432", withDestinationPath: cluster.directory + "/.s.PGSQL.5432")
        let code = try await child.wait(timeout: .seconds(60))
        #expect(code == 0, "\(child.output)")
        #expect(child.output.contains("warning: cannot connect: "), "\(child.output)")
        #expect(child.output.contains("; attempt 2 of 30 in 100 ms"), "\(child.output)")
        let applied = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: report)))
        #expect(applied.summary.migrationsApplied == 2)
        // Never up: one error after the attempts, exit 1.
        try FileManager.default.removeItem(atPath: late + "/.s.PGSQL.5432")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database:
              url: "host=\(late) port=5432 user=postgres dbname=\(dbName)"
              retry: { maxAttempts: 3, initialDelay: 10ms }
            tenants: { discover: { list: [a] }, schema: "t_{id}" }
            actions: [{ name: m, migrate: m }]
            """)
        let never = try ChildProcess(Executable.path, ["apply", fixture.planPath])
        #expect(try await never.wait(timeout: .seconds(60)) == 1)
        #expect(never.output.contains("(gave up after 3 attempts)"), "\(never.output)")
        #expect(never.output.contains("database.url: "), "\(never.output)")
    }

    @Test("Ctrl-C against a server that does not answer: exit 130 within seconds, the outcome reported as unknown")
    func interruptUnansweredServer() async throws {
        let db = try await TestDatabase.create("hung")
        try await db.exec("CREATE TABLE public.hang (on_ boolean); INSERT INTO public.hang VALUES (true);")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        try fixture.write(
            "m/0002_b.sql", "SELECT pg_sleep(CASE WHEN EXISTS (SELECT FROM public.hang) THEN 60 ELSE 0 END);")
        try Self.writePlan(fixture, ids: ["x"], concurrency: 1)
        let reportPath = fixture.directory + "/report.json"
        let child = try ChildProcess(
            Executable.path, ["apply", fixture.planPath, "--report", reportPath],
            environment: ["TEST_DATABASE_URL": db.conninfo])
        var backend: pid_t?
        for _ in 0..<200 where backend == nil {
            backend = try await db.scalar(
                "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                    + "AND datname = \(SQL.quoteLiteral(db.name))"
            ).flatMap { pid_t($0) }
            if backend == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let pid = try #require(backend, "the migration never started: \(child.output)")
        // The server stops answering (a hung host, a silent network): it will not act on a cancel request.
        try #require(kill(pid, SIGSTOP) == 0, "the test must be able to signal the server's backends")
        let started = Date()
        child.signal(SIGINT)
        let code = try await child.wait(timeout: .seconds(60))
        let elapsed = Date().timeIntervalSince(started)
        kill(pid, SIGCONT)
        _ = try await db.scalar("SELECT pg_terminate_backend(\(pid))")
        #expect(code == 130, "\(child.output)")
        #expect(elapsed < 15, "the first Ctrl-C took \(elapsed) s")
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: reportPath)))
        #expect(report.stopReason == .interrupted)
        let error = try #require(report.tenant("x")?.actions.first?.error)
        #expect(error.message.contains("did not end the statement when asked"), "\(error)")
        #expect(error.message.contains("unknown until the next run re-reads the tracking table"), "\(error)")
        #expect(try Self.validate(json: reportPath, schema: "report-v1.json") == nil)
        // The rerun finds what committed and finishes the rest; each migration is recorded once.
        try await db.exec("DELETE FROM public.hang")
        let rerun = try await run(["apply", fixture.planPath], database: db)
        #expect(rerun.code == 0, "\(rerun.output)")
        #expect(try await db.count("SELECT count(*) FROM t_x.__drizzle_migrations") == 2)
        #expect(try await db.tableExists("t_x", "a"))
    }

    @Test("SIGINT mid-run exits 130 with a partial report and no half-applied migration")
    func interrupt() async throws {
        let db = try await TestDatabase.create("sigint")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<40).map { "i\($0)" }
        try Self.plan(fixture, ids: ids, sleep: 0.3, concurrency: 4)
        let reportPath = fixture.directory + "/report.json"
        let child = try ChildProcess(
            Executable.path, ["apply", fixture.planPath, "--report", reportPath],
            environment: ["TEST_DATABASE_URL": db.conninfo])
        try await Task.sleep(for: .milliseconds(1500))
        child.signal(SIGINT)
        let code = try await child.wait(timeout: .seconds(60))
        #expect(code == 130, "\(child.output)")
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: reportPath)))
        #expect(report.stopReason == .interrupted)
        #expect(report.summary.skipped > 0)
        #expect(report.summary.tenants == 40)
        #expect(try Self.validate(json: reportPath, schema: "report-v1.json") == nil)
        // Every migration's effects and its tracking row are both there or both absent.
        for id in ids {
            let schema = "t_\(id)"
            guard try await db.tableExists(schema, "__drizzle_migrations") else {
                #expect(
                    try await db.count("SELECT count(*) FROM public.applied_log WHERE tenant = \(SQL.quoteLiteral(id))")
                        == 0)
                continue
            }
            for index in 1...3 {
                let recorded =
                    try await db.count(
                        "SELECT count(*) FROM \(schema).__drizzle_migrations WHERE name = '000\(index)_m\(index)'") == 1
                #expect(try await db.tableExists(schema, "m\(index)") == recorded, "\(schema) m\(index)")
                #expect(
                    try await db.count(
                        "SELECT count(*) FROM public.applied_log WHERE tenant = \(SQL.quoteLiteral(id)) "
                            + "AND migration = 'm\(index)'"
                    ) == (recorded ? 1 : 0))
            }
        }
        // Nothing was left locked or running: a rerun finishes the job.
        let rerun = try await run(["apply", fixture.planPath], database: db)
        #expect(rerun.code == 0, "\(rerun.output)")
        #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 120)
    }

    @Test(
        """
        exit codes: 0 success, 1 tenant failure, 2 invalid plan or unknown --tenant, \
        3 pending with plan --detailed-exitcode
        """
    )
    func exitCodes() async throws {
        let db = try await TestDatabase.create("exits")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try Self.plan(fixture, ids: ["a", "b"])
        let pending = try await run(["plan", fixture.planPath, "--detailed-exitcode"], database: db)
        #expect(pending.code == 3, "\(pending.output)")
        #expect(pending.output.contains("2 tenants (a, b): create schema; m: +0001_m1, +0002_m2, +0003_m3"))
        #expect(
            pending.output.contains(
                "totals: 2 tenants: 2 would change, 0 up to date, 0 failed, 0 skipped; 6 migrations pending, "
                    + "2 schemas to create"))
        #expect(!pending.output.contains("succeeded"), "a dry run succeeds at nothing: \(pending.output)")
        #expect(try await run(["apply", fixture.planPath, "--tenant", "nope"], database: db).code == 2)
        #expect(try await run(["apply", fixture.planPath, "--concurrency", "50"], database: db).code == 2)
        #expect(try await run(["apply", fixture.planPath, "--no-such-flag"], database: db).code == 2)
        let applied = try await run(["apply", fixture.planPath, "--json"], database: db)
        #expect(applied.code == 0, "\(applied.output)")
        #expect(try await run(["plan", fixture.planPath, "--detailed-exitcode"], database: db).code == 0)
        try await db.exec("DROP TABLE public.applied_log")
        try fixture.write("m/0004_m4.sql", "INSERT INTO public.applied_log VALUES ('x', 'y');")
        let failing = try await run(["apply", fixture.planPath], database: db)
        #expect(failing.code == 1)
        #expect(
            failing.output.contains(
                "FAILED at 0004_m4: relation \"public.applied_log\" does not exist (SQLSTATE 42P01)"))
    }

    @Test("sync, convert-tracking and --mark-applied from the command line: outputs, exit codes, schema-valid reports")
    func legacyCommands() async throws {
        let db = try await TestDatabase.create("legacycli")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try Self.plan(fixture, ids: ["a", "b", "c"])
        let marked = fixture.directory + "/marked.json"
        let missing = try await run(["apply", fixture.planPath, "--mark-applied"], database: db)
        #expect(missing.code == 1, "no schema: nothing to record as applied")
        #expect(missing.output.contains("schema t_a does not exist: --mark-applied records what a schema already has"))
        try await db.exec("CREATE SCHEMA t_a; CREATE SCHEMA t_b; CREATE SCHEMA t_c;")
        let mark = try await run(
            ["apply", fixture.planPath, "--mark-applied", "--up-to", "0002_m2", "--report", marked, "--verbose"],
            database: db)
        #expect(mark.code == 0, "\(mark.output)")
        #expect(mark.output.contains("marked as applied 0001_m1, 0002_m2"))
        #expect(try Self.validate(json: marked, schema: "report-v1.json") == nil)
        #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 0)
        #expect(try await run(["apply", fixture.planPath, "--up-to", "0002_m2"], database: db).code == 2)
        #expect(
            try await run(["apply", fixture.planPath, "--mark-applied", "--up-to", "0009_nope"], database: db).code == 2
        )

        try await db.exec(
            "INSERT INTO t_a.__drizzle_migrations (name) VALUES ('0000_renamed'); "
                + "INSERT INTO t_b.__drizzle_migrations (name) VALUES ('0000_renamed');"
        )
        let status = try await run(["sync", fixture.planPath, "--status"], database: db)
        #expect(status.code == 0, "\(status.output)")
        #expect(status.output.contains("2 tenants (a, b):"))
        #expect(status.output.contains("likely renamed: 0003_m3 (recorded as 0000_renamed)"))
        #expect(status.output.contains("3 tenants: 0 in sync, 3 drifted (3 missing, 2 orphan rows), 0 failed"))
        let unconfirmed = try await run(["sync", fixture.planPath, "--clean-orphans"], database: db)
        #expect(unconfirmed.code == 2, "writing without --yes is refused, terminal or not")
        #expect(unconfirmed.output.contains("run it again with --yes"))
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations WHERE name = '0000_renamed'") == 1)
        let clean = try await run(["sync", fixture.planPath, "--clean-orphans", "--json", "--yes"], database: db)
        #expect(clean.code == 0)
        #expect(clean.output.contains("\"deleted\" : 2"))
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations WHERE name = '0000_renamed'") == 0)

        let dry = try await run(
            ["convert-tracking", fixture.planPath, "--to", "drizzle-kit", "--dry-run"], database: db)
        #expect(dry.code == 0)
        #expect(dry.output.contains("dry run: 3 tenants: 3 to convert (6 rows)"))
        #expect(try await run(["convert-tracking", fixture.planPath, "--to", "hash"], database: db).code == 0)
        #expect(
            try await db.count(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 't_c' "
                    + "AND table_name = '__drizzle_migrations' AND column_name = 'hash'"
            ) == 1)

        // A plan that wants name tables with autoMigrateFormat: only conversions are pending.
        let text = try String(contentsOfFile: fixture.planPath, encoding: .utf8)
        try fixture.write(
            "plan.yaml",
            text.replacingOccurrences(
                of: "concurrency: 4", with: "concurrency: 4\ntracking: { format: name, autoMigrateFormat: true }"))
        try await db.exec(
            "DELETE FROM t_a.__drizzle_migrations; DELETE FROM t_b.__drizzle_migrations; "
                + "DELETE FROM t_c.__drizzle_migrations;"
        )
        let marking = try await run(["apply", fixture.planPath, "--mark-applied", "--verbose"], database: db)
        #expect(marking.code == 0, "\(marking.output)")
        #expect(marking.output.contains("converted tracking hash -> name"))
        #expect(try await run(["plan", fixture.planPath, "--detailed-exitcode"], database: db).code == 0)
        // Converting against the plan's pinned format is refused; with the plan on auto-detect it works.
        #expect(
            try await run(["convert-tracking", fixture.planPath, "--to", "drizzle-kit", "--tenant", "a"], database: db)
                .code == 2)
        let pinned = try String(contentsOfFile: fixture.planPath, encoding: .utf8)
        try fixture.write("plan.yaml", text)
        #expect(
            try await run(["convert-tracking", fixture.planPath, "--to", "drizzle-kit", "--tenant", "a"], database: db)
                .code == 0)
        try fixture.write("plan.yaml", pinned)
        // Tenant a in drizzle-kit under a name plan: nothing to apply, only a conversion pending, and that counts.
        let pending = try await run(["plan", fixture.planPath, "--detailed-exitcode"], database: db)
        #expect(pending.code == 3, "\(pending.output)")
        #expect(pending.output.contains("0 migrations pending"), "\(pending.output)")
    }

    @Test("reports written by --report and --json validate against docs/schemas/report-v1.json")
    func reportSchema() async throws {
        let db = try await TestDatabase.create("schema")
        try await db.exec(
            "CREATE TABLE public.applied_log (tenant text, migration text); "
                + "CREATE SCHEMA t_b; CREATE TABLE t_b.m2 (id int); "
                + "CREATE TABLE t_b.__drizzle_migrations (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, "
                + "applied_at timestamptz DEFAULT current_timestamp);"
        )
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try Self.plan(fixture, ids: ["a", "b", "c"])
        let path = fixture.directory + "/report.json"
        let result = try await run(["apply", fixture.planPath, "--report", path], database: db)
        #expect(result.code == 1)
        #expect(try Self.validate(json: path, schema: "report-v1.json") == nil)
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(report.tenant("b")?.actions.first?.error?.sqlstate == "42P07")
        #expect(report.plan.sha256 == Hashing.sha256(ofFile: fixture.planPath))
        let dry = fixture.directory + "/dry.json"
        _ = try await run(["plan", fixture.planPath, "--report", dry], database: db)
        #expect(try Self.validate(json: dry, schema: "report-v1.json") == nil)
    }

    @Test("identical failures stop the run and are printed as one group; the report says why and validates")
    func identicalFailures() async throws {
        let db = try await TestDatabase.create("identical_cli")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "SELECT 1 / 0;")
        let ids = (0..<8).map { "a\($0)" }
        try Self.writePlan(fixture, ids: ids, concurrency: 1)
        let path = fixture.directory + "/report.json"
        let stopped = try await run(["apply", fixture.planPath, "--report", path], database: db)
        #expect(stopped.code == 1)
        #expect(
            stopped.output.contains("8 tenants: 0 succeeded (0 unchanged), 3 failed, 5 skipped"), "\(stopped.output)")
        #expect(
            stopped.output.contains(
                "(stopped: 0001_x failed the same way on 3 tenants and applied on none in this run "
                    + "(22012 division by zero); fix the migration and rerun)"))
        #expect(stopped.output.contains("  3 tenants: 0001_x: 22012 division by zero (a0, a1, a2)"))
        #expect(try Self.validate(json: path, schema: "report-v1.json") == nil)
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(report.stopReason == .identicalFailures)
        try Self.writePlan(fixture, ids: ids, concurrency: 1, extra: "stopAfterIdenticalFailures: 0")
        let all = try await run(["apply", fixture.planPath], database: db)
        #expect(all.code == 1)
        let failedLines = all.output.split(separator: "\n").filter { $0.hasPrefix("FAILED ") }
        #expect(failedLines.count == 3, "three lines per identical failure, then a group: \(all.output)")
        #expect(all.output.contains("  8 tenants: 0001_x: 22012 division by zero (a0, a1, a2, a3, a4, … and 3 more)"))
        #expect(!all.output.contains("stopped"))
    }

    @Test("a killed backend is retried from the command line: a retry line, the count in the summary, a valid report")
    func retryFromCommandLine() async throws {
        let db = try await TestDatabase.create("retry_cli")
        try await db.exec("CREATE SEQUENCE public.kills")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_killer.sql", RetryTests.killer(kills: 1))
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database:
              url: "${TEST_DATABASE_URL}"
              retry: { initialDelay: 20ms, jitter: none }
            tenants:
              discover: { list: [a] }
              schema: "t_{id}"
              createSchemas: true
            actions: [{ name: m, migrate: m }]
            """)
        let path = fixture.directory + "/report.json"
        let metrics = fixture.directory + "/tenantplan.prom"
        let result = try await run(
            ["apply", fixture.planPath, "--report", path, "--metrics-file", metrics, "--per-tenant-metrics"],
            database: db)
        #expect(result.code == 0, "\(result.output)")
        #expect(
            try Self.prometheusSamples(metrics) == [
                "tenantplan_connections_opened_total 2.0", "tenantplan_connections_recycled_total 0.0",
                "tenantplan_migration_duration_seconds_count 1.0", "tenantplan_migrations_applied_total 1.0",
                "tenantplan_pending_migrations 0.0", "tenantplan_pool_connections{state=active} 0.0",
                "tenantplan_pool_connections{state=idle} 1.0", "tenantplan_pool_waiting 0.0",
                "tenantplan_retries_total{sqlstate=57P01} 1.0", "tenantplan_tenant_pending_migrations{tenant=a} 0.0",
                "tenantplan_tenants{status=failed} 0.0", "tenantplan_tenants{status=skipped} 0.0",
                "tenantplan_tenants{status=succeeded} 1.0", "tenantplan_tenants{status=unchanged} 0.0",
            ])
        #expect(result.output.contains("retry a (t_a): attempt 1 of 3 failed: at 0001_killer: "), "\(result.output)")
        #expect(result.output.contains("(SQLSTATE 57P01); attempt 2 in 20 ms"), "\(result.output)")
        #expect(result.output.contains("1 migration applied, 1 retry in "))
        #expect(try Self.validate(json: path, schema: "report-v1.json") == nil)
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(report.tenant("a")?.attempts == 2)
        #expect(report.summary.retries == 1)
    }

    @Test("the plan JSON Schema accepts the demo and fixture plans and refuses invalid ones")
    func planSchema() throws {
        let fixtures = Self.repositoryRoot + "/Tests/TenantPlanSpecTests/Fixtures"
        #expect(
            try Self.validate(json: Self.repositoryRoot + "/plans/demo.yaml", schema: "plan-v1.json", yaml: true) == nil
        )
        #expect(try Self.validate(json: fixtures + "/valid/full.yaml", schema: "plan-v1.json", yaml: true) == nil)
        // Valid for the schema, refused by the compiler for what a schema cannot say.
        #expect(
            try Self.validate(json: fixtures + "/invalid/pooler-no-direct.yaml", schema: "plan-v1.json", yaml: true)
                == nil)
        for name in [
            "unknown-key", "wrong-types", "bad-duration", "discover-two", "action-two-kinds", "unknown-format",
            "wrong-version", "lint-rules",
        ] {
            #expect(
                try Self.validate(json: fixtures + "/invalid/\(name).yaml", schema: "plan-v1.json", yaml: true) != nil,
                "\(name) passed the schema")
        }
    }

    @Test("validate prints every problem located, exits 2; a valid plan prints a summary and exits 0")
    func validateCommand() async throws {
        let fixtures = Self.repositoryRoot + "/Tests/TenantPlanSpecTests/Fixtures"
        let bad = try ChildProcess(Executable.path, ["validate", fixtures + "/invalid/wrong-types.yaml"])
        #expect(try await bad.wait() == 2)
        #expect(bad.output.split(separator: "\n").count == 3)
        #expect(
            bad.output.contains(
                "wrong-types.yaml:3:19: error: 'database.maxConnections' must be an integer, found 'lots'"))
        let good = try ChildProcess(Executable.path, ["validate", Self.repositoryRoot + "/plans/demo.yaml"])
        #expect(try await good.wait() == 0)
        #expect(good.output.contains("demo.yaml: valid: 3 actions (1 shared, 2 per tenant)"))
        let json = try ChildProcess(
            Executable.path, ["validate", fixtures + "/invalid/cycle.yaml", "--format", "json"])
        #expect(try await json.wait() == 2)
        #expect(json.output.contains("\"message\" : \"dependency cycle: a -> b -> c -> a\""))
    }
}

extension Hashing {
    static func sha256(ofFile path: String) -> String {
        sha256Hex([UInt8](FileManager.default.contents(atPath: path) ?? Data()))
    }
}
