import Foundation

/// A compiled, validated plan: what to connect to, which tenants, how they are tracked,
/// and the actions to run. Produced by `PlanCompiler`; immutable afterwards.
public struct Plan: Sendable {
    /// Path of the plan file as the user named it (used in diagnostics and reports).
    public var path: String
    /// Lowercase hex SHA-256 of the plan file's bytes.
    public var sha256: String
    public var version: Int
    public var database: DatabaseSettings
    public var tenants: TenantSettings
    public var tracking: TrackingSettings
    public var concurrency: Int
    public var onError: OnError
    public var maxFailures: Int
    /// `ephemeral:`: the seed of `--ephemeral` runs.
    public var ephemeral = EphemeralSettings()
    /// `outOfOrder:`: whether a pending migration sorting before a tenant's latest applied one runs.
    public var outOfOrder = OutOfOrder.refuse
    /// `stopAfterIdenticalFailures:`: when this many tenants failed on the same migration with the
    /// same SQLSTATE and message, and no tenant has applied it, start no more tenants (0 = never).
    public var stopAfterIdenticalFailures = 3
    /// `lint:`: severities of the migration lint's rules.
    public var lint = LintSettings()
    /// `debug:`: query and pool logging, the slow-query threshold.
    public var debug = DebugSettings()
    /// Actions in a topological order of their `after` edges (stable: file order where free).
    public var actions: [Action]
    /// Warnings found while compiling (errors make compilation throw).
    public var warnings: [Diagnostic]

    public func action(named name: String) -> Action? {
        actions.first { $0.name == name }
    }
}

/// A pending migration that sorts before the latest applied one (a branch merged late).
public enum OutOfOrder: String, Sendable, Codable, CaseIterable {
    /// That tenant fails before anything runs, saying which migration and which applied one.
    case refuse
    /// It runs.
    case allow
}

public enum OnError: String, Sendable, Codable, CaseIterable {
    case `continue`
    case abort
}

/// `database:` — connection settings. `url` keeps `${VAR}` references until a command connects.
public struct DatabaseSettings: Sendable {
    /// The URL as written in the plan (unexpanded).
    public var url: String
    public var urlLocation: SourceLocation
    public var maxConnections: Int
    public var applicationName: String
    public var statementTimeout: PlanDuration
    public var lockTimeout: PlanDuration
    public var retry: RetrySettings
    /// `lockWait:` — how long a tenant waits for another run's lock on it (0: as long as it takes).
    public var lockWait: PlanDuration = .zero
    /// `pooler:` — what sits between tenantplan and the server.
    public var pooler: Pooler = .none
    /// `directUrl:` — a session connection that bypasses the pooler (as written, unexpanded), for
    /// the migrations that cannot run in a transaction.
    public var directUrl: String?
    public var directUrlLocation: SourceLocation?
    /// Connections are closed and reopened after serving this many tenants at most. Nil (not
    /// set): 1000 when the backend's memory can be read (`recycleAboveMB` then decides), 10 when not.
    public var recycleAfter: Int?
    /// `recycleAboveMB:` — a connection whose backend holds more than this much memory (its
    /// catalog caches grow with every relation it touches) is closed and reopened (0: never).
    public var recycleAboveMB: Int = 16
}

/// `debug:` — what tenantplan logs about its own connections.
public struct DebugSettings: Sendable, Equatable {
    /// Log every statement (tenant, schema, migration, duration, the query normalised).
    public var logQueries = false
    /// Log the pool's connects, reuses, recycles, closes and waits, with durations.
    public var logPoolEvents = false
    /// A statement slower than this logs a `SLOW_QUERY` warning, even without `logQueries` (0: never).
    public var slowQueryThreshold: PlanDuration = .milliseconds(1000)

    public init() {}
}

/// `database.pooler:` — how much session state tenantplan may rely on.
public enum Pooler: String, Sendable, Equatable, CaseIterable {
    /// A session is tenantplan's from connect to close: the tenant lock is a session advisory
    /// lock, and the plan's timeouts are startup options.
    case none
    /// PgBouncer-style transaction pooling: consecutive transactions may run on different server
    /// sessions, so every transaction takes the tenant lock itself (`pg_advisory_xact_lock`) and
    /// sets what it needs with `SET LOCAL`; no startup options are sent.
    case transaction
}

/// `database.retry:` — retry with exponential backoff for connecting and transient errors.
public struct RetrySettings: Sendable, Equatable {
    public var maxAttempts: Int = 3
    public var initialDelay: PlanDuration = .milliseconds(100)
    public var maxDelay: PlanDuration = .milliseconds(5000)
    public var backoffMultiplier: Double = 2
    /// `full`: each delay is drawn uniformly from 0 up to the computed one, so that many tenants
    /// retrying at once do not retry in step. `none`: the computed delay exactly.
    public var jitter: Jitter = .full

