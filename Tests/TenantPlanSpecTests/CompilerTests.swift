import Foundation
import Testing

@testable import TenantPlanSpec

@Suite struct CompilerTests {
    @Test("the contract's complete example compiles with every key read")
    func completeExample() throws {
        let (plan, text) = Fixtures.diagnostics("valid/full.yaml")
        let compiled = try #require(plan, "diagnostics: \(text)")
        #expect(compiled.database.url == "${TENANTPLAN_TEST_UNSET_URL:-postgresql://localhost/app}")
        #expect(compiled.database.maxConnections == 8)
        #expect(compiled.database.lockTimeout == .milliseconds(10_000))
        #expect(
            compiled.database.retry
                == RetrySettings(
                    maxAttempts: 3, initialDelay: .milliseconds(100), maxDelay: .milliseconds(5000),
                    backoffMultiplier: 2))
        #expect(compiled.tenants.discover == .sql("SELECT id FROM public.tenants WHERE active ORDER BY id"))
        #expect(compiled.tenants.schema.schema(for: "acme") == "tenant_acme")
        #expect(compiled.tenants.include.map(\.pattern) == ["acme*"])
        #expect(compiled.tenants.exclude.map(\.pattern) == ["test-*"])
        #expect(compiled.tenants.searchPath == ["{schema}", "public"])
        #expect(compiled.concurrency == 8)
        #expect(compiled.onError == .continue)
        #expect(compiled.actions.map(\.name) == ["shared-schema", "tenant-schema", "backfill-2026-11"])
        let shared = try #require(compiled.action(named: "shared-schema"))
        #expect(shared.scope == .shared(schema: "public"))
        #expect(shared.tracking.table == "__shared_migrations")
        #expect(shared.tracking.format == .fixed(.name))
        let tenant = try #require(compiled.action(named: "tenant-schema"))
        #expect(tenant.tracking.table == "__drizzle_migrations")
        #expect(tenant.tracking.format == .autoDetect)
        #expect(tenant.migrations.map(\.name) == ["0001_users", "0002_two"])
        let backfill = try #require(compiled.action(named: "backfill-2026-11"))
        #expect(backfill.migrations.first?.name == "backfill-2026-11")
        #expect(backfill.migrations.first?.sql == "UPDATE settings SET x = 1;\n")
    }

    @Test("defaults: concurrency 4, maxConnections 10, scope tenants, schema {id}, auto-detect, name tables")
    func defaults() throws {
        let plan = try compile(
            """
            version: 1
            tenants:
              discover: { list: [a] }
            actions:
              - name: t
                sql: { inline: SELECT 1 }
            """)
        #expect(plan.concurrency == 4)
        #expect(plan.database.maxConnections == 10)
        #expect(plan.database.recycleAfter == nil, "not set: the pool decides (1000, or 10 without memory readings)")
        #expect(plan.database.recycleAboveMB == 16)
        #expect(plan.database.statementTimeout == .zero)
        #expect(plan.database.lockTimeout == .zero)
        #expect(plan.onError == .continue)
        #expect(plan.maxFailures == 0)
        #expect(plan.stopAfterIdenticalFailures == 3)
        #expect(plan.tenants.schema.template == "{id}")
        #expect(plan.tenants.createSchemas == false)
        #expect(plan.tracking == TrackingSettings())
        #expect(plan.tracking.newTableFormat == .name)
        #expect(plan.actions[0].scope == .tenants)
        #expect(plan.actions[0].transaction == .perMigration)
    }

    @Test("default concurrency stays within a small maxConnections")
    func defaultConcurrencyWithinCap() throws {
        let plan = try compile(
            """
            version: 1
            database: { maxConnections: 2 }
            tenants: { discover: { list: [a] } }
            actions: [{ name: t, sql: { inline: SELECT 1 } }]
            """)
        #expect(plan.concurrency == 2)
    }

    @Test("--concurrency above maxConnections is refused")
    func concurrencyOverride() {
        let text = """
            version: 1
            database: { maxConnections: 4 }
            tenants: { discover: { list: [a] } }
            actions: [{ name: t, sql: { inline: SELECT 1 } }]
            """
        #expect(throws: PlanError.self) {
            try PlanCompiler.compile(
                bytes: Array(text.utf8), path: "p.yaml",
                options: CompileOptions(environment: [:], overrides: RunOverrides(concurrency: 5)))
        }
        let plan = try? PlanCompiler.compile(
            bytes: Array(text.utf8), path: "p.yaml",
            options: CompileOptions(environment: [:], overrides: RunOverrides(concurrency: 3)))
        #expect(plan?.concurrency == 3)
    }

    @Test("an unset ${VAR} is a warning for validate and an error for commands that connect")
    func unsetVariables() {
        let (plan, warnings) = Fixtures.diagnostics("valid/unset-variable.yaml", unsetIsError: false)
        #expect(plan != nil)
        #expect(
            warnings
                == "valid/unset-variable.yaml:3:8: warning: environment variable 'TENANTPLAN_TEST_SURELY_UNSET' "
                + "in database.url is not set "
                + "(export TENANTPLAN_TEST_SURELY_UNSET=... or write ${TENANTPLAN_TEST_SURELY_UNSET:-default})"
        )
        let (refused, errors) = Fixtures.diagnostics("valid/unset-variable.yaml", unsetIsError: true)
        #expect(refused == nil)
        #expect(errors.contains(": error: environment variable 'TENANTPLAN_TEST_SURELY_UNSET'"))
        let (set, none) = Fixtures.diagnostics(
            "valid/unset-variable.yaml", environment: ["TENANTPLAN_TEST_SURELY_UNSET": "postgresql:///x"],
            unsetIsError: true)
        #expect(set != nil)
        #expect(none.isEmpty)
    }

    @Test("${ is literal outside database.url")
    func dollarBraceLiteralElsewhere() throws {
        let plan = try compile(
            """
            version: 1
            tenants: { discover: { list: ["${HOME}"] } }
            actions: [{ name: t, sql: { inline: "SELECT '${HOME}'" } }]
            """)
        #expect(plan.tenants.discover == .list(["${HOME}"]))
        #expect(plan.actions[0].migrations[0].sql == "SELECT '${HOME}'")
    }

    @Test("actions come out in dependency order, file order where free")
    func topologicalOrder() throws {
        let plan = try compile(
            """
            version: 1
            tenants: { discover: { list: [a] } }
            actions:
              - { name: c, after: [b], sql: { inline: SELECT 3 } }
              - { name: a, sql: { inline: SELECT 1 } }
              - { name: b, after: [a], sql: { inline: SELECT 2 } }
              - { name: d, sql: { inline: SELECT 4 } }
            """)
        #expect(plan.actions.map(\.name) == ["a", "b", "c", "d"])
    }

    @Test("a shared action after a tenant action lands in a later stage")
    func stages() throws {
        let plan = try compile(
            """
            version: 1
            tenants: { discover: { list: [a] } }
            actions:
              - { name: s1, scope: shared, sql: { inline: SELECT 1 } }
              - { name: t1, after: [s1], sql: { inline: SELECT 2 } }
              - { name: s2, scope: shared, after: [t1], sql: { inline: SELECT 3 } }
              - { name: t2, after: [s2], sql: { inline: SELECT 4 } }
              - { name: t3, sql: { inline: SELECT 5 } }
            """)
        let graph = ExecutionGraph(plan: plan)
        #expect(graph.stages.map { $0.shared.map(\.name) } == [["s1"], ["s2"]])
        #expect(graph.stages.map { $0.tenant.map(\.name) } == [["t1", "t3"], ["t2"]])
    }

    @Test("booleans are only true and false")
    func strictBooleans() {
        for word in ["yes", "on", "1", "True"] {
            #expect(throws: PlanError.self) {
                try compile(
                    """
                    version: 1
                    tenants: { discover: { list: [a] }, createSchemas: \(word) }
                    actions: [{ name: t, sql: { inline: SELECT 1 } }]
                    """)
            }
        }
    }

    @Test("hidden files (editor backups, macOS `._` forks) in a numbered folder are not migrations")
    func hiddenFilesSkipped() throws {
        let folder = NSTemporaryDirectory() + "tp-hidden-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["0001_a.sql", ".hidden.sql", "._0001_a.sql", "0002_b.sql"] {
            try "SELECT '\(name)';".write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }
        let plan = try compile(
            """
            version: 1
            tenants: { discover: { list: [a] } }
            actions: [{ name: t, migrate: "\(folder)" }]
            """)
        #expect(plan.actions[0].migrations.map(\.name) == ["0001_a", "0002_b"])
    }

    @Test("a drizzle-kit journal gives names, order and when")
    func journalFolder() throws {
        let folder = NSTemporaryDirectory() + "tp-journal-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/meta", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try
            (#"{"version":"7","dialect":"postgresql","entries":["#
            + #"{"idx":0,"version":"7","when":1700000000000,"tag":"0000_zeta","breakpoints":true},"#
            + #"{"idx":1,"version":"7","when":1700000005000,"tag":"0001_alpha","breakpoints":true}]}"#)
            .write(toFile: folder + "/meta/_journal.json", atomically: true, encoding: .utf8)
        try "CREATE TABLE z (id int);\n--> statement-breakpoint\nCREATE TABLE y (id int);".write(
            toFile: folder + "/0000_zeta.sql", atomically: true, encoding: .utf8)
        try "SELECT 1;".write(toFile: folder + "/0001_alpha.sql", atomically: true, encoding: .utf8)
        let plan = try compile(
            """
            version: 1
            tenants: { discover: { list: [a] } }
            actions: [{ name: t, migrate: "\(folder)" }]
            """)
        let migrations = plan.actions[0].migrations
        #expect(migrations.map(\.name) == ["0000_zeta", "0001_alpha"])
        #expect(migrations.map(\.when) == [1_700_000_000_000, 1_700_000_005_000])
        #expect(migrations[0].statements.count == 2)
    }

    @Test("random bytes and truncations never crash the compiler", arguments: 0..<8)
    func noiseNeverCrashes(seed: Int) throws {
        let valid = try String(contentsOfFile: Fixtures.path("valid/full.yaml"), encoding: .utf8)
        var generator = SeededGenerator(seed: UInt64(seed) &+ 1)
        for round in 0..<60 {
            var bytes = Array(valid.utf8)
            switch round % 3 {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            case 1:
                for _ in 0..<8 {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                }
            default:
                bytes = (0..<Int.random(in: 1..<600, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            }
            do {
                _ = try PlanCompiler.compile(
                    bytes: bytes, path: Fixtures.path("valid/noise.yaml"),
                    options: CompileOptions(environment: [:], unsetVariablesAreErrors: false))
            } catch {
                #expect(!error.diagnostics.isEmpty)
                #expect(error.diagnostics.allSatisfy { $0.location.line >= 1 && $0.location.column >= 1 })
            }
        }
    }

    private func compile(_ text: String) throws -> Plan {
        try PlanCompiler.compile(
            bytes: Array(text.utf8), path: Fixtures.path("valid/inline.yaml"), options: CompileOptions(environment: [:])
        )
    }
}

/// A small deterministic generator (SplitMix64) so noise tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
