import Foundation
import TenantPlanPostgres
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// `tenantplan plan` for reviews, from the command line on a real database: groups, byte-stable
/// bytes in every format, markdown a real renderer turns into the expected HTML, the JSON Schema,
/// exit codes, and read-only connections.
@Suite(.serialized) struct PlanReviewTests {
    /// 8 tenants one migration behind, 3 new ones, 1 refused (a pending migration sorting before its
    /// latest applied one), and one whose id is full of markdown and HTML.
    static func scenario(_ fixture: PlanFixture, _ db: TestDatabase) async throws -> [String] {
        let old = (0..<8).map { "e\($0)" } + ["x", "a_*b*<i>"]
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (id int);")
        try CLIProcessTests.writePlan(fixture, ids: old.map { "\"\($0)\"" }, concurrency: 4)
        let first = try await CLIProcessTests().run(["apply", fixture.planPath], database: db)
        #expect(first.code == 0, "\(first.output)")
        try await db.exec("DELETE FROM t_x.__drizzle_migrations WHERE name = '0001_a'")
        try fixture.write("m/0003_c.sql", "ALTER TABLE b ADD COLUMN note text; -- a `tick` and <b>bold</b>\n")
        let all = old + ["n0", "n1", "n2"]
        try CLIProcessTests.writePlan(fixture, ids: all.map { "\"\($0)\"" }, concurrency: 4)
        return all
    }

    func plan(_ arguments: [String], _ db: TestDatabase, user: String? = nil) async throws -> (
        code: Int32, errors: String
    ) {
        let conninfo = db.conninfo + (user.map { " user=\($0)" } ?? "")
        let child = try ChildProcess(
            Executable.path, ["plan"] + arguments, environment: ["TEST_DATABASE_URL": conninfo], separateStderr: true)
        let code = try await child.wait()
        return (code, child.errors)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test("plan groups tenants by change, byte for byte the same twice, in text, markdown and JSON")
    func groupsAndStableBytes() async throws {
        let db = try await TestDatabase.create("review")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        _ = try await Self.scenario(fixture, db)
        let directory = fixture.directory
        for format in ["text", "markdown", "json"] {
            for round in 1...2 {
                let run = try await plan(
                    [fixture.planPath, "--format", format, "--sql", "--out", "\(directory)/\(format)\(round)"], db)
                #expect(run.code == 1, "a refused tenant is an error: \(run.errors)")
            }
            #expect(try read("\(directory)/\(format)1") == read("\(directory)/\(format)2"), "\(format) is byte-stable")
        }
        let text = try read("\(directory)/text1").split(separator: "\n").map(String.init)
        #expect(text.count == 6, "\(text)")
        #expect(text[1] == "9 tenants (a_*b*<i>, e0, e1, e2, e3, e4, e5, e6, e7): m: +0003_c")
        #expect(text[2] == "3 tenants (n0, n1, n2): create schema; m: +0001_a, +0002_b, +0003_c")
        #expect(text[3].hasPrefix("FAILED 1 tenant (x): at 0001_a: 0001_a is pending but sorts before 0002_b"))
        #expect(
            text[4]
                == "lint warning [require-lock-timeout] m/0003_c line 1: ALTER TABLE takes ACCESS EXCLUSIVE on b "
                + "and the plan sets no database.lockTimeout: ACCESS EXCLUSIVE on b in 12 schemas")
        #expect(
            text[5]
                == "totals: 13 tenants: 12 would change, 0 up to date, 1 failed, 0 skipped; 18 migrations pending, "
                + "3 schemas to create")
        #expect(try CLIProcessTests.validate(json: "\(directory)/json1", schema: "plan-output-v1.json") == nil)
        let review = try JSONDecoder().decode(
            PlanReview.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/json1")))
        #expect(review.groups.map(\.tenants.count) == [9, 3, 1])
        #expect(review.migrations.map { "\($0.name):\($0.targets)" } == ["0001_a:3", "0002_b:3", "0003_c:12"])
        #expect(review.migrations.last?.sql?.contains("<b>bold</b>") == true)
        try await db.exec("DROP INDEX IF EXISTS t_e3.nothing; CREATE TABLE t_e3.scratch (z int)")
        let drift = try await plan([fixture.planPath, "--drift", "--out", "\(directory)/drift.txt"], db)
        #expect(drift.code == 1)
        let driftText = try read("\(directory)/drift.txt")
        #expect(driftText.contains("  1 tenant (e3): column scratch.z extra; table scratch extra"), "\(driftText)")
    }

