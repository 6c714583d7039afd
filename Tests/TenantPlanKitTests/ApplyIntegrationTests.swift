import Foundation
import TenantPlanPostgres
import TenantPlanSpec
import Testing

@testable import TenantPlanKit

/// `apply` against a real PostgreSQL (see TestServer).
@Suite struct ApplyIntegrationTests {
    static let journaled: [(tag: String, sql: String)] = [
        (
            "0000_users",
            "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);\n--> statement-breakpoint\n"
                + "CREATE UNIQUE INDEX users_email ON users (email);"
        ),
        (
            "0001_projects",
            "CREATE TABLE projects (id serial PRIMARY KEY, owner_id int REFERENCES users (id), name text);"
        ),
        (
            "0002_tasks",
            "CREATE TABLE tasks (id serial PRIMARY KEY, project_id int REFERENCES projects (id));"
                + "--> statement-breakpoint\nCREATE VIEW open_tasks AS SELECT * FROM tasks;"
        ),
    ]

    static func listPlan(_ ids: [String], extra: String = "", actions: String) -> String {
        """
        version: 1
        database:
          url: ${TEST_DATABASE_URL}
          maxConnections: 8
        tenants:
          discover:
            list: [\(ids.map { "\"\($0)\"" }.joined(separator: ", "))]
          schema: "t_{id}"
          createSchemas: true
        \(extra)
        concurrency: 6
        actions:
        \(actions)
        """
    }

    @Test(
        """
        130 tenants in name, hash and drizzle-kit formats (and none) each get exactly their pending migrations; \
        a rerun applies nothing
        """
    )
    func mixedFormats() async throws {
        let db = try await TestDatabase.create("mixed")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let ids = (0..<130).map { String(format: "c%03d", $0) }
        let plan = try fixture.compile(
            Self.listPlan(ids, actions: "  - { name: tenant-schema, migrate: migrations/tenant }"), database: db)
        let migrations = plan.actions[0].migrations
        // Seed: the first two migrations already applied, recorded in three formats; ten tenants start empty.
        var setup = ""
        for (index, id) in ids.enumerated() where index < 120 {
            let schema = SQL.quoteIdentifier("t_\(id)")
            setup += "CREATE SCHEMA \(schema); SET search_path TO \(schema);"
            setup +=
                migrations[0].statements.joined(separator: ";") + ";" + migrations[1].statements.joined(separator: ";")
                + ";"
            let format: TrackingFormat = index < 40 ? .name : index < 80 ? .hash : .drizzleKit
            let ref = TrackingTableRef(schema: "t_\(id)", table: "__drizzle_migrations")
            setup += TrackingSQL.createTable(ref, format: format) + ";"
            for migration in migrations.prefix(2) {
                setup += TrackingSQL.record(migration, in: ref, format: format) + ";"
            }
        }
        try await db.exec(setup + "RESET search_path;")

        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.error.map { "\($0)" } ?? "")")
        #expect(report.summary.tenants == 130)
        #expect(report.summary.succeeded == 130)
        #expect(report.summary.migrationsApplied == 120 * 1 + 10 * 3)
        #expect(report.tenant("c000")?.format == .name)
        #expect(report.tenant("c050")?.format == .hash)
        #expect(report.tenant("c100")?.format == .drizzleKit)
        #expect(report.tenant("c125")?.format == nil)
        #expect(report.tenant("c125")?.createdSchema == true)
        #expect(report.tenant("c050")?.actions.first?.applied.map(\.name) == ["0002_tasks"])
        #expect(report.tenant("c050")?.actions.first?.applied.first?.hash == migrations[2].hash)

