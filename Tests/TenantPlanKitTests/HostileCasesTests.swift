import Foundation
import TenantPlanPostgres
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// Cases a hostile review found: each would record a migration that never ran, run one twice, or
/// refuse what is fine. Real server.
@Suite struct HostileCasesTests {
    static func plan(_ ids: [String], actions: String, extra: String = "") -> String {
        """
        version: 1
        database: { url: "${TEST_DATABASE_URL}", maxConnections: 4 }
        tenants:
          discover: { list: [\(ids.joined(separator: ", "))] }
          schema: "h_{id}"
          createSchemas: true
        \(extra)
        concurrency: 1
        actions:
        \(actions)
        """
    }

    @Test("two folders sharing a tracking table: order and gaps are judged within each folder")
    func twoFoldersOneTable() async throws {
        let db = try await TestDatabase.create("twofolders")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("ma/0001_items.sql", "CREATE TABLE items (i int);")
        try fixture.write("mb/0001_notes.sql", "CREATE TABLE notes (i int);")
        let actions = """
              - { name: core, migrate: ma }
              - { name: extra, after: [core], migrate: mb }
            """
        _ = try await runApply(try fixture.compile(Self.plan(["x"], actions: actions), database: db), db)
        try fixture.write("ma/0002_items_qty.sql", "ALTER TABLE items ADD COLUMN qty int;")
        let plan = try fixture.compile(Self.plan(["x"], actions: actions), database: db)
        let sync = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync"))
            .sync(.markMissing)
        #expect(sync.tenants.first?.marked == nil, "a new migration of folder ma is not a gap")
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error))")
        #expect(report.tenant("x")?.actions.first?.applied.map(\.name) == ["0002_items_qty"])
    }

    @Test("--mark-applied with --tenant records nothing in shared actions; an --up-to several actions hold is refused")
    func markAppliedScope() async throws {
        let db = try await TestDatabase.create("markscope")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("shared/0001_init.sql", "CREATE TABLE public.regions_a (i int);")
        try fixture.write("shared/0002_regions.sql", "CREATE TABLE public.regions_b (i int);")
        try fixture.write("tenant/0001_init.sql", "CREATE TABLE t (i int);")
        let actions = """
              - { name: shared-schema, scope: shared, migrate: shared, tracking: { table: __shared } }
              - { name: tenant-schema, after: [shared-schema], migrate: tenant }
            """
        let plan = try fixture.compile(Self.plan(["x"], actions: actions), database: db)
        try await db.exec("CREATE SCHEMA h_x; CREATE TABLE h_x.t (i int);")
        let ambiguous = PlanRunner(
            plan: plan, conninfo: db.conninfo,
            options: RunOptions(filter: TenantFilter(only: ["x"]), markApplied: true, upTo: "0001_init"))
        await #expect(
            throws: TenantPlanError.ambiguousMigration("0001_init", actions: ["shared-schema", "tenant-schema"])
        ) {
            _ = try await ambiguous.apply()
        }
        let adopt = try await PlanRunner(
            plan: plan, conninfo: db.conninfo,
            options: RunOptions(filter: TenantFilter(only: ["x"]), markApplied: true, upTo: "tenant-schema:0001_init")
        ).apply()
        #expect(adopt.exitCode == 0, "\(adopt.tenants.compactMap(\.error))")
        #expect(adopt.tenant("x")?.actions.first?.marked == ["0001_init"])
        #expect(adopt.sharedActions.first?.marked == nil, "shared migrations were not marked for one tenant")
        let apply = try await runApply(plan, db)
        #expect(apply.sharedActions.first?.applied.map(\.name) == ["0001_init", "0002_regions"])
        #expect(try await db.tableExists("public", "regions_b"))
    }

    @Test("a schema with default privileges but no objects is not taken for one migrated by hand")
    func defaultPrivilegesAreNotObjects() async throws {
        let db = try await TestDatabase.create("defacl")
        try await db.exec(
            "CREATE SCHEMA h_x; DO $$ BEGIN CREATE ROLE tp_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; "
                + "END $$; ALTER DEFAULT PRIVILEGES IN SCHEMA h_x GRANT SELECT ON TABLES TO tp_app;")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        let report = try await runApply(
            try fixture.compile(Self.plan(["x"], actions: "  - { name: m, migrate: m }"), database: db), db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error))")
        try await db.exec(
            "DROP SCHEMA h_x CASCADE; ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM tp_app;")
    }

    @Test("a prepared statement or an advisory lock left by one tenant does not reach the next")
    func preparedStatementsDoNotLeak() async throws {
        let db = try await TestDatabase.create("prepared")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_a.sql",
            "CREATE TABLE a (i int);\nPREPARE add_item (int) AS INSERT INTO a VALUES ($1);\nEXECUTE add_item (1);\n"
                + "SELECT pg_advisory_lock(42);")
        let report = try await runApply(
            try fixture.compile(Self.plan(["x", "y", "z"], actions: "  - { name: m, migrate: m }"), database: db), db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.first?.error })")
        #expect(report.summary.migrationsApplied == 3)
    }

    @Test("a legacy table without an id column: cleaning an orphan does not make later actions rerun migrations")
    func legacyTableWithoutIDs() async throws {
        let db = try await TestDatabase.create("noid")
        try await db.exec(
            "CREATE SCHEMA h_x; CREATE TABLE h_x.counter (n int); INSERT INTO h_x.counter VALUES (0);"
                + "CREATE TABLE h_x.__drizzle_migrations (name varchar(255), applied_at timestamptz);"
                + "INSERT INTO h_x.__drizzle_migrations VALUES ('0001_bump', now()), ('old_removed', now());")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_bump.sql", "UPDATE counter SET n = n + 1;")
        let actions = """
              - { name: tidy, sync: { folder: m, cleanOrphans: true } }
              - { name: m, after: [tidy], migrate: m }
            """
        let report = try await runApply(try fixture.compile(Self.plan(["x"], actions: actions), database: db), db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.map(\.error) })")
        #expect(try await db.scalar("SELECT n FROM h_x.counter") == "0", "0001_bump did not run again")
        #expect(try await db.count("SELECT count(*) FROM h_x.__drizzle_migrations") == 1)
    }

    @Test("a password with an unencoded @ in a URI is never echoed")
    func passwordWithAt() async throws {
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        try fixture.write(
            "plan.yaml",
            """
            version: 1
            database: { url: "postgresql://app:Sup3r@Secret99@nohost.invalid/db?connect_timeout=2" }
            tenants: { discover: { list: [a] } }
            actions: [{ name: m, migrate: m }]
            """)
        let report = fixture.directory + "/report.json"
        let child = try ChildProcess(Executable.path, ["apply", fixture.planPath, "--report", report])
        #expect(try await child.wait() == 1)
        let written = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        for text in [child.output, written] {
            #expect(!text.contains("Secret99"), "\(text)")
            #expect(!text.contains("Sup3r"), "\(text)")
        }
    }

    @Test("a markApplied baseline records nothing in a schema the run creates: a new tenant runs every migration")
    func baselineOnNewTenant() async throws {
        let db = try await TestDatabase.create("newbaseline")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (i int);")
        try fixture.write("m/0002_b.sql", "CREATE TABLE b (i int);")
        try await db.exec("CREATE SCHEMA h_old; CREATE TABLE h_old.a (i int);")
        let actions = """
              - { name: baseline, markApplied: m, upTo: 0001_a }
              - { name: schema, after: [baseline], migrate: m }
            """
        let report = try await runApply(
            try fixture.compile(Self.plan(["old", "new"], actions: actions), database: db), db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error))")
        #expect(report.tenant("old")?.actions.map(\.marked) == [["0001_a"], nil])
        #expect(report.tenant("old")?.actions.last?.applied.map(\.name) == ["0002_b"])
        #expect(report.tenant("new")?.actions.first?.marked == nil)
        #expect(report.tenant("new")?.actions.last?.applied.map(\.name) == ["0001_a", "0002_b"])
        #expect(try await db.tableExists("h_new", "a"))
    }
}