    public enum Jitter: String, Sendable, Equatable, CaseIterable {
        case full
        case none
    }

    public init(
        maxAttempts: Int = 3, initialDelay: PlanDuration = .milliseconds(100),
        maxDelay: PlanDuration = .milliseconds(5000), backoffMultiplier: Double = 2, jitter: Jitter = .full
    ) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.backoffMultiplier = backoffMultiplier
        self.jitter = jitter
    }

    /// The delay before attempt `attempt + 1` (attempt counts from 1), before jitter:
    /// min(initialDelay × backoffMultiplier^(attempt − 1), maxDelay), in milliseconds.
    public func ceiling(afterAttempt attempt: Int) -> Double {
        let grown = Double(initialDelay.milliseconds) * pow(backoffMultiplier, Double(max(0, attempt - 1)))
        return min(grown, Double(maxDelay.milliseconds))
    }

    /// The delay before attempt `attempt + 1`, jitter applied with `random` (uniform in 0...1).
    public func delay(afterAttempt attempt: Int, random: () -> Double) -> Double {
        let ceiling = ceiling(afterAttempt: attempt)
        return jitter == .full ? ceiling * min(1, max(0, random())) : ceiling
    }
}

/// How tenant ids are found.
public enum Discovery: Sendable, Equatable {
    case sql(String)
    case list([String])
    case schemaLike(String)
}

/// `tenants:` — discovery, id -> schema mapping and filters.
public struct TenantSettings: Sendable {
    public var discover: Discovery
    public var schema: SchemaTemplate
    public var createSchemas: Bool
    public var include: [Glob]
    public var exclude: [Glob]
    /// Templates (`{schema}`, `{id}` allowed) set as `search_path` for each tenant migration.
    public var searchPath: [String]
    /// Where `tenants.discover` is written (errors from running it name this place).
    public var discoverLocation: SourceLocation
}

/// `ephemeral:` — what `--ephemeral` loads into its throwaway database before the run.
public struct EphemeralSettings: Sendable {
    /// SQL files (absolute paths), run in order on the throwaway database before discovery.
    public var seed: [String] = []

    public init(seed: [String] = []) {
        self.seed = seed
    }
}

/// Values from the command line that replace the plan's (`--concurrency`, `--on-error`,
/// `--max-failures`); the compiler checks them like the plan's own.
public struct RunOverrides: Sendable, Equatable {
    public var concurrency: Int?
    public var onError: OnError?
    public var maxFailures: Int?
    public var outOfOrder: OutOfOrder?
    /// `--slow-query`: replaces `debug.slowQueryThreshold`.
    public var slowQuery: PlanDuration?

    public init(
        concurrency: Int? = nil, onError: OnError? = nil, maxFailures: Int? = nil, outOfOrder: OutOfOrder? = nil
    ) {
        self.concurrency = concurrency
        self.onError = onError
        self.maxFailures = maxFailures
        self.outOfOrder = outOfOrder
    }
}

/// `tenant_{id}`-style template turning a tenant id into a schema name.
public struct SchemaTemplate: Sendable, Hashable, CustomStringConvertible {
    public var template: String
    public var prefix: String
    public var suffix: String

    public init?(_ template: String) {
        guard let range = template.range(of: "{id}") else { return nil }
        self.template = template
        self.prefix = String(template[..<range.lowerBound])
        self.suffix = String(template[range.upperBound...])
    }

    public func schema(for id: String) -> String {
        Template.expand(template, schema: nil, id: id)
    }

    /// The id a schema name was made from, or nil when the name does not fit the template.
    public func id(fromSchema schema: String) -> String? {
        guard schema.count > prefix.count + suffix.count,
            schema.hasPrefix(prefix), schema.hasSuffix(suffix)
        else { return nil }
        return String(schema.dropFirst(prefix.count).dropLast(suffix.count))
    }

    public var description: String { template }
}

/// `tracking:` — the layout and place of each tenant's tracking table.
public struct TrackingSettings: Sendable, Equatable {
    public var table: String = "__drizzle_migrations"
    /// Template for the schema holding the table (`{schema}` = the tenant's schema).
    public var schema: String = "{schema}"
    public var format: TrackingFormatChoice = .autoDetect
    public var autoMigrateFormat: Bool = false
    public var newTableFormat: TrackingFormat = .name

    public func tableSchema(forTenantSchema tenantSchema: String, id: String) -> String {
        Template.expand(schema, schema: tenantSchema, id: id)
    }
}

