import Foundation
import TenantPlanPostgres
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// Every migration exactly once or clearly not at all: PostgreSQL's parser at validate, the
/// transaction guard, applied history protected, adoption without surprises. Real server.
@Suite struct SQLSafetyTests {
    /// `transaction`: the action's `transaction` key (per-migration when nil).
    static func plan(
        _ ids: [String], extra: String = "", folder: String = "m", concurrency: Int = 2, transaction: String? = nil
    ) -> String {
        """
        version: 1
        database: { url: "${TEST_DATABASE_URL}", maxConnections: 4 }
        tenants:
          discover: { list: [\(ids.joined(separator: ", "))] }
          schema: "s_{id}"
          createSchemas: true
        \(extra)
        concurrency: \(concurrency)
        actions: [{ name: m, migrate: \(folder)\(transaction.map { ", transaction: " + $0 } ?? "") }]
        """
    }

    /// Compiles `yaml` expecting failure; the diagnostics as printed.
    static func diagnostics(_ fixture: PlanFixture, _ yaml: String, _ db: TestDatabase) -> [String] {
        do {
            _ = try fixture.compile(yaml, database: db)
            return []
        } catch {
            return (error as? PlanError)?.diagnostics.map(\.description) ?? ["\(error)"]
        }
    }

    @Test("validate refuses a syntax error, located in its file, with the grammar it checked")
    func syntaxErrorAtValidate() async throws {
        let db = try await TestDatabase.create("syntax")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (id int);")
        try fixture.write("m/0003_c.sql", "-- third\nCREATE TABLEX c (id int);")
        let found = Self.diagnostics(fixture, Self.plan(["x"]), db)
        #expect(found.count == 1)
        #expect(
            found.first?.contains("/m/0003_c.sql:2:8: error: syntax error at or near \"TABLEX\"") == true, "\(found)")
        #expect(found.first?.contains("checked with the PostgreSQL 15 grammar") == true)
        #expect(found.first?.contains("-- tenantplan: no-parse") == true)
    }

    @Test("a syntax error the parser was told to skip fails that migration alone; the ones before it commit")
    func rightBlame() async throws {
        let db = try await TestDatabase.create("blame")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (id int);")
        try fixture.write(
            "m/0003_c.sql", "-- tenantplan: no-parse\nCREATE TABLE c (id int);\nCREATE TABLEX d (id int);")
        try fixture.write("m/0004_d.sql", "CREATE TABLE e (id int);")
        let report = try await runApply(try fixture.compile(Self.plan(["x"]), database: db), db)
        let action = try #require(report.tenant("x")?.actions.first)
        #expect(action.applied.map(\.name) == ["0001_a", "0002_b"])
        #expect(action.error?.migration == "0003_c")
        #expect(action.error?.sqlstate == "42601")
        #expect(action.error?.position == 57)
        #expect(action.pending == ["0003_c", "0004_d"])
        #expect(
            try await db.rows("SELECT name FROM s_x.__drizzle_migrations ORDER BY id").map { $0[0]! } == [
                "0001_a", "0002_b",
            ])
        #expect(try await db.tableExists("s_x", "b"))
        #expect(try await !db.tableExists("s_x", "c"))
        #expect(try await !db.tableExists("s_x", "e"))
    }

    @Test(
        "validate refuses transaction control, client COPY, psql commands, and what needs no-transaction",
        arguments: [
            ("CREATE TABLE a (i int);\nCOMMIT;", "/m/0001_a.sql:2:1: error: transaction control (COMMIT)"),
            ("BEGIN;\nCREATE TABLE a (i int);", "/m/0001_a.sql:1:1: error: transaction control (BEGIN)"),
            ("SAVEPOINT s;", "/m/0001_a.sql:1:1: error: transaction control (SAVEPOINT)"),
            ("COPY (SELECT 1) TO STDOUT;", "/m/0001_a.sql:1:1: error: COPY ... FROM STDIN / TO STDOUT"),
            (
                "CREATE TABLE t (i int);\nCOPY t FROM STDIN;",
                "/m/0001_a.sql:2:1: error: COPY ... FROM STDIN / TO STDOUT"
            ),
            ("\\i other.sql", "/m/0001_a.sql:1:1: error: psql meta-command `\\i other.sql` is not SQL"),
            (
                "CREATE INDEX CONCURRENTLY i ON t (i);",
                "error: CREATE INDEX CONCURRENTLY cannot run inside a transaction"
            ),
            ("VACUUM t;", "error: VACUUM cannot run inside a transaction block"),
        ])
    func refusedStatements(sql: String, expected: String) async throws {
        let db = try await TestDatabase.create("refused")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", sql)
        let found = Self.diagnostics(fixture, Self.plan(["x"]), db)
        #expect(found.contains { $0.contains(expected) }, "\(found)")
        try fixture.write("m/0001_a.sql", "-- tenantplan: no-transaction\nCREATE TABLE t (i int);\n" + sql)
        let noTransaction = Self.diagnostics(fixture, Self.plan(["x"]), db)
        #expect(
            noTransaction.isEmpty == expected.contains("cannot run inside a transaction"),
            "a no-transaction migration may hold what cannot run in a transaction, nothing else: \(noTransaction)")
    }

    @Test("validate refuses NUL bytes and invalid UTF-8 with the byte offset; byte-identical files under hash tracking")
    func badBytes() async throws {
        let db = try await TestDatabase.create("bytes")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "SELECT 1;")
        try Data([0x53, 0x45, 0x4C, 0x00, 0x31]).write(to: URL(fileURLWithPath: fixture.directory + "/m/0002_b.sql"))
        try Data([0x53, 0x45, 0x4C, 0xE9, 0x31]).write(to: URL(fileURLWithPath: fixture.directory + "/m/0003_c.sql"))
        let found = Self.diagnostics(fixture, Self.plan(["x"]), db)
        #expect(
            found.contains { $0.contains("/m/0002_b.sql:1:4: error: the file holds a NUL byte (at byte 3)") },
            "\(found)")
        #expect(
            found.contains { $0.contains("/m/0003_c.sql:1:4: error: the file is not valid UTF-8 (at byte 3)") },
            "\(found)")

        let same = try PlanFixture()
        defer { same.remove() }
        for name in ["0001_add", "0002_drop", "0003_add_again"] {
            try same.write(
                "m/\(name).sql",
                name.contains("drop") ? "ALTER TABLE t DROP COLUMN c;" : "ALTER TABLE t ADD COLUMN c int;")
        }
        let hashed = Self.diagnostics(same, Self.plan(["x"], extra: "tracking: { format: hash }"), db)
        #expect(hashed.contains { $0.contains("0003_add_again has the same bytes as 0001_add") }, "\(hashed)")
        #expect(Self.diagnostics(same, Self.plan(["x"], extra: "tracking: { format: name }"), db).isEmpty)
    }

    @Test("a migration that ends its own transaction fails that tenant with 2D000 and writes no tracking row")
    func transactionGuard() async throws {
        let db = try await TestDatabase.create("guard")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a0 (i int);")
        try fixture.write(
            "m/0002_b.sql", "-- tenantplan: no-parse\nCREATE TABLE a1 (i int);\nCOMMIT;\nCREATE TABLE b1 (i int);")
        try fixture.write("m/0003_c.sql", "CREATE TABLE c1 (i int);")
        let report = try await runApply(try fixture.compile(Self.plan(["x", "y"]), database: db), db)
        for id in ["x", "y"] {
            let action = try #require(report.tenant(id)?.actions.first)
            #expect(action.applied.map(\.name) == ["0001_a"])
            #expect(action.error?.migration == "0002_b")
            #expect(action.error?.sqlstate == "2D000")
            #expect(action.error?.message.contains("ended the transaction it runs in") == true)
            #expect(try await db.rows("SELECT name FROM s_\(id).__drizzle_migrations").map { $0[0]! } == ["0001_a"])
            #expect(try await !db.tableExists("s_\(id)", "b1"), "nothing after the COMMIT stays")
            #expect(try await !db.tableExists("public", "b1"), "nothing lands in public")
            #expect(try await !db.tableExists("s_\(id)", "c1"))
        }
    }

    @Test(
        "a migration ending its transaction is named, and what committed is reported as applied, in either mode",
        arguments: [
            ("per-migration", "COMMIT;\nBEGIN;\nCREATE TABLE b1 (i int);", ["0001_a"], ["a0", "a1"]),
            ("per-action", "COMMIT;\nBEGIN;\nCREATE TABLE b1 (i int);", ["0001_a"], ["a0", "a1"]),
            ("per-migration", "ROLLBACK;", ["0001_a"], ["a0"]),
            ("per-action", "ROLLBACK;", [], []),
        ])
    func transactionEndedByMigration(mode: String, ending: String, applied: [String], tables: [String]) async throws {
        let db = try await TestDatabase.create("ended")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a0 (i int);")
        try fixture.write("m/0002_b.sql", "-- tenantplan: no-parse\nCREATE TABLE a1 (i int);\n" + ending)
        try fixture.write("m/0003_c.sql", "CREATE TABLE c1 (i int);")
        let yaml = Self.plan(["x"], transaction: mode)
        let report = try await runApply(try fixture.compile(yaml, database: db), db)
        let action = try #require(report.tenant("x")?.actions.first)
        #expect(action.applied.map(\.name) == applied, "what the report claims is what committed")
        #expect(action.error?.migration == "0002_b")
        #expect(action.error?.sqlstate == "2D000", "\(String(describing: action.error))")
        #expect(try await db.rows("SELECT name FROM s_x.__drizzle_migrations").map { $0[0]! } == applied)
        for table in ["a0", "a1", "b1", "c1"] {
            #expect(try await db.tableExists("s_x", table) == tables.contains(table), "\(table)")
        }
    }

    @Test("COPY through the client in one per-action transaction is blamed on its own migration")
    func copyBlamePerAction() async throws {
        let db = try await TestDatabase.create("copyaction")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);\nINSERT INTO a SELECT generate_series(1, 1000);")
        try fixture.write("m/0002_copy.sql", "-- tenantplan: no-parse\nCOPY a TO STDOUT;")
        try fixture.write("m/0003_after.sql", "CREATE TABLE after3 (i int);")
        try fixture.write("m/0004_after.sql", "CREATE TABLE after4 (i int);")
        let yaml = Self.plan(["x"], transaction: "per-action")
        let report = try await runApply(try fixture.compile(yaml, database: db), db)
        let action = try #require(report.tenant("x")?.actions.first)
        #expect(action.error?.migration == "0002_copy", "\(String(describing: action.error))")
        #expect(action.applied.isEmpty)
        #expect(try await !db.tableExists("s_x", "a"))
        #expect(try await !db.tableExists("s_x", "after4"))
        #expect(try await db.count("SELECT count(*) FROM s_x.__drizzle_migrations") == 0)
    }

    @Test("every statement validate says cannot run in a transaction block, the server refuses in one (25001)")
    func outsideTransactionAgreesWithServer() async throws {
        let db = try await TestDatabase.create("notxn")
        try await db.exec(
            "CREATE TABLE parted (i int) PARTITION BY RANGE (i);"
                + "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);")
        let statements = [
            "VACUUM parted_1", "CREATE INDEX CONCURRENTLY i ON parted_1 (i)", "REINDEX SCHEMA public",
            "REINDEX DATABASE \(db.name)", "DISCARD ALL", "ALTER DATABASE \(db.name) SET TABLESPACE pg_default",
            "ALTER TABLE parted DETACH PARTITION parted_1 CONCURRENTLY", "CLUSTER",
            "CREATE SUBSCRIPTION never CONNECTION 'dbname=nowhere' PUBLICATION p", "ALTER SYSTEM SET work_mem = '4MB'",
        ]
        for sql in statements {
            let parsed = try SQLParser.parse(sql).get()
            #expect(parsed.first?.outsideTransactionOnly != nil, "validate lets `\(sql)` run in a transaction")
            var refused: String?
            do {
                try await db.exec("BEGIN; \(sql); ROLLBACK;")
            } catch let error as PostgresError {
                refused = error.sqlstate
            }
            try? await db.exec("ROLLBACK")
            #expect(refused == "25001", "`\(sql)`: the server said \(refused ?? "nothing")")
        }
    }

    @Test("a procedure that commits inside a migration fails it whole: nothing of it stays, no row")
    func procedureThatCommits() async throws {
        let db = try await TestDatabase.create("proc")
        try await db.exec(
            "CREATE PROCEDURE public.commit_inside() LANGUAGE plpgsql AS "
                + "$$ BEGIN CREATE TABLE public.made_by_proc (i int); COMMIT; END $$;")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE before_call (i int);\nCALL public.commit_inside();")
        let report = try await runApply(try fixture.compile(Self.plan(["x"]), database: db), db)
        let action = try #require(report.tenant("x")?.actions.first)
        #expect(action.error?.migration == "0001_a")
        #expect(action.error?.sqlstate == "2D000")
        #expect(try await !db.tableExists("public", "made_by_proc"))
        #expect(try await !db.tableExists("s_x", "before_call"))
        #expect(try await db.count("SELECT count(*) FROM s_x.__drizzle_migrations") == 0)
    }

    @Test("COPY TO STDOUT in a file the parser skipped fails clearly, rolls back, and hangs nothing")
    func copyDoesNotHang() async throws {
        let db = try await TestDatabase.create("copy")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_a.sql",
            "-- tenantplan: no-parse\nCREATE TABLE c1 (i int);\nCOPY (SELECT generate_series(1, 100000)) TO STDOUT;")
        try fixture.write("m/0002_b.sql", "-- tenantplan: no-parse\nCREATE TABLE c2 (i int);\nCOPY c2 FROM STDIN;")
        let started = Date()
        let report = try await runApply(try fixture.compile(Self.plan(["x"]), database: db), db)
        #expect(Date().timeIntervalSince(started) < 30)
        let action = try #require(report.tenant("x")?.actions.first)
        #expect(action.error?.migration == "0001_a")
        #expect(action.error?.message.contains("COPY ... FROM STDIN / TO STDOUT") == true)
        #expect(try await !db.tableExists("s_x", "c1"))
        #expect(try await db.count("SELECT count(*) FROM s_x.__drizzle_migrations") == 0)
    }

    @Test("nothing a migration sets at session level reaches the next tenant on the same connection")
    func cleanSessions() async throws {
        let db = try await TestDatabase.create("session")
        try await db.exec(
            "CREATE TABLE public.seen (tenant text, timeout text, app text, path text, who text, temp text);"
                + "DO $$ BEGIN CREATE ROLE tp_other SUPERUSER NOLOGIN; "
                + "EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_a.sql",
            """
            INSERT INTO public.seen SELECT current_setting('tenantplan.tenant_id'),
                current_setting('statement_timeout'), current_setting('application_name'),
                current_setting('search_path'), current_user, to_regclass('pg_temp.left_behind')::text;
            DO $$ BEGIN
              IF current_setting('tenantplan.tenant_id') = 'a' THEN
                PERFORM set_config('statement_timeout', '123s', false);
                PERFORM set_config('application_name', 'leaked', false);
                PERFORM set_config('search_path', 'public', false);
                PERFORM set_config('role', 'tp_other', false);
                CREATE TEMPORARY TABLE left_behind (i int);
              END IF;
            END $$;
            """)
        let report = try await runApply(
            try fixture.compile(Self.plan(["a", "b", "c"], concurrency: 1), database: db), db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.first?.error })")
        let user = try await db.scalar("SELECT current_user") ?? ""
        let seen = try await db.rows("SELECT tenant, timeout, app, who, temp FROM public.seen ORDER BY tenant")
        #expect(
            seen.map { $0.map { $0 ?? "-" } } == [
                ["a", "0", "tenantplan", user, "-"], ["b", "0", "tenantplan", user, "-"],
                ["c", "0", "tenantplan", user, "-"],
            ])
    }

    @Test(
        "a fixed tracking.schema for tenant actions is refused; a templated one too long fails its tenant"
    )
    func trackingSchemaTemplates() async throws {
        let db = try await TestDatabase.create("trackschema")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        let fixed = Self.diagnostics(fixture, Self.plan(["x"], extra: "tracking: { schema: tracking }"), db)
        #expect(fixed.contains { $0.contains("tracking.schema 'tracking' is the same for every tenant") }, "\(fixed)")
        let long = String(repeating: "t", count: 62)
        let plan = try fixture.compile(
            Self.plan(["xy", "a"], extra: "tracking: { schema: \"\(long){id}\" }"), database: db)
        let report = try await runApply(plan, db)
        #expect(report.tenant("xy")?.status == .failed)
        #expect(report.tenant("xy")?.error?.message.contains("PostgreSQL allows 63") == true)
        #expect(report.tenant("a")?.status == .succeeded)
    }

    @Test("a populated schema without a tracking table is refused with the fix; --mark-applied --up-to adopts it")
    func adoption() async throws {
        let db = try await TestDatabase.create("adopt")
        try await db.exec("CREATE SCHEMA s_old; CREATE TABLE s_old.a (i int);")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (i int);")
        let plan = try fixture.compile(Self.plan(["old", "new"]), database: db)
        let status = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "status"))
            .status()
        #expect(
            status.tenants.first { $0.id == "old" }?.error?.contains("already holds objects but has no tracking table")
                == true)
        let refused = try await runApply(plan, db)
        #expect(refused.tenant("old")?.status == .failed)
        #expect(refused.tenant("old")?.error?.hint?.contains("--mark-applied --up-to NAME --tenant old") == true)
        #expect(refused.tenant("new")?.status == .succeeded)
        #expect(try await !db.tableExists("s_old", "b"))
        let adopted = try await PlanRunner(
            plan: plan, conninfo: db.conninfo,
            options: RunOptions(filter: TenantFilter(only: ["old"]), markApplied: true, upTo: "0001_a")
        ).apply()
        #expect(adopted.tenant("old")?.actions.first?.marked == ["0001_a"])
        let rest = try await runApply(plan, db)
        #expect(rest.tenant("old")?.actions.first?.applied.map(\.name) == ["0002_b"])
    }

    @Test("sync --mark-missing marks only gaps unless told --up-to or --all")
    func markMissingGaps() async throws {
        let db = try await TestDatabase.create("gaps")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        for index in 1...4 { try fixture.write("m/000\(index)_m.sql", "CREATE TABLE m\(index) (i int);") }
        let plan = try fixture.compile(Self.plan(["x"]), database: db)
        _ = try await runApply(plan, db)
        try await db.exec("DELETE FROM s_x.__drizzle_migrations WHERE name IN ('0002_m', '0004_m')")
        let runner = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync"))
        let gaps = try await runner.sync(.markMissing)
        #expect(gaps.tenants.first?.marked == ["0002_m"], "0004_m sorts after the latest applied one: not a gap")
        try await db.exec("DELETE FROM s_x.__drizzle_migrations WHERE name = '0002_m'")
        #expect(try await runner.sync(.markMissing, scope: .upTo("0002_m")).tenants.first?.marked == ["0002_m"])
        #expect(try await runner.sync(.markMissing, scope: .all).tenants.first?.marked == ["0004_m"])
        await #expect(throws: TenantPlanError.notConfirmed(tenants: 1)) {
            try await db.exec("DELETE FROM s_x.__drizzle_migrations WHERE name = '0001_m'")
            _ = try await runner.sync(.markMissing, scope: .all, confirm: { _ in false })
        }
    }

    @Test(
        "an applied migration edited since is refused, shown by status and sync, and accepted by sync --accept-edits",
        arguments: [(TrackingFormat.hash, true), (.drizzleKit, true), (.tenantplan, true), (.drizzleKit, false)])
    func editedMigrations(format: TrackingFormat, journal: Bool) async throws {
        let db = try await TestDatabase.create("edited")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        func write(_ files: [(String, String)]) throws {
            if journal {
                try fixture.writeJournaled("m", files)
            } else {
                // A numbered folder: drizzle-kit rows then hold the time they ran, not a journal `when`.
                for (name, sql) in files { try fixture.write("m/\(name).sql", sql) }
            }
        }
        try write([
            ("0000_a", "CREATE TABLE a (i int);"), ("0001_b", "INSERT INTO a VALUES (1);"), ("0002_c", "SELECT 1;"),
        ])
        let yaml = Self.plan(["x"], extra: "tracking: { format: \(format.rawValue) }")
        _ = try await runApply(try fixture.compile(yaml, database: db), db)
        try write([
            ("0000_a", "CREATE TABLE a (i int);"), ("0001_b", "-- backfill\nINSERT INTO a VALUES (1);"),
            ("0002_c", "SELECT 1;"), ("0003_d", "CREATE TABLE d (i int);"),
        ])
        let plan = try fixture.compile(yaml, database: db)
        let refused = try await runApply(plan, db)
        let error = try #require(refused.tenant("x")?.error)
        let byPlace = format == .hash || !journal
        let expected = byPlace ? "0001_b looks edited after it was applied" : "0001_b was edited after it was applied"
        #expect(error.message.hasPrefix(expected), "\(error)")
        #expect(error.message.contains("(recorded sha256 "))
        #expect(try await db.count("SELECT count(*) FROM s_x.a") == 1, "the backfill did not run twice")
        #expect(try await !db.tableExists("s_x", "d"), "nothing ran on a refused tenant")
        let status = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "status"))
            .status()
        #expect(status.tenants.first?.edited == ["0001_b"])
        let runner = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync"))
        #expect(try await runner.sync(.status).summary.edited == 1)
        if byPlace {
            // Paired by place, a guess: accepted only when named.
            #expect(try await runner.sync(.acceptEdits).tenants.first?.accepted == nil)
            #expect(
                try await runner.sync(.acceptEdits, accept: .named(["0001_b"])).tenants.first?.accepted == ["0001_b"])
        } else {
            #expect(try await runner.sync(.acceptEdits).tenants.first?.accepted == ["0001_b"])
        }
        let after = try await runApply(plan, db)
        #expect(after.tenant("x")?.actions.first?.applied.map(\.name) == ["0003_d"])
        #expect(try await db.count("SELECT count(*) FROM s_x.a") == 1)
    }

    @Test(
        "a pending migration sorting before the latest applied one is refused, unless outOfOrder: allow",
        arguments: TrackingFormat.allCases)
    func outOfOrder(format: TrackingFormat) async throws {
        let db = try await TestDatabase.create("order")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        try fixture.write("m/0003_c.sql", "CREATE TABLE c (i int);")
        let tracking = "tracking: { format: \(format.rawValue) }"
        _ = try await runApply(try fixture.compile(Self.plan(["x"], extra: tracking), database: db), db)
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (i int);")
        let refused = try await runApply(try fixture.compile(Self.plan(["x"], extra: tracking), database: db), db)
        #expect(
            refused.tenant("x")?.error?.message
                == "0002_b is pending but sorts before 0003_c, which is already applied (a branch merged late?)")
        #expect(try await !db.tableExists("s_x", "b"))
        let allowed = try await runApply(
            try fixture.compile(Self.plan(["x"], extra: tracking + "\noutOfOrder: allow"), database: db), db)
        #expect(allowed.tenant("x")?.actions.first?.applied.map(\.name) == ["0002_b"])
    }

    @Test("the tenantplan format records name, sha256, time, execution time and who; converts to name and back")
    func nativeFormat() async throws {
        let db = try await TestDatabase.create("native")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int); SELECT pg_sleep(0.05);")
        let plan = try fixture.compile(Self.plan(["x"], extra: "tracking: { format: tenantplan }"), database: db)
        _ = try await runApply(plan, db)
        let row = try #require(
            try await db.rows(
                "SELECT name, sha256, execution_ms, applied_by = current_user FROM s_x.__drizzle_migrations"
            ).first)
        #expect(row[0] == "0001_a")
        #expect(row[1] == plan.actions[0].migrations[0].hash)
        #expect((Int(row[2] ?? "") ?? 0) >= 50)
        #expect(row[3] == "t")
        try await db.exec(
            "DO $$ BEGIN CREATE ROLE tp_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
                + "GRANT SELECT ON s_x.__drizzle_migrations TO tp_reader;")
        let auto = try fixture.compile(Self.plan(["x"]), database: db)
        let runner = PlanRunner(plan: auto, conninfo: db.conninfo, options: RunOptions(command: "convert-tracking"))
        #expect(try await runner.convertTracking(to: .name, from: nil).summary.converted == 1)
        #expect(try await db.count("SELECT count(*) FROM s_x.__drizzle_migrations WHERE name = '0001_a'") == 1)
        #expect(try await runner.convertTracking(to: .tenantplan, from: nil).summary.converted == 1)
        #expect(
            try await db.scalar("SELECT sha256 FROM s_x.__drizzle_migrations") == plan.actions[0].migrations[0].hash)
        #expect(
            try await db.scalar("SELECT has_table_privilege('tp_reader', 's_x.__drizzle_migrations', 'SELECT')") == "t",
            "converting keeps the table, so its grants")
        try await db.exec("REVOKE ALL ON s_x.__drizzle_migrations FROM tp_reader;")
    }

    @Test("each migration of one round trip records the time it ran, not the batch's", arguments: ["name", "hash"])
    func appliedTimes(format: String) async throws {
        let db = try await TestDatabase.create("times")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        for index in 1...3 {
            try fixture.write("m/000\(index)_m.sql", "SELECT pg_sleep(0.02); CREATE TABLE t\(index) (i int);")
        }
        let plan = try fixture.compile(Self.plan(["x"], extra: "tracking: { format: \(format) }"), database: db)
        _ = try await runApply(plan, db)
        let column = format == "name" ? "applied_at" : "created_at"
        #expect(try await db.count("SELECT count(DISTINCT \(column)) FROM s_x.__drizzle_migrations") == 3)
    }

    @Test(
        "what cannot run in a transaction is accepted under transaction: none; a late no-transaction directive is not")
    func transactionNoneAndDirectives() async throws {
        let db = try await TestDatabase.create("txnone")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE t (i int);\nCREATE INDEX CONCURRENTLY t_i ON t (i);")
        let none = Self.plan(["x"], transaction: "none")
        let report = try await runApply(try fixture.compile(none, database: db), db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.first?.error })")
        #expect(try await db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 't_i'") == 1)
        try fixture.write("m/0001_a.sql", "-- tenantplan: no-parse\n-- tenantplan: no-transaction\nVACUUM;")
        let late = Self.diagnostics(fixture, Self.plan(["x"]), db)
        #expect(
            late.contains {
                $0.contains(
                    "/m/0001_a.sql:2:1: error: `-- tenantplan: no-transaction` works on the file's first line only")
            }, "\(late)")
    }

    @Test("a real division by zero in a file the parser skipped is reported as itself, not as the guard")
    func realDivisionByZero() async throws {
        let db = try await TestDatabase.create("divzero")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "-- tenantplan: no-parse\nCREATE TABLE a (i int);\nSELECT 1 / 0;")
        let report = try await runApply(try fixture.compile(Self.plan(["x"]), database: db), db)
        let error = try #require(report.tenant("x")?.actions.first?.error)
        #expect(error.sqlstate == "22012")
        #expect(error.message == "division by zero")
        #expect(try await !db.tableExists("s_x", "a"))
    }

    @Test("under per-action, COPY TO STDOUT in a file the parser skipped rolls the whole action back")
    func perActionCopy() async throws {
        let db = try await TestDatabase.create("pacopy")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        try fixture.write("m/0002_b.sql", "-- tenantplan: no-parse\nCOPY (SELECT 1) TO STDOUT;")
        let perAction = Self.plan(["x"], transaction: "per-action")
        let report = try await runApply(try fixture.compile(perAction, database: db), db)
        #expect(report.tenant("x")?.status == .failed)
        #expect(try await !db.tableExists("s_x", "a"), "nothing of the action stays")
        #expect(try await db.count("SELECT count(*) FROM s_x.__drizzle_migrations") == 0)
    }
}