    @Test("a new table in another format than every existing one is a warning in text, markdown and JSON")
    func newTableFormatWarning() async throws {
        let db = try await TestDatabase.create("newformat")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try CLIProcessTests.writePlan(
            fixture, ids: ["d0", "d1"], concurrency: 2, extra: "tracking: { format: drizzle-kit }")
        #expect(try await CLIProcessTests().run(["apply", fixture.planPath], database: db).code == 0)
        try CLIProcessTests.writePlan(
            fixture, ids: ["d0", "d1", "n0"], concurrency: 2, extra: "tracking: { format: auto-detect }")
        let expected =
            "action 'm': 1 tenant(s) have no tracking table yet, and auto-detect will create theirs in name format, "
            + "while all 2 existing ones are drizzle-kit; set tracking.newTableFormat: drizzle-kit to keep one format"
        let directory = fixture.directory
        for format in ["text", "markdown", "json"] {
            let run = try await plan([fixture.planPath, "--format", format, "--out", "\(directory)/\(format)"], db)
            #expect(run.code == 0, "\(run.errors)")
        }
        #expect(try read("\(directory)/text").contains("\nwarning: " + expected + "\n"))
        #expect(try read("\(directory)/markdown").contains("\n> **Warning:** action 'm': 1 tenant(s) have no tracking"))
        let review = try JSONDecoder().decode(
            PlanReview.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/json")))
        #expect(review.warnings == [expected])
        #expect(try CLIProcessTests.validate(json: "\(directory)/json", schema: "plan-output-v1.json") == nil)
    }

    @Test("the markdown renders (markdown-it, GitHub's table and details) with every user text escaped")
    func markdownRenders() async throws {
        let db = try await TestDatabase.create("review_md")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        _ = try await Self.scenario(fixture, db)
        let markdown = fixture.directory + "/plan.md"
        _ = try await plan([fixture.planPath, "--format", "markdown", "--sql", "--out", markdown], db)
        let script = """
            import sys
            from markdown_it import MarkdownIt
            md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
            sys.stdout.write(md.render(open(sys.argv[1]).read()))
            """
        let child = try ChildProcess("/usr/bin/python3", ["-c", script, markdown], separateStderr: true)
        #expect(try await child.wait() == 0, "markdown-it: \(child.errors)")
        let html = child.output
        #expect(html.contains("<table>"))
        #expect(html.contains("<td>would change</td>\n<td style=\"text-align:right\">12</td>"), "\(html.prefix(800))")
        #expect(html.components(separatedBy: "<details>").count - 1 == 3 + 3, "3 groups and 3 migrations")
        #expect(
            html.contains(
                "<code class=\"language-sql\">ALTER TABLE b ADD COLUMN note text; "
                    + "-- a `tick` and &lt;b&gt;bold&lt;/b&gt;"
            ))
        #expect(html.contains("a_*b*&lt;i&gt;, e0"), "the tenant id is text, not markup")
        #expect(!html.contains("<i>") && !html.contains("<em>b</em>"))
    }

