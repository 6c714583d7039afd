import Foundation
import TenantPlanPostgres
import TenantPlanSpec
import Testing

@testable import TenantPlanKit

/// Adopting legacy tracking tables: conversion, mark-applied and sync, on a real PostgreSQL.
@Suite struct LegacyTrackingTests {
    static let journaled = ApplyIntegrationTests.journaled

    static func plan(
        _ ids: [String], tracking: String = "",
        actions: String = "  - { name: tenant-schema, migrate: migrations/tenant }"
    ) -> String {
        """
        version: 1
        database: { url: "${TEST_DATABASE_URL}", maxConnections: 6 }
        tenants:
          discover: { list: [\(ids.joined(separator: ", "))] }
          schema: "t_{id}"
          createSchemas: true
        \(tracking)
        concurrency: 6
        actions:
        \(actions)
        """
    }

    /// Creates a tenant schema with the first `applied` migrations run and recorded in `format`,
    /// recorded at a fixed, distinct time per migration.
    static func seed(_ id: String, format: TrackingFormat, applied: Int, migrations: [Migration]) -> String {
        let schema = SQL.quoteIdentifier("t_\(id)")
        var sql = "CREATE SCHEMA \(schema); SET search_path TO \(schema);"
        for migration in migrations.prefix(applied) { sql += migration.statements.joined(separator: ";") + ";" }
        let ref = TrackingTableRef(schema: "t_\(id)", table: "__drizzle_migrations")
        sql += TrackingSQL.createTable(ref, format: format) + ";"
        for (index, migration) in migrations.prefix(applied).enumerated() {
            let time = "2024-0\(index + 1)-15 10:00:00+00"
            switch format {
            case .name:
                sql += "INSERT INTO \(ref.qualified) (name, applied_at) VALUES ('\(migration.name)', '\(time)');"
            case .hash:
                sql += "INSERT INTO \(ref.qualified) (hash, created_at) VALUES ('\(migration.hash)', '\(time)');"
            case .drizzleKit:
                sql +=
                    "INSERT INTO \(ref.qualified) (hash, created_at) VALUES ('\(migration.hash)', \(migration.when!));"
            case .tenantplan:
                sql +=
                    "INSERT INTO \(ref.qualified) (name, sha256, applied_at) "
                    + "VALUES ('\(migration.name)', '\(migration.hash)', '\(time)');"
            }
        }
        return sql + "RESET search_path;"
    }

    /// The applied migrations of a tenant, by name, read through the table's own format.
    static func appliedNames(_ db: TestDatabase, _ id: String, migrations: [Migration]) async throws -> [String] {
        let columns = try await db.rows(
            "SELECT column_name FROM information_schema.columns "
                + "WHERE table_schema = 't_\(id)' AND table_name = '__drizzle_migrations'"
        ).map { $0[0]! }
        if columns.contains("name") {
            return try await db.rows("SELECT name FROM t_\(id).__drizzle_migrations ORDER BY id").map { $0[0]! }
        }
        let hashes = try await db.rows("SELECT hash FROM t_\(id).__drizzle_migrations ORDER BY id").map { $0[0]! }
        return hashes.map { hash in migrations.first { $0.hash == hash }?.name ?? "?\(hash)" }
    }

    static func format(_ db: TestDatabase, _ id: String) async throws -> String {
        let columns = try await db.rows(
            "SELECT column_name || ':' || data_type FROM information_schema.columns "
                + "WHERE table_schema = 't_\(id)' AND table_name = '__drizzle_migrations' ORDER BY 1"
        ).map { $0[0]! }
        if columns.contains(where: { $0.hasPrefix("name:") }) { return "name" }
        return columns.contains("created_at:bigint") ? "drizzle-kit" : "hash"
    }