/// The plan's `{schema}` and `{id}` placeholders, filled in for a tenant (thousands of times a
/// run: byte by byte, as both are ASCII).
public enum Template {
    /// `template` with each `{id}` replaced by `id` and, when `schema` is given, each `{schema}`
    /// by `schema`; anything else as it is.
    public static func expand(_ template: String, schema: String?, id: String) -> String {
        let braces = UInt8(ascii: "{")
        guard template.utf8.contains(braces) else { return template }
        let source = Array(template.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(source.count + id.utf8.count + (schema?.utf8.count ?? 0))
        var index = 0
        func matches(_ placeholder: String) -> Bool {
            let bytes = placeholder.utf8
            return source.count - index >= bytes.count && source[index..<index + bytes.count].elementsEqual(bytes)
        }
        while index < source.count {
            if source[index] == braces, matches("{id}") {
                out += id.utf8
                index += 4
            } else if source[index] == braces, let schema, matches("{schema}") {
                out += schema.utf8
                index += 8
            } else {
                out.append(source[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A concrete tracking-table layout.
public enum TrackingFormat: String, Sendable, Codable, CaseIterable {
    /// `id serial, name varchar(255) unique, applied_at timestamptz` (drizzle-multitenant's default).
    case name
    /// `id serial, hash text, created_at timestamptz` (drizzle-multitenant's hash format).
    case hash
    /// `id serial, hash text, created_at bigint` holding the journal `when` (drizzle-orm's migrator).
    case drizzleKit = "drizzle-kit"
    /// tenantplan's own: `id serial, name varchar(255) unique, sha256 text, applied_at timestamptz,
    /// execution_ms integer, applied_by text`. Keyed by name, with each file's hash, so edits are
    /// always caught. Recommended for new projects.
    case tenantplan

    /// Rows are keyed by the file's hash (hash, drizzle-kit), not its name (name, tenantplan).
    public var usesHash: Bool { self == .hash || self == .drizzleKit }

    /// What a row of this format records for `migration`: its hash or its name.
    public func key(of migration: Migration) -> String {
        usesHash ? migration.hash : migration.name
    }
}

/// A tracking format as configured: a concrete one or `auto-detect`.
public enum TrackingFormatChoice: Sendable, Equatable, CustomStringConvertible {
    case fixed(TrackingFormat)
    case autoDetect

    public init?(_ text: String) {
        if text == "auto-detect" {
            self = .autoDetect
            return
        }
        guard let format = TrackingFormat(rawValue: text) else { return nil }
        self = .fixed(format)
    }

    public static let names = TrackingFormat.allCases.map(\.rawValue) + ["auto-detect"]

    public var description: String {
        switch self {
        case .fixed(let format): format.rawValue
        case .autoDetect: "auto-detect"
        }
    }
}

/// Where an action runs.
public enum ActionScope: Sendable, Equatable {
    /// Once, in the named schema.
    case shared(schema: String)
    /// Once per tenant, in the tenant's schema.
    case tenants

    public var isShared: Bool {
        if case .shared = self { return true }
        return false
    }
}

/// Transaction discipline of a migrate action.
public enum TransactionMode: String, Sendable, Codable, CaseIterable {
    case perMigration = "per-migration"
    case perAction = "per-action"
    case none
}

/// One entry of `actions:`.
public struct Action: Sendable, Identifiable {
    public var id: String { name }
    public var name: String
    public var location: SourceLocation
    public var scope: ActionScope
    public var after: [String]
    public var kind: ActionKind
    public var transaction: TransactionMode
    /// The tracking settings in force for this action (plan-level merged with the override).
    public var tracking: TrackingSettings

    /// The schema of a shared action ("" for a tenant action), for grouping actions by table.
    public var sharedSchemaName: String {
        if case .shared(let schema) = scope { return schema }
        return ""
    }

    /// The migrations this action knows (a `sql` action is one migration named after the action).
    public var migrations: [Migration] {
        switch kind {
        case .migrate(let set), .markApplied(let set, _), .sync(let set, _, _): set.migrations
        case .sql(let script): [script]
        }
    }

    /// The migrations this action may record, in order: a `markApplied` action stops at `upTo`.
    public var recordable: [Migration] {
        if case .markApplied(let set, let upTo?) = kind,
            let index = set.migrations.firstIndex(where: { $0.name == upTo })
        {
            return Array(set.migrations[...index])
        }
        return migrations
    }
}

/// What an action does.
public enum ActionKind: Sendable {
    /// Apply the pending migrations of a folder.
    case migrate(MigrationSet)
    /// Run a one-off script once per tenant (or once, when shared), tracked under the action name.
    case sql(Migration)
    /// Record a folder's pending migrations as applied without running them (up to and including `upTo`).
    case markApplied(MigrationSet, upTo: String?)
    /// Reconcile the tracking table with a folder: record missing migrations and/or delete orphan rows.
    case sync(MigrationSet, markMissing: Bool, cleanOrphans: Bool)

}