    @Test("--detailed-exitcode: 3 with changes, 0 with none, 1 on errors, 2 for an invalid plan")
    func exitCodes() async throws {
        let db = try await TestDatabase.create("review_exit")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        _ = try await Self.scenario(fixture, db)
        #expect(try await plan([fixture.planPath, "--detailed-exitcode"], db).code == 1)
        #expect(try await plan([fixture.planPath, "--detailed-exitcode", "--exclude", "x"], db).code == 3)
        let applied = try await CLIProcessTests().run(["apply", fixture.planPath, "--exclude", "x"], database: db)
        #expect(applied.code == 0, "\(applied.output)")
        #expect(try await plan([fixture.planPath, "--detailed-exitcode", "--exclude", "x"], db).code == 0)
        try fixture.write("bad.yaml", "version: 1\nactions: []\n")
        #expect(try await plan([fixture.directory + "/bad.yaml", "--detailed-exitcode"], db).code == 2)
    }

    @Test("a rehearsal with data catches a unique index over duplicates in one tenant; the source is unchanged")
    func rehearsal() async throws {
        let db = try await TestDatabase.create("review_rehearse")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_items.sql", "CREATE TABLE items (id int, sku text);")
        try CLIProcessTests.writePlan(fixture, ids: ["r1", "r2", "r3"], concurrency: 2)
        let first = try await CLIProcessTests().run(["apply", fixture.planPath], database: db)
        #expect(first.code == 0, "\(first.output)")
        try await db.exec("INSERT INTO t_r2.items VALUES (1, 'a'), (2, 'a'); INSERT INTO t_r1.items VALUES (1, 'x')")
        try fixture.write("m/0002_unique.sql", "CREATE UNIQUE INDEX items_sku ON items (sku);")
        let out = fixture.directory + "/rehearsal.json"
        let schemaOnly = try await plan(
            [fixture.planPath, "--rehearse", "--format", "json", "--out", out], db)
        #expect(schemaOnly.code == 0, "schema only, one tenant per group: nothing to trip on: \(schemaOnly.errors)")
        let withData = try await plan(
            [fixture.planPath, "--rehearse", "--with-data", "--sample", "3", "--format", "json", "--out", out], db)
        #expect(withData.code == 1, "\(withData.errors)")
        #expect(try CLIProcessTests.validate(json: out, schema: "plan-output-v1.json") == nil)
        let review = try JSONDecoder().decode(PlanReview.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        let rehearsal = try #require(review.rehearsal)
        #expect(rehearsal.copied == "3 tenants with data")
        #expect(rehearsal.tenants.map(\.status) == [.succeeded, .failed, .succeeded])
        #expect(rehearsal.tenants[1].error?.sqlstate == "23505")
        #expect(rehearsal.tenants[0].schemaChanges == ["index items_sku added"])
        #expect(rehearsal.tenants[0].applied.map(\.name) == ["0002_unique"])
        #expect(try await db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'items_sku'") == 0)
        #expect(try await db.count("SELECT count(*) FROM t_r1.__drizzle_migrations") == 1, "the source only read")
    }

    @Test("lint and validate --lint exit 2 on an error finding, located in the file; a waiver clears it")
    func lintCommand() async throws {
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write("m/0002_drop.sql", "SELECT 1;\nDROP TABLE a;\n")
        try CLIProcessTests.writePlan(fixture, ids: ["x"], concurrency: 1, database: "lockTimeout: 5s")
        let lint = try ChildProcess(Executable.path, ["lint", fixture.planPath])
        #expect(try await lint.wait() == 2)
        #expect(lint.output.contains("m/0002_drop.sql:2:1: error: [ban-drop-table] DROP TABLE a: "), "\(lint.output)")
        #expect(lint.output.contains("lint: 1 error, 0 warnings in 1 migration"))
        let validate = try ChildProcess(Executable.path, ["validate", fixture.planPath, "--lint"])
        #expect(try await validate.wait() == 2)
        let plain = try ChildProcess(Executable.path, ["validate", fixture.planPath])
        #expect(try await plain.wait() == 0, "without --lint the plan is valid: \(plain.output)")
        try fixture.write(
            "m/0002_drop.sql", "SELECT 1;\n-- tenantplan:lint-ignore ban-drop-table unused since 0001\nDROP TABLE a;\n")
        let waived = try ChildProcess(Executable.path, ["lint", fixture.planPath, "--format", "json"])
        #expect(try await waived.wait() == 0, "\(waived.output)")
        #expect(waived.output.filter { !$0.isWhitespace } == "[]")
    }

    @Test("the GitHub Actions example is valid YAML, and every tenantplan flag it uses exists")
    func workflowExample() async throws {
        let script = """
            import sys, yaml, re
            workflow = yaml.safe_load(open(sys.argv[1]))
            for step in workflow["jobs"]["plan"]["steps"]:
                for line in str(step.get("run", "")).splitlines():
                    words = line.split()
                    if "tenantplan" in words:
                        rest = words[words.index("tenantplan") + 1:]
                        print(rest[0], " ".join(w for w in rest if w.startswith("--")))
            """
        let parse = try ChildProcess(
            "/usr/bin/python3",
            ["-c", script, CLIProcessTests.repositoryRoot + "/docs/examples/github-actions-plan.yml"],
            separateStderr: true)
        #expect(try await parse.wait() == 0, "\(parse.errors)")
        let uses = parse.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(uses.map(\.first) == ["lint", "plan"])
        for use in uses {
            let help = try ChildProcess(Executable.path, [use[0], "--help"])
            _ = try await help.wait()
            for flag in use.dropFirst() {
                #expect(help.output.contains(flag), "tenantplan \(use[0]) has no \(flag)")
            }
        }
    }

    @Test("plan reads only: it works as a role that may only read, and cannot write even if a query tries")
    func readOnly() async throws {
        let db = try await TestDatabase.create("review_ro")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        _ = try await Self.scenario(fixture, db)
        try await db.exec(
            "DO $$ BEGIN CREATE ROLE tp_review_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
                + "GRANT pg_read_all_data TO tp_review_reader; "
                + "GRANT CONNECT ON DATABASE \(SQL.quoteIdentifier(db.name)) TO tp_review_reader"
        )
        let out = fixture.directory + "/reader.txt"
        let asReader = try await plan([fixture.planPath, "--out", out, "--exclude", "x"], db, user: "tp_review_reader")
        #expect(asReader.code == 0, "\(asReader.errors)")
        #expect(try read(out).contains("9 tenants (a_*b*<i>, e0, e1, e2, e3, e4, e5, e6, e7): m: +0003_c"))
        // A role that may connect and nothing more is told which grant it lacks.
        try await db.exec(
            "DO $$ BEGIN CREATE ROLE tp_review_blind LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
                + "GRANT CONNECT ON DATABASE \(SQL.quoteIdentifier(db.name)) TO tp_review_blind")
        let blind = try await plan([fixture.planPath, "--out", out, "--tenant", "e0"], db, user: "tp_review_blind")
        #expect(blind.code == 1)
        let told = try read(out)
        #expect(
            told.contains(
                "FAILED 1 tenant (e0): m; cannot read tracking table {schema}.__drizzle_migrations: permission denied "
                    + "for schema {schema} (this role needs USAGE on schema {schema} and SELECT on the table, or "
                    + "pg_read_all_data"), "\(told)")
        // A discovery query that writes is refused by the read-only transaction, even for a superuser.
        try await db.exec("CREATE TABLE public.tenants (id text); CREATE TABLE public.touched (n int)")
        try fixture.write(
            "writes.yaml",
            """
            version: 1
            database: { url: "${TEST_DATABASE_URL}" }
            tenants:
              discover: { sql: "WITH w AS (INSERT INTO public.touched VALUES (1) RETURNING n) SELECT 'e0' FROM w" }
              schema: "t_{id}"
            actions: [{ name: m, migrate: m }]
            """)
        let writing = try await plan([fixture.directory + "/writes.yaml"], db)
        #expect(writing.code == 1)
        #expect(writing.errors.contains("read-only transaction"), "\(writing.errors)")
        #expect(try await db.count("SELECT count(*) FROM public.touched") == 0)
    }
}
