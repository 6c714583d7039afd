import Foundation
import TenantPlanCluster
import TenantPlanPostgres
import TenantPlanSpec
import Testing

@testable import TenantPlanKit

/// `database.pooler: transaction` behind a real PgBouncer in transaction pooling, with a few
/// server connections that every client shares: locks, settings, racing runs, the direct URL.
@Suite struct PoolerTests {
    static func plan(
        _ ids: [String], database: String = "pooler: transaction", concurrency: Int = 4, folder: String = "m"
    ) -> String {
        """
        version: 1
        database: { url: "${TEST_DATABASE_URL}", maxConnections: 8, \(database) }
        tenants:
          discover: { list: [\(ids.joined(separator: ", "))] }
          schema: "t_{id}"
          createSchemas: true
        concurrency: \(concurrency)
        actions: [{ name: m, migrate: \(folder) }]
        """
    }

    /// Applies `plan` connecting through `conninfo` (the pooler's, by default).
    static func apply(_ plan: Plan, _ db: TestDatabase, conninfo: String? = nil) async throws -> Report {
        let runner = PlanRunner(
            plan: plan, conninfo: try conninfo ?? TestBouncer.conninfo(db), options: RunOptions(command: "apply"))
        return try await runner.apply()
    }

    static func logged(_ count: Int, sleep: Double = 0) -> [(String, String)] {
        (1...count).map { index in
            (
                "m/000\(index)_m\(index).sql",
                """
                SELECT pg_sleep(\(sleep));
                CREATE TABLE m\(index) (id int);
                INSERT INTO public.applied_log VALUES (current_setting('tenantplan.tenant_id'), 'm\(index)');
                """
            )
        }
    }

    static func duplicates(_ db: TestDatabase) async throws -> Int {
        try await db.count(
            "SELECT count(*) FROM (SELECT 1 FROM public.applied_log GROUP BY tenant, migration HAVING count(*) > 1) d")
    }

    @Test("two runs racing through PgBouncer (transaction pooling) apply each migration exactly once, both succeed")
    func racingRuns() async throws {
        let db = try await TestDatabase.create("pooler_race")
        try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        for (path, sql) in Self.logged(5, sleep: 0.002) { try fixture.write(path, sql) }
        let ids = (0..<40).map { "r\($0)" }
        let plan = try fixture.compile(Self.plan(ids), database: db)
        async let first = Self.apply(plan, db)
        async let second = Self.apply(plan, db)
        let reports = try await [first, second]
        for report in reports {
            #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error)) \(report.error as Any)")
        }
        #expect(reports.map(\.summary.migrationsApplied).reduce(0, +) == 200)
        #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 200)
        #expect(try await Self.duplicates(db) == 0)
        for id in ids {
            #expect(try await db.count("SELECT count(*) FROM t_\(id).__drizzle_migrations") == 5, "\(id)")
        }
    }

