import Foundation
import Logging
import Synchronization
import Testing

@testable import TenantPlanKit
@testable import TenantPlanPostgres
@testable import TenantPlanSpec

/// The everyday deploy's path (`TenantExecutor.runAsRead`): a tenant whose tables are as the
/// batched read saw them gets its new migrations in one round trip, behind a check that falls
/// back to the locked path whenever the lock is taken or the tables changed since.
@Suite struct OneTripTests {
    /// Every round trip the run's connections make, by tenant (from `debug.logQueries`).
    final class RoundTrips: LogHandler, @unchecked Sendable {
        private let lines = Mutex<[(tenant: String?, query: String)]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard event.message.description == "query" else { return }
            let tenant = event.metadata?["tenant"].map { "\($0)" }
            let query = event.metadata?["query"].map { "\($0)" } ?? ""
            lines.withLock { $0.append((tenant, query)) }
        }

        var logger: Logger { Logger(label: "tenantplan") { _ in self } }

        func count(tenant: String) -> Int { lines.withLock { $0.filter { $0.tenant == tenant }.count } }
        func queries(tenant: String) -> [String] { lines.withLock { $0.filter { $0.tenant == tenant }.map(\.query) } }
    }

    /// `database`: more keys of `database:`; `extra`: more top-level keys.
    static func plan(_ ids: [String], database: String = "", extra: String = "") -> String {
        CLIProcessTests.planText(
            ids: ids, concurrency: 6, extra: "debug: { logQueries: true }\n" + extra, database: database)
    }

    /// `assumeFrom`: 500 here, so that 600 tenants are enough for the speculative read.
    static func apply(
        _ plan: Plan, _ db: TestDatabase, trips: RoundTrips? = nil, conninfo: String? = nil,
        events: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws -> Report {
        var options = RunOptions(command: "apply")
        options.assumeFrom = 500
        return try await PlanRunner(
            plan: plan, conninfo: conninfo ?? db.conninfo, options: options,
            logger: (trips ?? RoundTrips()).logger, events: events
        ).apply()
    }

    /// Tenants `ids` migrated to `0001_a`, then `migrations` more written: the plan that applies them.
    static func upToDate(
        _ ids: [String], _ db: TestDatabase, _ fixture: PlanFixture, then migrations: [(String, String)],
        database: String = "", extra: String = ""
    ) async throws -> Plan {
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int);")
        let first = try await runApply(
            try fixture.compile(Self.plan(ids, database: database, extra: extra), database: db), db)
        #expect(first.exitCode == 0, "\(first.tenants.compactMap(\.error))")
        for (path, sql) in migrations { try fixture.write(path, sql) }
        return try fixture.compile(Self.plan(ids, database: database, extra: extra), database: db)
    }

    @Test("one new migration on tenants at their read state: one round trip each, recorded, no lock left")
    func oneRoundTrip() async throws {
        let db = try await TestDatabase.create("one_trip")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = ["a", "b", "c", "d"]
        let plan = try await Self.upToDate(
            ids, db, fixture, then: [("m/0002_b.sql", "ALTER TABLE a ADD COLUMN b text;")])
        let trips = RoundTrips()
        let report = try await Self.apply(plan, db, trips: trips)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error))")
        for id in ids {
            #expect(trips.count(tenant: id) == 1, "\(id): \(trips.queries(tenant: id))")
            #expect(report.tenant(id)?.actions.first?.applied.map(\.name) == ["0002_b"])
            #expect(try await db.count("SELECT count(*) FROM t_\(id).__drizzle_migrations WHERE name = '0002_b'") == 1)
            #expect(
                try await db.count(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = 't_\(id)' "
                        + "AND column_name = 'b'"
                )
                    == 1)
        }
        #expect(
            try await db.count(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    + "(SELECT oid FROM pg_database WHERE datname = current_database())") == 0)
        // The rerun has nothing to do and touches no tenant.
        let again = RoundTrips()
        #expect(try await Self.apply(plan, db, trips: again).summary.migrationsApplied == 0)
        #expect(ids.allSatisfy { again.count(tenant: $0) == 0 })
    }

    @Test("every format's rows, a table without id, names outside ASCII: the server digests them as read")
    func everyFormat() async throws {
        for format in TrackingFormat.allCases {
            let db = try await TestDatabase.create("one_trip_format")
            let fixture = try PlanFixture()
            defer { fixture.remove() }
            try await db.exec(
                "SET TimeZone = 'Asia/Kolkata'; CREATE SCHEMA t_legacy; CREATE TABLE t_legacy.a (id int); "
                    + "CREATE TABLE t_legacy.__drizzle_migrations (name text, applied_at timestamptz);"
                    + "INSERT INTO t_legacy.__drizzle_migrations VALUES ('0001_a', now())")
            let ids = format == .name ? ["x", "legacy"] : ["x"]
            let plan = try await Self.upToDate(
                ids, db, fixture, then: [("m/0002_é_ü.sql", "CREATE TABLE b (id int);")],
                extra: "tracking: { format: \(format.rawValue) }")
            let trips = RoundTrips()
            let report = try await Self.apply(plan, db, trips: trips)
            #expect(report.exitCode == 0, "\(format): \(report.tenants.compactMap(\.error))")
            for id in ids {
                #expect(trips.count(tenant: id) == 1, "\(format) \(id): \(trips.queries(tenant: id))")
                #expect(report.tenant(id)?.actions.first?.applied.map(\.name) == ["0002_é_ü"], "\(format) \(id)")
            }
        }
    }

    @Test(
        "several pending, per-migration: one round trip, each its own transaction; a failure keeps those before"
    )
    func severalPending() async throws {
        let db = try await TestDatabase.create("one_trip_several")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let plan = try await Self.upToDate(
            ["a", "b"], db, fixture,
            then: [
                ("m/0002_b.sql", "CREATE TABLE b (id int);"),
                (
                    "m/0003_c.sql",
                    "CREATE TABLE c (id int); SELECT 1 / (current_setting('tenantplan.tenant_id') <> 'b')::int;"
                ),
                ("m/0004_d.sql", "CREATE TABLE d (id int);"),
            ])
        let trips = RoundTrips()
        let report = try await Self.apply(plan, db, trips: trips)
        #expect(trips.count(tenant: "a") == 1, "\(trips.queries(tenant: "a"))")
        #expect(report.tenant("a")?.actions.first?.applied.map(\.name) == ["0002_b", "0003_c", "0004_d"])
        let failed = try #require(report.tenant("b")?.actions.first)
        #expect(failed.applied.map(\.name) == ["0002_b"])
        #expect(failed.error?.migration == "0003_c")
        #expect(failed.error?.sqlstate == "22012")
        #expect(
            try await db.rows("SELECT name FROM t_b.__drizzle_migrations ORDER BY id").map { $0[0] } == [
                "0001_a", "0002_b",
            ])
        #expect(try await db.scalar("SELECT to_regclass('t_b.c')::text") == nil, "the failed migration left nothing")
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations") == 4)
    }

    @Test(
        "a table changed since the read (a row, a column) or a lock held: the locked path takes over and sees why"
    )
    func checkRefuses() async throws {
        let db = try await TestDatabase.create("one_trip_refused")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let plan = try await Self.upToDate(
            ["a", "b", "c", "d"], db, fixture, then: [("m/0002_b.sql", "CREATE TABLE b (id int);")],
            database: "lockWait: 1500ms", extra: "tracking: { format: name }")
        let side = try PGConnection.connect(db.conninfo)
        let holder = try #require(try side.exec("SELECT pg_backend_pid()::text").value(0, 0))
        let trips = RoundTrips()
        let report = try await Self.apply(plan, db, trips: trips) { event in
            guard case .tenantStarted(let tenant, _) = event else { return }
            // Between the batched read and the tenant's turn: another run recorded 0002_b on a,
            // someone added a column that makes c's table another format, d is locked.
            let change =
                switch tenant {
                case "a": "INSERT INTO t_a.__drizzle_migrations (name) VALUES ('0002_b'); CREATE TABLE t_a.b (id int)"
                case "c": "ALTER TABLE t_c.__drizzle_migrations ADD COLUMN sha256 text"
                case "d": "SELECT pg_advisory_lock(\(AdvisoryLock.namespace), hashtext('tenant:t_d'))"
                default: "SELECT 1"
                }
            _ = try? side.exec(change)
        }
        #expect(report.tenant("a")?.status == .succeeded, "\(report.tenant("a")?.error as Any)")
        #expect(report.tenant("a")?.actions.first?.applied.isEmpty == true, "a's 0002_b was applied by the other run")
        #expect(try await db.count("SELECT count(*) FROM t_a.__drizzle_migrations WHERE name = '0002_b'") == 1)
        #expect(trips.count(tenant: "a") > 1, "checked, then read under the lock")
        #expect(report.tenant("b")?.actions.first?.applied.map(\.name) == ["0002_b"])
        #expect(trips.count(tenant: "b") == 1)
        let formatError = try #require(report.tenant("c")?.actions.first?.error ?? report.tenant("c")?.error)
        #expect(formatError.message.contains("tenantplan"), "\(formatError.message)")
        #expect(try await db.count("SELECT count(*) FROM t_c.__drizzle_migrations") == 1, "c untouched")
        let lockError = try #require(report.tenant("d")?.error)
        #expect(lockError.sqlstate == "55P03")
        #expect(lockError.message.hasPrefix("tenant:t_d is locked by another run (pid \(holder), "))
        #expect(try await db.count("SELECT count(*) FROM t_d.__drizzle_migrations") == 1, "d untouched")
    }

    @Test("racing runs apply each new migration once: directly, through PgBouncer, under repeatable read too")
    func racing() async throws {
        for (pooled, isolation) in [(false, false), (true, false), (false, true), (true, true)] {
            let db = try await TestDatabase.create("one_trip_race")
            try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
            if isolation {
                // A snapshot taken before the lock is granted must not decide what runs.
                try await db.exec(
                    "ALTER DATABASE \(SQL.quoteIdentifier(db.name)) "
                        + "SET default_transaction_isolation = 'repeatable read'")
            }
            let fixture = try PlanFixture()
            defer { fixture.remove() }
            let ids = (0..<40).map { "r\($0)" }
            let logged = PoolerTests.logged(4, sleep: 0.001)
            try fixture.write(logged[0].0, logged[0].1)
            let pooler = pooled ? "pooler: transaction" : ""
            let first = try await runApply(try fixture.compile(Self.plan(ids, database: pooler), database: db), db)
            #expect(
                first.exitCode == 0,
                "\(first.tenants.flatMap(\.actions).compactMap(\.error).prefix(2)) \(first.stopReason as Any)")
            for (path, sql) in logged.dropFirst() { try fixture.write(path, sql) }
            let plan = try fixture.compile(Self.plan(ids, database: pooler), database: db)
            let conninfo = pooled ? try TestBouncer.conninfo(db) : db.conninfo
            async let one = Self.apply(plan, db, conninfo: conninfo)
            async let two = Self.apply(plan, db, conninfo: conninfo)
            let reports = try await [one, two]
            for report in reports {
                #expect(report.exitCode == 0, "pooled \(pooled): \(report.tenants.compactMap(\.error))")
            }
            #expect(reports.map(\.summary.migrationsApplied).reduce(0, +) == 120, "pooled \(pooled)")
            #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 160, "pooled \(pooled)")
            #expect(try await PoolerTests.duplicates(db) == 0, "pooled \(pooled)")
        }
    }

    @Test(
        "past two batches of tenants, unread rows are assumed and checked: racing runs, odd tenants, PgBouncer",
        arguments: [
            (TrackingFormat.name, false), (.name, true), (.drizzleKit, false), (.hash, true), (.tenantplan, false),
        ])
    func assumedRows(format: TrackingFormat, pooled: Bool) async throws {
        do {
            let db = try await TestDatabase.create("assumed")
            try await db.exec("CREATE TABLE public.applied_log (tenant text, migration text)")
            let fixture = try PlanFixture()
            defer { fixture.remove() }
            let ids = (0..<600).map { String(format: "s%03d", $0) }
            let pooler = pooled ? "pooler: transaction" : ""
            let tracking = "tracking: { format: \(format.rawValue) }"
            // drizzle-kit rows hold the journal's `when` (a numbered folder's hold each tenant's own time,
            // so no two tenants agree and nothing is assumed).
            var files = [("0001_a", "CREATE TABLE a (id int);")]
            func write() throws {
                if format == .drizzleKit {
                    try fixture.writeJournaled("m", files)
                } else {
                    for (name, sql) in files { try fixture.write("m/\(name).sql", sql) }
                }
            }
            try write()
            let first = try await runApply(
                try fixture.compile(Self.plan(ids, database: pooler, extra: tracking), database: db), db)
            #expect(first.exitCode == 0, "\(first.tenants.compactMap(\.error).prefix(2))")
            // Tenants outside the sample (a batch spread evenly over the 600) that differ from it: the new
            // migration applied by hand, an extra row, an empty table (the first migration undone), another layout.
            let sample = Set((0..<250).map { Int(Double($0) * 600 / 250) })
            try #require(sample.isDisjoint(with: [401, 450, 500, 550]))
            files.append(("0002_b", "ALTER TABLE a ADD COLUMN b text;"))
            try write()
            let plan = try fixture.compile(Self.plan(ids, database: pooler, extra: tracking), database: db)
            let migrations = plan.actions[0].migrations
            func row(_ key: String) -> String {
                let sha = migrations.first { $0.name == key }?.hash ?? String(repeating: "0", count: 64)
                switch format {
                case .name: return "(name) VALUES ('\(key)')"
                case .tenantplan: return "(name, sha256) VALUES ('\(key)', '\(sha)')"
                case .hash: return "(hash) VALUES ('\(key)')"
                case .drizzleKit:
                    let when = migrations.first { $0.hash == key }?.when ?? 1
                    return "(hash, created_at) VALUES ('\(key)', \(when))"
                }
            }
            let newKey = format.usesHash ? plan.actions[0].migrations[1].hash : "0002_b"
            // An extra row: a hotfix; in the hash formats (rows paired with files by place, where a
            // hotfix would read as an edit) the first migration recorded twice.
            let extra = format.usesHash ? plan.actions[0].migrations[0].hash : "0000_hotfix"
            try await db.exec(
                """
                ALTER TABLE t_s401.a ADD COLUMN b text;
                INSERT INTO t_s401.__drizzle_migrations \(row(newKey));
                INSERT INTO t_s450.__drizzle_migrations \(row(extra));
                DELETE FROM t_s500.__drizzle_migrations; DROP TABLE t_s500.a;
                ALTER TABLE t_s550.__drizzle_migrations ADD COLUMN note text;
                """)
            let conninfo = pooled ? try TestBouncer.conninfo(db) : db.conninfo
            // The read: the sample for real, the rest assumed at its state unless their layout differs.
            let session = RunSession(
                plan: plan, graph: ExecutionGraph(plan: plan), conninfo: conninfo, filter: TenantFilter(),
                control: RunControl(), events: { _ in })
            var speculation = Speculation { _, _, _ in true }
            speculation.minimum = 500
            let snapshot = try await session.snapshot(speculation: speculation)
            await session.close()
            let assumed = snapshot.states.filter { $0.tables.values.contains(where: \.speculative) }
            #expect(assumed.count == 349, "the 350 outside the sample but s550")
            let firstKey = format.usesHash ? plan.actions[0].migrations[0].hash : "0001_a"
            #expect(assumed.allSatisfy { $0.tables.values.first?.rows.map(\.key) == [firstKey] })
            // Alone: every tenant at the assumed state takes one round trip; those that differ are read.
            let trips = RoundTrips()
            let alone = try await Self.apply(plan, db, trips: trips, conninfo: conninfo)
            #expect(alone.exitCode == 0, "pooled \(pooled): \(alone.tenants.compactMap(\.error).prefix(2))")
            for id in ["s001", "s399", "s599"] {
                #expect(trips.count(tenant: id) == 1, "\(id), \(format), pooled \(pooled)")
            }
            for id in ["s401", "s450", "s500"] { #expect(trips.count(tenant: id) > 1, "\(id), pooled \(pooled)") }
            #expect(alone.tenant("s401")?.unchanged == true)
            let key = format.usesHash ? "hash" : "name"
            let keys = plan.actions[0].migrations.map { format.usesHash ? $0.hash : $0.name }
            for id in ["s000", "s399", "s401", "s450", "s500", "s550", "s599"] {
                let recorded = try await db.rows("SELECT \(key) FROM t_\(id).__drizzle_migrations ORDER BY id")
                    .map { $0[0]! }
                let expected = id == "s450" ? [keys[0], extra, keys[1]] : keys
                #expect(recorded == expected, "\(id), \(format), pooled \(pooled)")
                #expect(try await db.count("SELECT count(*) FROM t_\(id).a WHERE b IS NULL") == 0)
            }
            // Racing: each migration once.
            files.append(
                ("0003_c", "INSERT INTO public.applied_log VALUES (current_setting('tenantplan.tenant_id'), '0003_c');")
            )
            try write()
            let racing = try fixture.compile(Self.plan(ids, database: pooler, extra: tracking), database: db)
            async let one = Self.apply(racing, db, conninfo: conninfo)
            async let two = Self.apply(racing, db, conninfo: conninfo)
            let reports = try await [one, two]
            for report in reports {
                #expect(report.exitCode == 0, "pooled \(pooled): \(report.tenants.compactMap(\.error).prefix(2))")
            }
            #expect(try await db.count("SELECT count(*) FROM public.applied_log") == 600, "pooled \(pooled)")
            #expect(try await PoolerTests.duplicates(db) == 0, "pooled \(pooled)")
            #expect(reports.map(\.summary.migrationsApplied).reduce(0, +) == 600, "pooled \(pooled)")
        }
    }

    @Test("what a migration sets for the session in the one-trip path reaches no later tenant")
    func sessionStateStays() async throws {
        let db = try await TestDatabase.create("one_trip_session")
        try await db.exec("CREATE TABLE public.seen (tenant text, timeout text, path text, temp int)")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        let ids = (0..<12).map { "s\($0)" }
        let plan = try await Self.upToDate(
            ids, db, fixture,
            then: [
                (
                    "m/0002_b.sql",
                    """
                    INSERT INTO public.seen SELECT current_setting('tenantplan.tenant_id'),
                        current_setting('statement_timeout'), current_setting('search_path'),
                        (SELECT count(*) FROM pg_class
                         WHERE relname = 'leftover' AND relnamespace = pg_my_temp_schema());
                    SELECT set_config('statement_timeout', '123s', false), set_config('search_path', 'public', false);
                    CREATE TEMP TABLE leftover (i int);
                    """
                )
            ])
        let trips = RoundTrips()
        let report = try await Self.apply(plan, db, trips: trips)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error))")
        #expect(ids.allSatisfy { trips.count(tenant: $0) == 1 })
        let seen = try await db.rows("SELECT tenant, timeout, path, temp FROM public.seen ORDER BY tenant")
        #expect(seen.count == ids.count)
        for row in seen {
            #expect(row[1] != "123s", "\(row)")
            #expect(row[2] == "t_\(row[0]!), public", "\(row)")
            #expect(row[3] == "0", "\(row)")
        }
    }

    @Test("a backend's memory is read every 10 to 100 tenants as it grows; above the limit its connection recycles")
    func recycleByMemory() async throws {
        // Pure: the next reading.
        #expect(ConnectionPool.nextCheck(10, bytes: 4 << 20, last: nil, limit: 16 << 20) == 40)
        #expect(ConnectionPool.nextCheck(10, bytes: 1 << 20, last: nil, limit: 16 << 20) == 110)
        #expect(ConnectionPool.nextCheck(40, bytes: 15 << 20, last: (40, 4 << 20, 10), limit: 16 << 20) == 50)
        // On a server: a 1 MB limit recycles, none does not.
        let db = try await TestDatabase.create("one_trip_recycle")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("m/0001_a.sql", "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);")
        let ids = (0..<60).map { "r\($0)" }
        for (limit, recycles) in [(1, true), (0, false)] {
            let plan = try fixture.compile(
                Self.plan(ids, database: "recycleAboveMB: \(limit)").replacingOccurrences(
                    of: "t_{id}", with: "t\(limit)_{id}"),
                database: db)
            let report = try await Self.apply(plan, db)
            #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error))")
            let recycled = report.connections?.recycled ?? -1
            #expect(recycles ? recycled > 0 : recycled == 0, "limit \(limit) MB: \(recycled) recycled")
        }
    }
}
