import Foundation

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// Plan pieces built in memory, for the planning tests (no files, no database).
enum Build {
    static let location = SourceLocation(file: "p.yaml", line: 1, column: 1)

    static func migration(_ name: String, _ sql: String? = nil, when: Int64? = nil) -> Migration {
        Migration(name: name, bytes: Array((sql ?? "CREATE TABLE \(name) (id int);").utf8), when: when, source: name)
    }

    static func folder(_ migrations: [Migration]) -> MigrationSet {
        MigrationSet(
            folder: "m", path: "/m", migrations: migrations, hasJournal: migrations.contains { $0.when != nil })
    }

    static func tracking(
        _ format: TrackingFormatChoice = .autoDetect, autoMigrate: Bool = false, newTableFormat: TrackingFormat = .name,
        table: String = "__drizzle_migrations"
    ) -> TrackingSettings {
        var settings = TrackingSettings()
        settings.format = format
        settings.autoMigrateFormat = autoMigrate
        settings.newTableFormat = newTableFormat
        settings.table = table
        return settings
    }

    static func action(
        _ name: String, _ kind: ActionKind, scope: ActionScope = .tenants, after: [String] = [],
        tracking: TrackingSettings = tracking()
    ) -> Action {
        Action(
            name: name, location: location, scope: scope, after: after, kind: kind, transaction: .perMigration,
            tracking: tracking)
    }

    static func migrate(_ name: String, _ migrations: [Migration], tracking: TrackingSettings = tracking()) -> Action {
        action(name, .migrate(folder(migrations)), tracking: tracking)
    }

    /// A table holding rows for `migrations` (ids 1...), in `format`.
    static func state(_ format: TrackingFormat, _ migrations: [Migration], extra: [String] = []) -> TrackingState {
        var state = TrackingState(format: format)
        for (index, migration) in migrations.enumerated() {
            let key = format.usesHash ? migration.hash : migration.name
            let applied = format == .drizzleKit ? migration.when.map(String.init) : "2026-01-0\(index + 1) 00:00:00+00"
            state.rows.append(
                TrackingState.Row(
                    id: index + 1, key: key, applied: applied, checksum: format == .tenantplan ? migration.hash : nil))
        }
        for key in extra { state.rows.append(TrackingState.Row(id: state.rows.count + 1, key: key, applied: nil)) }
        return state
    }

    static let tenant = Tenant(id: "acme", schema: "tenant_acme")
    static let ref = TrackingTableRef(schema: "tenant_acme", table: "__drizzle_migrations")

    static func plan(_ actions: [Action], createSchemas: Bool = true) -> Plan {
        let tenants = TenantSettings(
            discover: .list(["acme"]), schema: SchemaTemplate("tenant_{id}")!, createSchemas: createSchemas,
            include: [],
            exclude: [], searchPath: ["{schema}", "public"], discoverLocation: location)
        let database = DatabaseSettings(
            url: "", urlLocation: location, maxConnections: 4, applicationName: "t", statementTimeout: .zero,
            lockTimeout: .zero, retry: RetrySettings(), recycleAfter: 10)
        return Plan(
            path: "p.yaml", sha256: "", version: 1, database: database, tenants: tenants, tracking: tracking(),
            concurrency: 2, onError: .continue, maxFailures: 0, actions: actions, warnings: [])
    }
}
