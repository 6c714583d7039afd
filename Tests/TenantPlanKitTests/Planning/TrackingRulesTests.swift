import TenantPlanPostgres
import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// Tracking formats, auto-detection, conversions and drift: pure rules, no database.
@Suite struct FormatResolutionTests {
    let ref = Build.ref

    @Test("auto-detect takes the table's format, or newTableFormat when there is no table")
    func autoDetect() {
        let tracking = Build.tracking(.autoDetect, newTableFormat: .drizzleKit)
        #expect(FormatResolution.resolve(tracking, state: TrackingState(format: .hash), table: ref) == .success(.hash))
        #expect(FormatResolution.resolve(tracking, state: .missing, table: ref) == .success(.drizzleKit))
    }

    @Test("a fixed format refuses a table in another one, naming both and the ways out")
    func fixedMismatch() throws {
        let result = FormatResolution.resolve(
            Build.tracking(.fixed(.name)), state: TrackingState(format: .hash), table: ref)
        guard case .failure(let error) = result else { throw TestFailure("expected a refusal, got \(result)") }
        #expect(
            error.message == "tracking table tenant_acme.__drizzle_migrations is in hash format; the plan says name")
        #expect(error.hint?.contains("autoMigrateFormat: true") == true)
        #expect(error.hint?.contains("convert-tracking --to name") == true)
    }

    @Test("with autoMigrateFormat a table in another format resolves to the plan's (it is converted first)")
    func autoMigrate() {
        let tracking = Build.tracking(.fixed(.drizzleKit), autoMigrate: true)
        #expect(
            FormatResolution.resolve(tracking, state: TrackingState(format: .name), table: ref) == .success(.drizzleKit)
        )
    }

    @Test("an unreadable or unrecognised table is an error whatever the plan says")
    func unusableTables() {
        let unreadable = TrackingState(format: .name, readError: "cannot read tracking table x: permission denied")
        #expect(
            FormatResolution.resolve(Build.tracking(), state: unreadable, table: ref)
                == .failure(Report.ErrorInfo(message: "cannot read tracking table x: permission denied")))
        let odd = TrackingState(format: nil, unrecognized: true)
        guard case .failure(let error) = FormatResolution.resolve(Build.tracking(), state: odd, table: ref) else {
            Issue.record("an unrecognised table resolved")
            return
        }
        #expect(error.message.contains("has neither a name nor a hash column"))
    }

    @Test(
        "a table's columns tell its format",
        arguments: [
            (
                ["id": "integer", "name": "character varying(255)", "applied_at": "timestamp with time zone"],
                TrackingFormat?.some(.name)
            ),
            (["id": "integer", "hash": "text", "created_at": "bigint"], .some(.drizzleKit)),
            (["id": "integer", "hash": "text", "created_at": "timestamp with time zone"], .some(.hash)),
            (["hash": "text"], .some(.hash)),
            (["id": "integer", "version": "text"], nil),
        ])
    func detection(columns: [String: String], format: TrackingFormat?) {
        #expect(TrackingSQL.detect(columns: columns) == format)
    }
}

@Suite struct ConversionTests {
    let migrations = [
        Build.migration("0000_a", when: 1_700_000_000_000), Build.migration("0001_b", when: 1_700_000_001_000),
    ]

    @Test("converting keeps every row's id and time, keyed in the target format")
    func nameToHash() throws {
        let state = Build.state(.name, migrations)
        let conversion = try #require(TrackingConverter.plan(state, table: Build.ref, to: .hash, known: migrations))
        #expect(conversion.isPossible)
        #expect(conversion.rows.map(\.id) == [1, 2])
        #expect(conversion.rows.map(\.hash) == migrations.map(\.hash))
        #expect(conversion.rows.map(\.originalAppliedAt) == ["2026-01-01 00:00:00+00", "2026-01-02 00:00:00+00"])
        let converted = state.converted(by: conversion)
        #expect(converted.format == .hash)
        #expect(converted.pending(migrations).isEmpty)
    }