    @Test(
        """
        autoMigrateFormat converts 120 tenants in three formats (and creates tables for the rest) to the target; \
        a rerun changes nothing
        """
    )
    func autoMigrateFormat() async throws {
        let db = try await TestDatabase.create("automig")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let ids = (0..<130).map { String(format: "a%03d", $0) }
        let plan = try fixture.compile(
            Self.plan(ids, tracking: "tracking: { format: drizzle-kit, autoMigrateFormat: true }"), database: db)
        let migrations = plan.actions[0].migrations
        var setup = ""
        for (index, id) in ids.enumerated() where index < 120 {
            setup += Self.seed(
                id, format: index < 40 ? .name : index < 80 ? .hash : .drizzleKit, applied: 2, migrations: migrations)
        }
        try await db.exec(setup)
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap(\.error).prefix(3))")
        #expect(report.summary.migrationsApplied == 120 + 30)
        #expect(report.summary.tenantsConverted == 80)
        #expect(report.tenant("a000")?.format == .name)
        #expect(report.tenant("a000")?.convertedTo == .drizzleKit)
        #expect(report.tenant("a050")?.format == .hash)
        #expect(report.tenant("a100")?.convertedTo == nil)
        // Original times are kept in the report; created_at holds the journal `when`.
        let conversion = try #require(report.tenant("a000")?.conversions?.first)
        #expect(conversion.rows.map(\.migration) == ["0000_users", "0001_projects"])
        #expect(conversion.rows.first?.originalAppliedAt == "2024-01-15 10:00:00+00")
        #expect(conversion.rows.map(\.createdAt) == [1_732_000_000_000, 1_732_000_001_000])
        for id in ["a000", "a050", "a100", "a125"] {
            #expect(try await Self.format(db, id) == "drizzle-kit")
            #expect(
                try await Self.appliedNames(db, id, migrations: migrations) == [
                    "0000_users", "0001_projects", "0002_tasks",
                ])
            // drizzle-orm's own migrator applies an entry when the last created_at < when: nothing is left.
            let last = Int64(try await db.scalar("SELECT max(created_at) FROM t_\(id).__drizzle_migrations") ?? "0")!
            #expect(migrations.filter { $0.when! > last }.isEmpty)
        }
        let rerun = try await runApply(plan, db)
        #expect(rerun.summary.migrationsApplied == 0)
        #expect(rerun.summary.tenantsConverted == nil)
        #expect(rerun.summary.unchanged == 130)
    }

    @Test(
        "every pair of formats converts both ways, keeping each applied migration and its time",
        arguments: [
            (TrackingFormat.name, TrackingFormat.hash), (.hash, .name), (.name, .drizzleKit), (.drizzleKit, .name),
            (.hash, .drizzleKit), (.drizzleKit, .hash),
        ])
    func conversionPairs(from: TrackingFormat, to: TrackingFormat) async throws {
        let db = try await TestDatabase.create("pair")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(Self.plan(["p"]), database: db)
        let migrations = plan.actions[0].migrations
        try await db.exec(Self.seed("p", format: from, applied: 3, migrations: migrations))
        let before = try await db.rows(
            """
            SELECT id, \(
                from == .drizzleKit
                    ? "to_timestamp(created_at::numeric / 1000)" : from == .name ? "applied_at" : "created_at"
            )::text FROM t_p.__drizzle_migrations ORDER BY id
            """
        )
        let runner = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "convert-tracking"))
        let report = try await runner.convertTracking(to: to, from: nil)
        #expect(report.exitCode == 0)
        #expect(report.summary.converted == 1)
        #expect(report.summary.rowsConverted == 3)
        #expect(try await Self.format(db, "p") == to.rawValue)
        #expect(try await Self.appliedNames(db, "p", migrations: migrations) == migrations.map(\.name))
        let timeColumn = to == .drizzleKit ? "created_at::text" : to == .name ? "applied_at::text" : "created_at::text"
        let after = try await db.rows("SELECT id, \(timeColumn) FROM t_p.__drizzle_migrations ORDER BY id")
        #expect(after.map { $0[0] } == before.map { $0[0] }, "ids survive")
        if to == .drizzleKit {
            #expect(after.map { $0[1] } == migrations.map { $0.when.map(String.init) })
            #expect(
                report.tenants.first?.conversions.first?.rows.map(\.originalAppliedAt).allSatisfy { $0 != nil } == true)
        } else {
            #expect(after.map { $0[1] } == before.map { $0[1] }, "applied times survive")
        }
        // New rows still get ids after the converted ones: undo the last migration and apply it again.
        try await db.exec(
            "DROP VIEW t_p.open_tasks; DROP TABLE t_p.tasks; DELETE FROM t_p.__drizzle_migrations WHERE id = 3")
        let apply = try await runApply(plan, db)
        #expect(apply.summary.migrationsApplied == 1)
        #expect(try await db.scalar("SELECT max(id) FROM t_p.__drizzle_migrations") == "4")
    }

    @Test("name -> hash -> drizzle-kit -> name gives back the same applied migrations")
    func roundTrip() async throws {
        let db = try await TestDatabase.create("round")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(Self.plan(["r"]), database: db)
        let migrations = plan.actions[0].migrations
        try await db.exec(Self.seed("r", format: .name, applied: 2, migrations: migrations))
        let before = try await db.rows("SELECT id, name FROM t_r.__drizzle_migrations ORDER BY id")
        let runner = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "convert-tracking"))
        for target in [TrackingFormat.hash, .drizzleKit, .name] {
            #expect(try await runner.convertTracking(to: target, from: nil).summary.converted == 1)
        }
        #expect(try await db.rows("SELECT id, name FROM t_r.__drizzle_migrations ORDER BY id") == before)
    }

    @Test("a row matching no file makes only that tenant fail, with the rows listed, untouched")
    func unmatchedRow() async throws {
        let db = try await TestDatabase.create("unmatched")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.plan(["u1", "u2"], tracking: "tracking: { format: name, autoMigrateFormat: true }"), database: db)
        let migrations = plan.actions[0].migrations
        try await db.exec(
            Self.seed("u1", format: .hash, applied: 2, migrations: migrations)
                + Self.seed("u2", format: .hash, applied: 2, migrations: migrations)
                + "INSERT INTO t_u1.__drizzle_migrations (hash) VALUES ('deadbeef');")
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 1)
        #expect(report.tenant("u1")?.status == .failed)
        #expect(report.tenant("u1")?.error?.message.contains("1 row(s) match no migration on disk: deadbeef") == true)
        #expect(report.tenant("u2")?.status == .succeeded)
        #expect(try await Self.format(db, "u1") == "hash")
        #expect(try await db.count("SELECT count(*) FROM t_u1.__drizzle_migrations") == 3)
        #expect(try await db.tableExists("t_u1", "tasks") == false)
        #expect(try await Self.format(db, "u2") == "name")
        // convert-tracking refuses the same way, and refuses a target the plan's format contradicts.
        let runner = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "convert-tracking"))
        let convert = try await runner.convertTracking(to: .name, from: .hash)
        #expect(convert.summary.failed == 1)
        #expect(convert.tenants.first { $0.id == "u1" }?.conversions.first?.unmatched == ["deadbeef"])
        #expect(convert.summary.otherFormat == 1)
        let conflict = await #expect(throws: TenantPlanError.self) {
            _ = try await runner.convertTracking(to: .drizzleKit, from: nil)
        }
        guard case .conversionTargetConflict(let target, _, _, _)? = conflict else {
            Issue.record("expected a conversion target conflict, got \(String(describing: conflict))")
            return
        }
        #expect(target == .drizzleKit)
        #expect(conflict?.exitCode == 2)
    }

    @Test("--mark-applied records pending migrations on 110 tenants without running them; --up-to stops at a name")
    func markApplied() async throws {
        let db = try await TestDatabase.create("mark")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        try fixture.write("later/0001_later.sql", "CREATE TABLE later (id int);")
        let ids = (0..<110).map { String(format: "m%03d", $0) }
        let plan = try fixture.compile(
            Self.plan(
                ids,
                actions: """
                      - { name: tenant-schema, migrate: migrations/tenant }
                      - { name: later, after: [tenant-schema], migrate: later, tracking: { table: __later } }
                    """), database: db)
        // --mark-applied records what schemas already have: they exist (changed by hand or another tool).
        try await db.exec(ids.map { "CREATE SCHEMA t_\($0);" }.joined())
        let upTo = PlanRunner(
            plan: plan, conninfo: db.conninfo, options: RunOptions(markApplied: true, upTo: "0001_projects"))
        let first = try await upTo.apply()
        #expect(first.exitCode == 0)
        #expect(first.summary.migrationsMarked == 220)
        #expect(first.summary.migrationsApplied == 0)
        #expect(first.tenant("m005")?.actions.map(\.marked) == [["0000_users", "0001_projects"], nil])
        #expect(first.tenant("m005")?.actions.last?.status == .skipped)
        #expect(try await db.tableExists("t_m005", "users") == false, "marked migrations do not run")
        #expect(try await db.tableExists("t_m005", "__later") == false)
        let all = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(markApplied: true))
            .apply()
        #expect(all.summary.migrationsMarked == 220)
        #expect(try await db.count("SELECT count(*) FROM t_m109.__later") == 1)
        let apply = try await runApply(plan, db)
        #expect(apply.summary.migrationsApplied == 0)
        let unknown = await #expect(throws: TenantPlanError.self) {
            _ = try await PlanRunner(
                plan: plan, conninfo: db.conninfo, options: RunOptions(markApplied: true, upTo: "0009_nope")
            ).apply()
        }
        guard case .unknownMigration("0009_nope", let known)? = unknown else {
            Issue.record("expected an unknown --up-to, got \(String(describing: unknown))")
            return
        }
        #expect(known.contains("0001_projects"))
    }

    @Test("markApplied and sync action kinds baseline and reconcile tenants inside a plan")
    func planActionKinds() async throws {
        let db = try await TestDatabase.create("kinds")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.plan(
                ["k1", "k2"],
                actions: """
                      - { name: baseline, markApplied: migrations/tenant, upTo: 0000_users }
                      - { name: tenant-schema, after: [baseline], migrate: migrations/tenant }
                    """), database: db)
        // Both tenants got their users table by hand, before tenantplan: the baseline records it.
        try await db.exec(
            "CREATE SCHEMA t_k1; CREATE TABLE t_k1.users (id serial PRIMARY KEY, email text NOT NULL); "
                + "CREATE SCHEMA t_k2; CREATE TABLE t_k2.users (id serial PRIMARY KEY, email text NOT NULL);"
        )
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0, "\(report.tenants.compactMap { $0.actions.last?.error })")
        #expect(report.tenant("k1")?.actions.first?.marked == ["0000_users"])
        #expect(report.tenant("k1")?.actions.last?.applied.map(\.name) == ["0001_projects", "0002_tasks"])
        #expect(try await db.tableExists("t_k1", "tasks"))

        let syncPlan = try fixture.compile(
            Self.plan(
                ["k1", "k2"],
                actions: """
                      - { name: reconcile, sync: { folder: migrations/tenant, markMissing: true, cleanOrphans: true } }
                    """), database: db)
        try await db.exec(
            "INSERT INTO t_k2.__drizzle_migrations (name) VALUES ('0099_gone'); "
                + "DELETE FROM t_k2.__drizzle_migrations WHERE name = '0002_tasks';"
        )
        let synced = try await runApply(syncPlan, db)
        #expect(synced.tenant("k2")?.actions.first?.marked == ["0002_tasks"])
        #expect(synced.tenant("k2")?.actions.first?.deletedOrphans == ["0099_gone"])
        #expect(synced.tenant("k1")?.unchanged == true)
        #expect(
            try await db.rows("SELECT name FROM t_k2.__drizzle_migrations ORDER BY name").map { $0[0]! } == [
                "0000_users", "0001_projects", "0002_tasks",
            ])
    }

    @Test("sync --status groups 120 tenants by state; --mark-missing and --clean-orphans fix them per tenant")
    func syncModes() async throws {
        let db = try await TestDatabase.create("sync")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let ids = (0..<120).map { String(format: "y%03d", $0) }
        let plan = try fixture.compile(
            Self.plan(ids, tracking: "tracking: { format: auto-detect, newTableFormat: drizzle-kit }"), database: db)
        let migrations = plan.actions[0].migrations
        var setup = ""
        for (index, id) in ids.enumerated() {
            setup += Self.seed(id, format: .drizzleKit, applied: index < 100 ? 3 : 1, migrations: migrations)
        }
        // y000..y009: 0001_projects was edited after it was applied (its recorded hash matches no file).
        for index in 0..<10 {
            setup +=
                "UPDATE t_\(ids[index]).__drizzle_migrations SET hash = 'old-hash-of-projects' "
                + "WHERE created_at = 1732000001000;"
        }
        try await db.exec(setup)
        let status = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync")).sync(
            .status)
        #expect(status.exitCode == 0)
        #expect(status.summary.tenants == 120)
        #expect(status.summary.inSync == 90)
        #expect(status.summary.drifted == 30)
        #expect(status.groups.count == 2)
        let behind = try #require(status.groups.first { $0.count == 20 })
        #expect(behind.drift.missing == ["0001_projects", "0002_tasks"])
        let edited = try #require(status.groups.first { $0.count == 10 })
        #expect(edited.drift.missing == ["0001_projects"])
        #expect(edited.drift.orphans == ["old-hash-of-projects"])
        #expect(
            edited.drift.likely == [
                Drift.Pair(kind: "edited", migration: "0001_projects", recorded: "old-hash-of-projects")
            ])

        let refused = PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync"))
        await #expect(throws: TenantPlanError.notConfirmed(tenants: 10)) {
            _ = try await refused.sync(.cleanOrphans, confirm: { _ in false })
        }
        #expect(
            try await db.count("SELECT count(*) FROM t_y000.__drizzle_migrations WHERE hash = 'old-hash-of-projects'")
                == 1)

        let dry = try await PlanRunner(
            plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync", dryRun: true)
        ).sync(.cleanOrphans)
        #expect(dry.summary.changed == 10)
        #expect(
            try await db.count("SELECT count(*) FROM t_y000.__drizzle_migrations WHERE hash = 'old-hash-of-projects'")
                == 1)

        let cleaned = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync"))
            .sync(.cleanOrphans)
        #expect(cleaned.summary.deleted == 10)
        #expect(try await db.count("SELECT count(*) FROM t_y000.__drizzle_migrations") == 2)
        // --all: the new migrations too (by default only gaps are marked).
        let marked = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync")).sync(
            .markMissing, scope: .all)
        #expect(marked.summary.marked == 10 + 40)
        #expect(marked.summary.changed == 30)
        let after = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync")).sync(
            .status)
        #expect(after.summary.inSync == 120)
        #expect(
            try await db.scalar(
                "SELECT created_at FROM t_y110.__drizzle_migrations WHERE hash = '\(migrations[2].hash)'")
                == "1732000002000")
    }

    @Test("a dry run plans each action against what the actions before it would record")
    func dryRunSimulatesEarlierActions() async throws {
        let db = try await TestDatabase.create("drysim")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.plan(
                ["d"],
                actions: """
                      - { name: baseline, markApplied: migrations/tenant, upTo: 0001_projects }
                      - { name: tenant-schema, after: [baseline], migrate: migrations/tenant }
                    """), database: db)
        // A tenant migrated by hand up to 0001 (a schema the run would create has nothing to baseline).
        try await db.exec("CREATE SCHEMA t_d; CREATE TABLE t_d.users (id int); CREATE TABLE t_d.projects (id int);")
        let dry = try await runApply(plan, db, dryRun: true)
        #expect(dry.tenant("d")?.actions.map(\.marked) == [["0000_users", "0001_projects"], nil])
        #expect(dry.tenant("d")?.actions.map(\.pending) == [nil, ["0002_tasks"]])
        #expect(dry.summary.migrationsPending == 1)
        #expect(dry.summary.migrationsMarked == 2)
        #expect(try await db.tableExists("t_d", "__drizzle_migrations") == false, "a dry run writes nothing")
    }

    @Test("sync pairs an orphan with the missing file in its place, and leaves a new migration unpaired")
    func syncPairsByPlace() async throws {
        let db = try await TestDatabase.create("pairs")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(Self.plan(["a", "b"]), database: db)
        let migrations = plan.actions[0].migrations
        // a: 0000 recorded, 0001 recorded under an old name (renamed file), 0002 new (not applied yet).
        // b: an old row from a deleted migration (recorded first), and 0002 new.
        try await db.exec(
            Self.seed("a", format: .name, applied: 2, migrations: migrations)
                + Self.seed("b", format: .name, applied: 2, migrations: migrations)
                + "UPDATE t_a.__drizzle_migrations SET name = '0001_old_projects' WHERE name = '0001_projects';"
                + "INSERT INTO t_b.__drizzle_migrations (id, name) VALUES (0, '0000_ancient');")
        let status = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync")).sync(
            .status)
        let a = try #require(status.tenants.first { $0.id == "a" })
        #expect(a.drift.missing == ["0001_projects", "0002_tasks"])
        #expect(
            a.drift.likely == [Drift.Pair(kind: "renamed", migration: "0001_projects", recorded: "0001_old_projects")])
        let b = try #require(status.tenants.first { $0.id == "b" })
        #expect(b.drift.missing == ["0002_tasks"])
        #expect(b.drift.orphans == ["0000_ancient"])
        #expect(b.drift.likely.isEmpty)
    }

    @Test("a shared action's table converted by autoMigrateFormat is reported with its rows")
    func sharedConversionReported() async throws {
        let db = try await TestDatabase.create("sharedconv")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.write("shared/0001_a.sql", "CREATE TABLE public.a (id int);")
        let plan = try fixture.compile(
            Self.plan(
                ["x"], tracking: "tracking: { format: hash, autoMigrateFormat: true }",
                actions: "  - { name: shared, scope: shared, migrate: shared, tracking: { table: __shared } }"),
            database: db)
        try await db.exec(
            "CREATE TABLE public.a (id int); "
                + "CREATE TABLE public.__shared (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, "
                + "applied_at timestamptz DEFAULT current_timestamp); "
                + "INSERT INTO public.__shared (name, applied_at) VALUES ('0001_a', '2024-05-01 00:00:00+00');"
        )
        let report = try await runApply(plan, db)
        #expect(report.exitCode == 0)
        let conversion = try #require(report.sharedActions.first?.conversions?.first)
        #expect(conversion.from == .name && conversion.to == .hash)
        #expect(conversion.rows.first?.originalAppliedAt == "2024-05-01 00:00:00+00")
        #expect(try await db.scalar("SELECT created_at::text FROM public.__shared") == "2024-05-01 00:00:00+00")
    }

    @Test("--mark-applied over two actions sharing a table records each migration once")
    func markAppliedSharedTable() async throws {
        let db = try await TestDatabase.create("markshared")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.plan(
                ["s1", "s2"],
                actions: """
                      - { name: baseline, markApplied: migrations/tenant, upTo: 0000_users }
                      - { name: tenant-schema, after: [baseline], migrate: migrations/tenant }
                    """), database: db)
        try await db.exec("CREATE SCHEMA t_s1; CREATE SCHEMA t_s2;")
        let report = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(markApplied: true))
            .apply()
        #expect(report.exitCode == 0, "\(report.tenants.map { ($0.error, $0.actions.map(\.error)) })")
        #expect(report.tenant("s1")?.actions.map(\.marked) == [["0000_users"], ["0001_projects", "0002_tasks"]])
        #expect(try await db.count("SELECT count(*) FROM t_s1.__drizzle_migrations") == 3)
    }

    @Test("sync --mark-missing leaves a tenant without its schema alone unless createSchemas")
    func markMissingNeedsSchema() async throws {
        let db = try await TestDatabase.create("noschema")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(
            Self.plan(["gone"]).replacingOccurrences(of: "createSchemas: true", with: "createSchemas: false"),
            database: db)
        let report = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync")).sync(
            .markMissing, scope: .all)
        #expect(report.summary.failed == 1)
        #expect(report.tenants.first?.error?.message.contains("schema t_gone does not exist") == true)
        #expect(try await db.schemaExists("t_gone") == false)
    }

    @Test("a legacy table without an id column: orphans are deleted and the table converts, rows numbered in order")
    func tableWithoutID() async throws {
        let db = try await TestDatabase.create("noid")
        let fixture = try PlanFixture()
        defer { fixture.remove() }
        try fixture.writeJournaled("migrations/tenant", Self.journaled)
        let plan = try fixture.compile(Self.plan(["n"]), database: db)
        try await db.exec(
            """
            CREATE SCHEMA t_n; \
            CREATE TABLE t_n.__drizzle_migrations (name varchar(255) NOT NULL, applied_at timestamptz);
            INSERT INTO t_n.__drizzle_migrations VALUES \
            ('0000_users', '2024-01-01'), ('0001_projects', '2024-01-02'), ('0005_gone', '2024-01-03');
            """)
        let cleaned = try await PlanRunner(plan: plan, conninfo: db.conninfo, options: RunOptions(command: "sync"))
            .sync(.cleanOrphans)
        #expect(cleaned.summary.deleted == 1)
        let converted = try await PlanRunner(
            plan: plan, conninfo: db.conninfo, options: RunOptions(command: "convert-tracking")
        ).convertTracking(to: .hash, from: nil)
        #expect(converted.exitCode == 0)
        #expect(converted.summary.rowsConverted == 2)
        #expect(
            try await db.rows("SELECT id::text, created_at::text FROM t_n.__drizzle_migrations ORDER BY id")
                == [["1", "2024-01-01 00:00:00+00"], ["2", "2024-01-02 00:00:00+00"]])
    }
}