        // Each format recorded its own way.
        #expect(
            try await db.scalar("SELECT name FROM t_c000.__drizzle_migrations ORDER BY id DESC LIMIT 1") == "0002_tasks"
        )
        #expect(
            try await db.scalar("SELECT hash FROM t_c050.__drizzle_migrations ORDER BY id DESC LIMIT 1")
                == migrations[2].hash)
        #expect(
            try await db.scalar("SELECT created_at FROM t_c100.__drizzle_migrations ORDER BY id DESC LIMIT 1")
                == "1732000002000")
        #expect(try await db.scalar("SELECT count(*) FROM t_c125.__drizzle_migrations") == "3")
        #expect(try await db.tableExists("t_c125", "tasks"))
        // drizzle-orm's own rule (apply entries whose `when` is after the last created_at) finds nothing left.
        let lastCreated = Int64(try await db.scalar("SELECT max(created_at) FROM t_c100.__drizzle_migrations") ?? "0")!
        #expect(migrations.allSatisfy { ($0.when ?? 0) <= lastCreated })

        let rerun = try await runApply(plan, db)
        #expect(rerun.exitCode == 0)
        #expect(rerun.summary.migrationsApplied == 0)
        #expect(rerun.summary.unchanged == 130)
    }

    @Test("a tenant whose migration fails fails alone, with SQLSTATE and message; a rerun after the fix finishes it")
    func failingTenantFailsAlone() async throws {
        let db = try await TestDatabase.create("fails")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let ids = (0..<20).map { "f\($0)" }
        let plan = try fixture.compile(
            Self.listPlan(ids, actions: "  - { name: tenant-schema, migrate: migrations/tenant }"), database: db)
        // A table in the way of 0001 (a schema with objects but no tracking table at all would be
        // refused before anything runs: see SQLSafetyTests.adoption).
        try await db.exec(
            "CREATE SCHEMA t_f7; CREATE TABLE t_f7.projects (id int);"
                + TrackingSQL.createTable(
                    TrackingTableRef(schema: "t_f7", table: "__drizzle_migrations"), format: .name))

        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        #expect(report.summary.failed == 1)
        #expect(report.summary.succeeded == 19)
        let failed = try #require(report.tenant("f7"))
        #expect(failed.status == .failed)
        let action = try #require(failed.actions.first)
        #expect(action.applied.map(\.name) == ["0000_users"])
        #expect(action.error?.migration == "0001_projects")
        #expect(action.error?.sqlstate == "42P07")
        #expect(action.error?.message == #"relation "projects" already exists"#)
        #expect(action.pending == ["0001_projects", "0002_tasks"])
        // What it committed before the failure stays recorded.
        #expect(
            try await db.scalar("SELECT string_agg(name, ',' ORDER BY id) FROM t_f7.__drizzle_migrations")
                == "0000_users")
        #expect(try await db.count("SELECT count(*) FROM t_f8.__drizzle_migrations") == 3)

        try await db.exec("DROP TABLE t_f7.projects")
        let rerun = try await runApply(plan, db)
        #expect(rerun.exitCode == 0)
        #expect(rerun.summary.migrationsApplied == 2)
        #expect(rerun.tenant("f7")?.actions.first?.applied.map(\.name) == ["0001_projects", "0002_tasks"])
        #expect(rerun.summary.unchanged == 19)
    }

    @Test(
        "a failing second statement leaves neither the first statement nor a tracking row",
        arguments: ["per-migration", "per-action"])
    func failingSecondStatement(mode: String) async throws {
        let db = try await TestDatabase.create("stmt")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_ok.sql", "CREATE TABLE ok_table (id int);")
        try fixture.write(
            "m/0002_bad.sql",
            "CREATE TABLE first_half (id int);\n--> statement-breakpoint\nINSERT INTO first_half VALUES (1 / 0);")
        let plan = try fixture.compile(
            Self.listPlan(["a"], actions: "  - { name: m, migrate: m, transaction: \(mode) }"), database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        let action = try #require(report.tenant("a")?.actions.first)
        #expect(action.error?.sqlstate == "22012")
        #expect(action.error?.migration == "0002_bad")
        #expect(try await db.tableExists("t_a", "first_half") == false)
        if mode == "per-migration" {
            #expect(try await db.tableExists("t_a", "ok_table"))
            #expect(try await db.scalar("SELECT string_agg(name, ',') FROM t_a.__drizzle_migrations") == "0001_ok")
        } else {
            // per-action: the whole action is one transaction, so the first migration rolled back too.
            #expect(try await db.tableExists("t_a", "ok_table") == false)
            #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 0)
        }
    }

    @Test("migrations run with the tenant's search_path and can read tenantplan.tenant_id")
    func searchPathAndTenantSettings() async throws {
        let db = try await TestDatabase.create("ctx")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try await db.exec(
            "CREATE TABLE public.currencies (code text PRIMARY KEY); INSERT INTO public.currencies VALUES ('EUR');")
        try fixture.write(
            "m/0001_settings.sql",
            "CREATE TABLE settings (tenant text, schema_name text, currency text REFERENCES currencies (code));")
        try fixture.write(
            "seed.sql",
            "INSERT INTO settings SELECT current_setting('tenantplan.tenant_id'), "
                + "current_setting('tenantplan.schema'), code FROM currencies;"
        )
        let ids = ["o'brien", "acme"]
        let plan = try fixture.compile(
            Self.listPlan(
                ids,
                actions: """
                      - { name: m, migrate: m }
                      - { name: seed, after: [m], sql: { file: seed.sql } }
                    """), database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.actions.last?.error))")
        #expect(
            try await db.rows("SELECT tenant, schema_name, currency FROM \"t_o'brien\".settings") == [
                ["o'brien", "t_o'brien", "EUR"]
            ])
        #expect(try await db.rows("SELECT tenant FROM t_acme.settings") == [["acme"]])
        // The sql action is tracked once, under its name.
        #expect(try await db.scalar("SELECT count(*) FROM t_acme.__drizzle_migrations WHERE name = 'seed'") == "1")
        let rerun = try await runApply(plan, db)
        #expect(rerun.summary.migrationsApplied == 0)
        #expect(try await db.count("SELECT count(*) FROM t_acme.settings") == 1)
    }

    @Test(
        """
        shared actions run once; tenant actions wait for them; \
        a shared action after a tenant action waits for every tenant
        """
    )
    func sharedActions() async throws {
        let db = try await TestDatabase.create("shared")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("shared/0001_log.sql", "CREATE TABLE public.event_log (seq serial, what text);")
        try fixture.write(
            "tenant/0001_t.sql",
            "CREATE TABLE t (id int); "
                + "INSERT INTO public.event_log (what) VALUES ('tenant ' || current_setting('tenantplan.tenant_id'));"
        )
        let ids = (0..<12).map { "s\($0)" }
        let plan = try fixture.compile(
            Self.listPlan(
                ids,
                actions: """
                      - { name: shared-schema, scope: shared, migrate: shared, \
                    tracking: { table: __shared_migrations, format: name } }
                      - { name: tenant-schema, after: [shared-schema], migrate: tenant }
                      - { name: after-all, scope: shared, after: [tenant-schema], \
                    sql: { inline: "INSERT INTO public.event_log (what) VALUES ('after-all')" } }
                    """), database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0)
        #expect(report.sharedActions.map(\.name) == ["shared-schema", "after-all"])
        #expect(report.sharedActions.map(\.status) == [.applied, .applied])
        let events = try await db.rows("SELECT what FROM public.event_log ORDER BY seq").map { $0[0] ?? "" }
        #expect(events.count == 13)
        #expect(events.last == "after-all")
        // Each shared action tracks in its own table: the override for shared-schema, the plan's for after-all.
        #expect(try await db.count("SELECT count(*) FROM public.__shared_migrations") == 1)
        #expect(try await db.scalar("SELECT name FROM public.__drizzle_migrations") == "after-all")
        let rerun = try await runApply(plan, db)
        #expect(rerun.sharedActions.map(\.status) == [.unchanged, .unchanged])
        #expect(try await db.count("SELECT count(*) FROM public.event_log") == 13)
    }

    @Test("a failed shared action skips the tenant actions after it")
    func failedSharedActionSkipsDependents() async throws {
        let db = try await TestDatabase.create("sharedfail")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("tenant/0001_t.sql", "CREATE TABLE t (id int);")
        let plan = try fixture.compile(
            Self.listPlan(
                ["a", "b"],
                actions: """
                      - { name: broken, scope: shared, sql: { inline: "SELECT * FROM no_such_table" } }
                      - { name: tenant-schema, after: [broken], migrate: tenant }
                    """), database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        #expect(report.sharedActions.first?.status == .failed)
        #expect(report.sharedActions.first?.error?.sqlstate == "42P01")
        #expect(report.tenant("a")?.actions.first?.status == .skipped)
        #expect(try await db.tableExists("t_a", "t") == false)
    }

    @Test("--dry-run reads but writes nothing, and lists what would run per tenant")
    func dryRun() async throws {
        let db = try await TestDatabase.create("dry")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.listPlan(["a", "b"], actions: "  - { name: tenant-schema, migrate: migrations/tenant }"), database: db)
        try await db.exec(
            "CREATE SCHEMA t_b; CREATE TABLE t_b.__drizzle_migrations (id serial PRIMARY KEY, "
                + "name varchar(255) NOT NULL UNIQUE, applied_at timestamptz DEFAULT current_timestamp); "
                + "INSERT INTO t_b.__drizzle_migrations (name) VALUES ('0000_users');"
        )
        let report = try await runApply(plan, db, dryRun: true)
        #expect(report.exitCode == 0)
        #expect(report.summary.migrationsApplied == 0)
        #expect(report.summary.migrationsPending == 5)
        #expect(report.tenant("a")?.createdSchema == true)
        #expect(report.tenant("a")?.actions.first?.pending == ["0000_users", "0001_projects", "0002_tasks"])
        #expect(report.tenant("b")?.actions.first?.pending == ["0001_projects", "0002_tasks"])
        #expect(try await db.schemaExists("t_a") == false)
        #expect(try await db.count("SELECT count(*) FROM t_b.__drizzle_migrations") == 1)
    }

    @Test("schemaLike discovery, include/exclude globs and --tenant narrow the tenants")
    func discoveryAndFilters() async throws {
        let db = try await TestDatabase.create("disc")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        try await db.exec(
            "CREATE SCHEMA tenant_acme; CREATE SCHEMA tenant_acme_eu; CREATE SCHEMA tenant_test_1; "
                + "CREATE SCHEMA tenant_globex; CREATE SCHEMA other;"
        )
        let plan = try fixture.compile(
            """
            version: 1
            database: { url: "${TEST_DATABASE_URL}" }
            tenants:
              discover: { schemaLike: "tenant\\\\_%" }
              schema: "tenant_{id}"
              exclude: ["test_*"]
            actions: [{ name: m, migrate: m }]
            """, database: db)
        let all = try await runApply(plan, db, dryRun: true)
        #expect(all.tenants.map(\.id) == ["acme", "acme_eu", "globex"])
        let narrowed = try await runApply(
            plan, db, dryRun: true, filter: TenantFilter(only: ["acme", "globex"], exclude: ["glob*"]))
        #expect(narrowed.tenants.map(\.id) == ["acme"])
        await #expect(throws: TenantPlanError.unknownTenants(["nope"])) {
            _ = try await runApply(plan, db, dryRun: true, filter: TenantFilter(only: ["nope"]))
        }
    }

    @Test(
        "a tenant id that makes no valid schema name fails that tenant only; a missing schema without createSchemas too"
    )
    func invalidTenants() async throws {
        let db = try await TestDatabase.create("invalid")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        let long = String(repeating: "x", count: 70)
        try await db.exec("CREATE SCHEMA t_ok;")
        let plan = try fixture.compile(
            """
            version: 1
            database: { url: "${TEST_DATABASE_URL}" }
            tenants:
              discover: { list: [ok, "\(long)", missing] }
              schema: "t_{id}"
            actions: [{ name: m, migrate: m }]
            """, database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        #expect(report.tenant("ok")?.status == .succeeded)
        #expect(report.tenant(long)?.status == .failed)
        #expect(report.tenant(long)?.error?.message.contains("PostgreSQL allows 63") == true)
        #expect(report.tenant("missing")?.status == .failed)
        #expect(report.tenant("missing")?.error?.message == "schema t_missing does not exist")
        #expect(
            report.summary
                == Report.Summary(tenants: 3, succeeded: 1, failed: 2, skipped: 0, unchanged: 0, migrationsApplied: 1))
    }

    @Test("a no-transaction migration runs outside a transaction (CREATE INDEX CONCURRENTLY)")
    func noTransactionDirective() async throws {
        let db = try await TestDatabase.create("notx")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_t.sql", "CREATE TABLE t (id int);")
        try fixture.write("m/0002_idx.sql", "-- tenantplan: no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);")
        let plan = try fixture.compile(Self.listPlan(["a"], actions: "  - { name: m, migrate: m }"), database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.first?.actions.first?.error.map { "\($0)" } ?? "")")
        #expect(
            try await db.count("SELECT count(*) FROM pg_indexes WHERE schemaname = 't_a' AND indexname = 't_id'") == 1)
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 2)
    }

    @Test("onError: abort starts nothing new after the first failure; the rest are skipped")
    func abortOnError() async throws {
        let db = try await TestDatabase.create("abort")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_x.sql", "SELECT CASE WHEN current_setting('tenantplan.tenant_id') = 'a00' THEN 1 / 0 ELSE 1 END;")
        let ids = (0..<30).map { String(format: "a%02d", $0) }
        var plan = try fixture.compile(Self.listPlan(ids, actions: "  - { name: m, migrate: m }"), database: db)
        plan.onError = .abort
        plan.concurrency = 1
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        #expect(report.stopReason == .abortOnError)
        #expect(report.summary.failed == 1)
        #expect(report.summary.skipped == 29)
        #expect(report.summary.tenants == report.summary.succeeded + report.summary.failed + report.summary.skipped)
    }

    @Test("maxFailures stops starting tenants once that many failed")
    func maxFailures() async throws {
        let db = try await TestDatabase.create("maxf")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "SELECT 1 / 0;")
        let ids = (0..<20).map { String(format: "m%02d", $0) }
        var plan = try fixture.compile(Self.listPlan(ids, actions: "  - { name: m, migrate: m }"), database: db)
        plan.maxFailures = 3
        plan.concurrency = 1
        let report = try await runApply(plan, db)
        #expect(report.stopReason == .maxFailures)
        #expect(report.summary.failed == 3)
        #expect(report.summary.skipped == 17)
    }

    @Test("status counts applied, pending and orphaned rows per tenant in batches")
    func status() async throws {
        let db = try await TestDatabase.create("status")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.listPlan(["a", "b", "c"], actions: "  - { name: tenant-schema, migrate: migrations/tenant }"),
            database: db)
        _ = try await runApply(plan, db, filter: TenantFilter(only: ["a", "b"]))
        try await db.exec(
            "INSERT INTO t_b.__drizzle_migrations (name) VALUES ('0009_deleted_file'); "
                + "DELETE FROM t_a.__drizzle_migrations WHERE name = '0002_tasks';"
        )
        let runner = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "status"))
        let status = try await runner.status()
        let a = try #require(status.tenants.first { $0.id == "a" })
        let b = try #require(status.tenants.first { $0.id == "b" })
        let c = try #require(status.tenants.first { $0.id == "c" })
        #expect(a.applied == 2 && a.pending == ["0002_tasks"] && a.orphaned.isEmpty && a.format == .name)
        #expect(b.applied == 3 && b.pending.isEmpty && b.orphaned == ["0009_deleted_file"])
        #expect(b.lastApplied == "0009_deleted_file")
        #expect(c.schemaExists == false && c.pending.count == 3)
        #expect(
            status.summary
                == StatusReport.Summary(
                    tenants: 3, upToDate: 1, withPending: 2, missingSchema: 1, withOrphans: 1, errors: 0,
                    pendingMigrations: 4))
    }

    @Test("a tracking table in another format than the plan's fixed format fails that tenant, untouched")
    func formatMismatch() async throws {
        let db = try await TestDatabase.create("mismatch")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        try await db.exec(
            "CREATE SCHEMA t_a; CREATE TABLE t_a.__drizzle_migrations "
                + "(id serial PRIMARY KEY, hash text NOT NULL, created_at bigint);"
        )
        let plan = try fixture.compile(
            Self.listPlan(["a", "b"], extra: "tracking: { format: name }", actions: "  - { name: m, migrate: m }"),
            database: db)
        let report = try await runApply(plan, db)
        #expect(report.tenant("a")?.status == .failed)
        #expect(
            report.tenant("a")?.actions.first?.error?.message.contains("is in drizzle-kit format; the plan says name")
                == true)
        #expect(report.tenant("b")?.status == .succeeded)
        #expect(try await db.tableExists("t_a", "x") == false)
    }

    @Test("connection errors never show the password")
    func passwordNeverShown() async throws {
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "SELECT 1;")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database: { url: "postgresql://someone:s3cr3t-pw@%2Fnonexistent-socket-dir/app?connect_timeout=2" }
            tenants: { discover: { list: [a] } }
            actions: [{ name: m, migrate: m }]
            """)
        let plan = try PlanCompiler.compile(path: fixture.planPath, options: CompileOptions(environment: [:]))
        let runner = PlanRunner(plan: plan, conninfo: plan.database.url, options: RunOptions())
        let report = try await runner.apply()
        #expect(report.exitCode == 1)
        let json = String(decoding: try report.json(), as: UTF8.self)
        #expect(report.error != nil)
        #expect(!json.contains("s3cr3t-pw"))
        #expect(
            ConnInfo.redact("failed for postgresql://someone:s3cr3t-pw@host/app", conninfo: plan.database.url).contains(
                "s3cr3t-pw") == false)
    }

    @Test("lock_timeout and statement_timeout are the plan's inside migrations, also after waiting for the tenant lock")
    func timeoutsApplied() async throws {
        let db = try await TestDatabase.create("timeouts")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_x.sql",
            "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock, "
                + "current_setting('statement_timeout') AS statement, current_setting('application_name') AS app;"
        )
        let plan = try fixture.compile(
            Self.listPlan(["a"], extra: "", actions: "  - { name: m, migrate: m }")
                .replacingOccurrences(
                    of: "  maxConnections: 8",
                    with: "  maxConnections: 8\n  lockTimeout: 10s\n  statementTimeout: 5m\n"
                        + "  applicationName: tp-test"),
            database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0)
        #expect(try await db.rows("SELECT lock, statement, app FROM t_a.seen") == [["10s", "5min", "tp-test"]])
    }

    @Test("an error position is the character position in the migration file, breakpoints and all")
    func errorPositionInFile() async throws {
        let db = try await TestDatabase.create("position")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let text =
            "CREATE TABLE a (id int);--> statement-breakpoint\nCREATE TABLE b (id int);--> statement-breakpoint\n"
            + "SELECT nope FROM a;"
        try fixture.write("m/0001_x.sql", text)
        try fixture.write(
            "n/0001_y.sql",
            "-- tenantplan: no-transaction\nCREATE TABLE c (id int);--> statement-breakpoint\nSELECT nope FROM c;")
        let plan = try fixture.compile(
            Self.listPlan(
                ["a"], actions: "  - { name: m, migrate: m }\n  - { name: n, migrate: n, tracking: { table: __n } }"),
            database: db)
        let report = try await runApply(plan, db)
        let expected = text.distance(from: text.startIndex, to: text.range(of: "nope")!.lowerBound) + 1
        #expect(report.tenant("a")?.actions.first?.error?.position == expected)
        #expect(report.tenant("a")?.actions.first?.error?.sqlstate == "42703")
        // Statement by statement (no-transaction) too.
        let plan2 = try fixture.compile(Self.listPlan(["b"], actions: "  - { name: n, migrate: n }"), database: db)
        let report2 = try await runApply(plan2, db)
        let text2 =
            "-- tenantplan: no-transaction\nCREATE TABLE c (id int);--> statement-breakpoint\nSELECT nope FROM c;"
        let expected2 = text2.distance(from: text2.startIndex, to: text2.range(of: "nope")!.lowerBound) + 1
        #expect(report2.tenant("b")?.actions.first?.error?.position == expected2)
    }

    @Test("a legacy table missing a column, or a non-table in its place, fails that tenant alone")
    func oddTrackingTables() async throws {
        let db = try await TestDatabase.create("odd")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        try await db.exec(
            """
            CREATE SCHEMA t_noapplied; \
            CREATE TABLE t_noapplied.__drizzle_migrations (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE);
            INSERT INTO t_noapplied.__drizzle_migrations (name) VALUES ('0001_x');
            CREATE SCHEMA t_view; CREATE VIEW t_view.__drizzle_migrations AS SELECT 1 AS one;
            """)
        let plan = try fixture.compile(
            Self.listPlan(["noapplied", "view", "fine"], actions: "  - { name: m, migrate: m }"), database: db)
        let report = try await runApply(plan, db)
        #expect(report.tenant("noapplied")?.status == .succeeded)
        #expect(report.tenant("noapplied")?.unchanged == true)
        #expect(report.tenant("view")?.status == .failed)
        #expect(report.tenant("fine")?.status == .succeeded)
        #expect(report.tenant("fine")?.unchanged == false)
    }

    @Test("a plan with only shared actions leaves its tenants succeeded and unchanged")
    func sharedOnlyPlan() async throws {
        let db = try await TestDatabase.create("sharedonly")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let plan = try fixture.compile(
            Self.listPlan(["a", "b"], actions: "  - { name: s, scope: shared, sql: { inline: SELECT 1 } }"),
            database: db)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0)
        #expect(
            report.summary
                == Report.Summary(tenants: 2, succeeded: 2, failed: 0, skipped: 0, unchanged: 2, migrationsApplied: 1))
    }

    @Test("a tenant that fails early lists its later actions as skipped")
    func laterActionsListed() async throws {
        let db = try await TestDatabase.create("later")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let plan = try fixture.compile(
            Self.listPlan(
                ["a"],
                actions: """
                      - { name: first, sql: { inline: "SELECT 1 / 0" } }
                      - { name: shared-after, scope: shared, after: [first], sql: { inline: SELECT 1 } }
                      - { name: last, after: [shared-after], sql: { inline: SELECT 2 } }
                    """), database: db)
        let report = try await runApply(plan, db)
        #expect(report.tenant("a")?.actions.map(\.name) == ["first", "last"])
        #expect(report.tenant("a")?.actions.map(\.status) == [.failed, .skipped])
        #expect(report.sharedActions.first?.status == .skipped)
    }

    @Test("identifiers are quoted exactly as libpq's PQescapeIdentifier does")
    func quoting() async throws {
        let db = try await TestDatabase.create("quote")
        for name in ["plain", "Mixed Case", "with\"quote", "ünï-cødé", "semi;colon--", ""] {
            let viaLibpq = try await db.session.run { $0.quoteIdentifier(name) }
            #expect(viaLibpq == SQL.quoteIdentifier(name))
        }
    }
}