    @Test("into drizzle-kit, created_at takes the journal when")
    func intoDrizzleKit() throws {
        let conversion = try #require(
            TrackingConverter.plan(Build.state(.name, migrations), table: Build.ref, to: .drizzleKit, known: migrations)
        )
        #expect(conversion.rows.map(\.createdAt) == [1_700_000_000_000, 1_700_000_001_000])
        #expect(TrackingConverter.sql(conversion).contains("1700000001000"))
    }

    @Test("a row matching no migration refuses the conversion; a table already in the target needs none")
    func refusals() throws {
        let state = Build.state(.name, migrations, extra: ["0099_gone"])
        let conversion = try #require(TrackingConverter.plan(state, table: Build.ref, to: .hash, known: migrations))
        #expect(!conversion.isPossible)
        #expect(conversion.unmatched == ["0099_gone"])
        #expect(conversion.refusal.message.contains("1 row(s) match no migration on disk: 0099_gone"))
        #expect(
            TrackingConverter.plan(Build.state(.hash, migrations), table: Build.ref, to: .hash, known: migrations)
                == nil)
        #expect(TrackingConverter.plan(.missing, table: Build.ref, to: .hash, known: migrations) == nil)
    }

    @Test("a second row for the same migration is dropped and counted; rows without ids are numbered in order")
    func duplicatesAndIDs() throws {
        var state = Build.state(.name, migrations)
        state.rows.append(TrackingState.Row(id: 3, key: "0000_a", applied: nil))
        let conversion = try #require(TrackingConverter.plan(state, table: Build.ref, to: .hash, known: migrations))
        #expect(conversion.duplicates == 1)
        #expect(conversion.rows.count == 2)
        var noIDs = Build.state(.name, migrations)
        for index in noIDs.rows.indices { noIDs.rows[index].id = 0 }
        let numbered = try #require(TrackingConverter.plan(noIDs, table: Build.ref, to: .hash, known: migrations))
        #expect(numbered.rows.map(\.id) == [1, 2])
    }
}

@Suite struct DriftTests {
    let migrations = [Build.migration("0000_a"), Build.migration("0001_b"), Build.migration("0002_c")]

    @Test("missing migrations and orphan rows; a renamed file is paired by its place in the applied order")
    func renamed() {
        let state = Build.state(.name, [migrations[0]], extra: ["0001_old_name"])
        let drift = Drift(state, folders: migrations, known: migrations)
        #expect(drift.missing == ["0001_b", "0002_c"])
        #expect(drift.orphans == ["0001_old_name"])
        #expect(drift.likely == [Drift.Pair(kind: "renamed", migration: "0001_b", recorded: "0001_old_name")])
    }

    @Test("drizzle-kit: an orphan holding a missing migration's journal when is that file, edited")
    func editedDrizzleKit() {
        let journaled = [Build.migration("0000_a", when: 10), Build.migration("0001_b", when: 20)]
        var state = Build.state(.drizzleKit, journaled)
        state.rows[1].key = "old-hash"
        let drift = Drift(state, folders: journaled, known: journaled)
        #expect(drift.missing == ["0001_b"])
        #expect(drift.likely == [Drift.Pair(kind: "edited", migration: "0001_b", recorded: "old-hash")])
    }

    @Test("drizzle-kit of a folder without a journal: rows hold run times, so an edit is paired by place")
    func editedDrizzleKitWithoutJournal() {
        var state = Build.state(.drizzleKit, migrations)
        for index in state.rows.indices { state.rows[index].applied = "17000000000\(index)" }
        state.rows[1].key = "old-hash"
        let drift = Drift(state, folders: migrations, known: migrations)
        #expect(drift.likely == [Drift.Pair(kind: "edited", migration: "0001_b", recorded: "old-hash")])
        #expect(HistoryCheck.pairsByPlace(.drizzleKit, folders: migrations))
        #expect(!HistoryCheck.pairsByPlace(.drizzleKit, folders: [Build.migration("0000_a", when: 10)]))
        #expect(HistoryCheck.edited(state, folders: migrations).map(\.migration) == ["0001_b"])
        #expect(HistoryCheck.edited(state, folders: migrations, folderCount: 2).isEmpty, "places mean nothing")
    }

    @Test("no table: every migration is missing, nothing is an orphan")
    func noTable() {
        let drift = Drift(.missing, folders: migrations, known: migrations)
        #expect(drift == Drift(missing: ["0000_a", "0001_b", "0002_c"]))
    }
}

@Suite struct TenantTablesTests {
    @Test("actions recording in one table share it: known holds both, folders leave sql scripts out")
    func sharedTable() {
        let folder = [Build.migration("0000_a")]
        let script = Build.migration("backfill", "UPDATE x SET y = 1;")
        let actions = [Build.migrate("schema", folder), Build.action("backfill", .sql(script), after: ["schema"])]
        let tables = TenantTables(tenant: Build.tenant, graph: ExecutionGraph(plan: Build.plan(actions)))
        #expect(tables.tables.count == 1)
        #expect(tables.tables[0].known.map(\.name) == ["0000_a", "backfill"])
        #expect(tables.tables[0].folders.map(\.name) == ["0000_a"])
        #expect(tables.ref(for: actions[1]) == Build.ref)
    }

    @Test("a per-action tracking table is a table of its own, with its conversion target")
    func ownTable() {
        let actions = [
            Build.migrate("schema", [Build.migration("0000_a")]),
            Build.migrate(
                "audit", [Build.migration("0000_log")],
                tracking: Build.tracking(.fixed(.hash), autoMigrate: true, table: "__audit")),
        ]
        let tables = TenantTables(tenant: Build.tenant, graph: ExecutionGraph(plan: Build.plan(actions)))
        #expect(tables.refs.map(\.table) == ["__drizzle_migrations", "__audit"])
        #expect(tables.tables.map(\.conversionTarget) == [nil, .hash])
    }
}