    @Test("under the pooler every transaction has the plan's settings, and a migration's session SETs leave with it")
    func settingsStayLocal() async throws {
        let db = try await TestDatabase.create("pooler_settings")
        try await db.exec(
            "CREATE TABLE public.seen (tenant text, timeout text, locks text, path text, who text);"
                + "DO $$ BEGIN CREATE ROLE tp_pooled SUPERUSER NOLOGIN; "
                + "EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write(
            "m/0001_a.sql",
            """
            INSERT INTO public.seen SELECT current_setting('tenantplan.tenant_id'),
                current_setting('statement_timeout'), current_setting('lock_timeout'),
                current_setting('search_path'), current_user;
            DO $$ BEGIN
              IF current_setting('tenantplan.tenant_id') = 'a' THEN
                PERFORM set_config('statement_timeout', '123s', false);
                PERFORM set_config('search_path', 'public', false);
                PERFORM set_config('role', 'tp_pooled', false);
              END IF;
            END $$;
            """)
        let plan = try fixture.compile(
            Self.plan(
                ["a", "b", "c", "d", "e"], database: "pooler: transaction, statementTimeout: 7s, lockTimeout: 3s",
                concurrency: 1), database: db)
        let report = try await Self.apply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.first?.error })")
        let user = try await db.scalar("SELECT current_user") ?? ""
        let seen = try await db.rows("SELECT tenant, timeout, locks, path, who FROM public.seen ORDER BY tenant")
        #expect(
            seen.map { $0.map { $0 ?? "-" } }
                == ["a", "b", "c", "d", "e"].map { ["\($0)", "7s", "3s", "t_\($0), public", user] })
        // Every server session of the pool (held at once, so each is a different one) is back to its defaults.
        let conninfo = try TestBouncer.conninfo(db)
        var sessions: [PGSession] = []
        for _ in 0..<TestBouncer.poolSize {
            let session = try await PGSession.open(conninfo)
            _ = try await session.run { try $0.exec("BEGIN") }
            sessions.append(session)
        }
        for session in sessions {
            let values = try await session.run {
                try $0.exec("SELECT current_setting('statement_timeout'), current_setting('search_path'), current_user")
                    .rows
            }
            #expect(values.first?.compactMap { $0 } == ["0", "\"$user\", public", user])
            _ = try await session.run { try $0.exec("ROLLBACK") }
        }
    }

    @Test("a no-transaction migration runs on database.directUrl under the pooler; without it the plan is refused")
    func directURL() async throws {
        let db = try await TestDatabase.create("pooler_direct")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_t.sql", "CREATE TABLE t (id int);")
        try fixture.write(
            "m/0002_index.sql", "-- tenantplan: no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);")
        try fixture.write("m/0003_row.sql", "INSERT INTO t VALUES (1);")
        let refused = SQLSafetyTests.diagnostics(fixture, Self.plan(["a"]), db)
        #expect(refused.count == 1)
        #expect(refused.first?.contains("migration '0002_index' starts with `-- tenantplan: no-transaction`") == true)
        #expect(refused.first?.contains("set database.directUrl") == true)
        let plan = try fixture.compile(
            Self.plan(["a", "b", "c"], database: "pooler: transaction, directUrl: \"\(db.conninfo)\""), database: db)
        let report = try await Self.apply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.first?.error })")
        for id in ["a", "b", "c"] {
            #expect(try await db.count("SELECT count(*) FROM t_\(id).__drizzle_migrations") == 3)
            #expect(
                try await db.count(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname = 't_\(id)' AND indexname = 't_id'") == 1)
        }
    }

    @Test("a conversion planned from a read refuses a table changed since (a row recorded, or converted already)")
    func conversionCheck() async throws {
        let db = try await TestDatabase.create("pooler_convert")
        let table = TrackingTableRef(schema: "s", table: "tracking")
        try await db.exec(
            "CREATE SCHEMA s;" + TrackingSQL.createTable(table, format: .name) + ";"
                + "INSERT INTO s.tracking (name, applied_at) VALUES ('0001_a', now()), ('0002_b', now())")
        let known = ["0001_a", "0002_b", "0003_c"].map { Build.migration($0) }
        let state = try #require(try await db.session.run { try TrackingReader.read([table], on: $0)[table] })
        let conversion = try #require(TrackingConverter.plan(state, table: table, to: .hash, known: known))
        let check = TrackingConverter.unchangedCheck(conversion)
        try await db.exec("BEGIN;" + check + "ROLLBACK")
        func refused() async throws -> String? {
            do {
                try await db.exec(check)
                return nil
            } catch let error as PostgresError {
                return error.sqlstate
            }
        }
        try await db.exec("INSERT INTO s.tracking (name, applied_at) VALUES ('0003_c', now())")
        #expect(try await refused() == TrackingSQL.conflict, "a row recorded since the read")
        try await db.exec("DELETE FROM s.tracking WHERE name = '0003_c'")
        #expect(try await refused() == nil)
        try await db.exec(TrackingConverter.sql([conversion], checked: true))
        #expect(try await refused() == TrackingSQL.conflict, "converted since the read")
        #expect(try await db.count("SELECT count(*) FROM s.tracking WHERE hash IS NOT NULL") == 2)
    }

    @Test("a tenant locked by another run waits lockWait under the pooler too, then fails naming the holder")
    func lockWait() async throws {
        let db = try await TestDatabase.create("pooler_lock")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        // statementTimeout well under lockWait, yet loose enough for a loaded machine (the whole
        // suite runs in parallel, and this one through the pooler): the wait must outlast it.
        let plan = try fixture.compile(
            Self.plan(["a", "b"], database: "pooler: transaction, lockWait: 2500ms, statementTimeout: 1s"),
            database: db)
        let holder = try #require(try await db.scalar("SELECT pg_backend_pid()::text"))
        try await db.exec("SELECT pg_advisory_lock(\(AdvisoryLock.namespace), hashtext('tenant:t_a'))")
        let report = try await Self.apply(plan, db)
        let error = try #require(report.tenant("a")?.error)
        #expect(error.sqlstate == "55P03")
        #expect(error.message.hasPrefix("tenant:t_a is locked by another run (pid \(holder), application_name "))
        #expect(report.tenant("b")?.status == .succeeded, "\(report.tenant("b")?.error as Any)")
        try await db.exec("SELECT pg_advisory_unlock_all()")
        let rerun = try await Self.apply(plan, db)
        #expect(rerun.exitCode == 0, "\(rerun.tenants.compactMap(\.error))")
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 1)
    }

    @Test("without database.pooler, a run through PgBouncer stops before touching a tenant and says what to set")
    func poolerDetected() async throws {
        let db = try await TestDatabase.create("pooler_detect")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_x.sql", "CREATE TABLE x (id int);")
        let plan = try fixture.compile(Self.plan(["a"], database: "pooler: none"), database: db)
        // PgBouncer as configured by default refuses the startup options.
        let refused = try await Self.apply(plan, db)
        #expect(refused.exitCode == 1)
        #expect(
            refused.error?.message.contains("set `database.pooler: transaction`") == true, "\(refused.error as Any)")
        // One told to ignore them (ignore_startup_parameters = options) is noticed after connecting.
        let suite = try TestServer.server().cluster
        let cluster = try suite ?? EphemeralCluster.start()
        defer { if suite == nil { cluster.stop() } }
        let lenient = try EphemeralPgBouncer.start(before: cluster, settings: ["ignore_startup_parameters = options"])
        defer { lenient.stop() }
        let database = suite == nil ? "postgres" : db.name
        let ignored = try await Self.apply(plan, db, conninfo: lenient.conninfo(database: database))
        #expect(ignored.exitCode == 1)
        #expect(ignored.error?.message.contains("did not receive tenantplan's startup options") == true)
        #expect(try await !db.schemaExists("t_a"))
    }
}