@Suite struct SpeculationTests {
    let migrations = [Build.migration("0000_a"), Build.migration("0001_b")]

    /// `count` tenants, each with its own schema and one tracking table, at `state(index)`.
    func snapshot(_ count: Int, state: (Int) -> TrackingState) -> Snapshot {
        let plan = Build.plan([Build.migrate("m", migrations)])
        let tenants = (0..<count).map { Tenant(id: "t\($0)", schema: "tenant_t\($0)") }
        let tables = tenants.map { TenantTables(tenant: $0, graph: ExecutionGraph(plan: plan)) }
        let states = tenants.indices.map { index in
            TenantState(schemaExists: true, tables: [tables[index].refs[0]: state(index)])
        }
        return Snapshot(
            tenants: tenants, tables: tables, states: states,
            counts: DiscoveryCounts(discovered: count, afterPlanFilters: count, selected: count),
            target: ConnInfo.Target())
    }

    func table(_ format: TrackingFormat, _ applied: [Migration], layout: String = "applied_at,id,name")
        -> TrackingState
    {
        var state = Build.state(format, applied)
        state.layout = layout
        state.version = "42"
        return state
    }

    @Test("the state 90% of the sample shares is assumed; less agreement, or a hash table without ids, assumes nothing")
    func commonState() throws {
        let mostly = snapshot(250) { $0 < 225 ? table(.name, [migrations[0]]) : table(.name, migrations) }
        let common = try #require(RunSession.commonState(Array(0..<250), in: mostly))
        #expect(common.state.rows.map(\.key) == ["0000_a"])
        let split = snapshot(250) { $0 < 224 ? table(.name, [migrations[0]]) : table(.name, migrations) }
        #expect(RunSession.commonState(Array(0..<250), in: split) == nil, "223 of 250 is under 90%")
        let layouts = snapshot(250) {
            table(.name, [migrations[0]], layout: $0 < 200 ? "applied_at,id,name" : "id,name")
        }
        #expect(RunSession.commonState(Array(0..<250), in: layouts) == nil, "another layout is another state")
        let hashed = snapshot(250) { _ in table(.hash, [migrations[0]], layout: "created_at,hash,id") }
        #expect(RunSession.commonState(Array(0..<250), in: hashed) != nil)
        let withoutIDs = snapshot(250) { _ in table(.hash, [migrations[0]], layout: "created_at,hash") }
        #expect(RunSession.commonState(Array(0..<250), in: withoutIDs) == nil, "without ids, no order to check")
    }

    @Test("an assumed table is checked for exactly its rows as planning reads them, and its catalog version")
    func holdsExactly() throws {
        var state = table(.name, [Build.migration("0002_é"), Build.migration("0001_z"), Build.migration("0001_Z")])
        state.speculative = true
        let condition = try #require(TrackingSQL.unchangedSince(state, in: Build.ref))
        #expect(condition.contains("= '42' AND"))
        #expect(condition.hasSuffix("= ARRAY['0001_Z', '0001_z', '0002_é']"))
        #expect(condition.contains("array_agg(\"name\"::text COLLATE \"C\" ORDER BY \"name\"::text COLLATE \"C\")"))
        var native = table(.tenantplan, [Build.migration("0001_a")])
        native.speculative = true
        native.rows.append(TrackingState.Row(id: 2, key: "0002_é", applied: nil, checksum: nil))
        let nativeCondition = try #require(TrackingSQL.unchangedSince(native, in: Build.ref))
        #expect(nativeCondition.hasSuffix("= ARRAY['6:0001_a=\(Build.migration("0001_a").hash)', '6:0002_é']"))
        state.rows = []
        #expect(try #require(TrackingSQL.unchangedSince(state, in: Build.ref)).hasSuffix("= '{}'::text[]"))
        var drizzle = table(.drizzleKit, [Build.migration("0000_a", when: 7), Build.migration("0001_b", when: 9)])
        drizzle.rows.reverse()
        let ordered = try #require(TrackingSQL.unchangedSince(drizzle.speculating, in: Build.ref))
        let hashes = drizzle.rows.reversed().map { "'64:\($0.key)@\($0.applied!)'" }.joined(separator: ", ")
        #expect(
            ordered.hasSuffix(
                "ORDER BY \"id\") FROM \"tenant_acme\".\"__drizzle_migrations\"), '{}') = ARRAY[\(hashes)]"))
        drizzle.layout = "created_at,hash"
        #expect(TrackingSQL.unchangedSince(drizzle.speculating, in: Build.ref) == nil, "without ids, no order")
    }
}

extension TrackingState {
    fileprivate var speculating: TrackingState {
        var state = self
        state.speculative = true
        return state
    }
}
