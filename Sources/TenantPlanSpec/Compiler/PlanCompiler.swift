import Foundation
import Yams

/// Options that change how strictly a plan is compiled.
public struct CompileOptions: Sendable {
    /// Environment used to check `${VAR}` references in `database.url`.
    public var environment: [String: String]
    /// Unset `${VAR}` without a default is an error (commands that connect) or a warning (`validate`).
    public var unsetVariablesAreErrors: Bool
    /// Command-line values replacing the plan's; `concurrency` is checked against `maxConnections`
    /// like the plan's own value.
    public var overrides: RunOverrides

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        unsetVariablesAreErrors: Bool = true,
        overrides: RunOverrides = RunOverrides()
    ) {
        self.environment = environment
        self.unsetVariablesAreErrors = unsetVariablesAreErrors
        self.overrides = overrides
    }
}

/// Turns a plan file into a validated `Plan`, reporting every problem at once.
public enum PlanCompiler {
    static let topKeys = [
        "version", "database", "tenants", "tracking", "concurrency", "onError", "maxFailures", "actions", "ephemeral",
        "outOfOrder", "stopAfterIdenticalFailures", "lint", "debug",
    ]
    static let ephemeralKeys = ["seed"]
    static let databaseKeys = [
        "url", "maxConnections", "applicationName", "statementTimeout", "lockTimeout", "retry", "recycleAfter",
        "recycleAboveMB",
        "lockWait", "pooler", "directUrl",
    ]
    static let retryKeys = ["maxAttempts", "initialDelay", "maxDelay", "backoffMultiplier", "jitter"]
    static let tenantKeys = ["discover", "schema", "createSchemas", "include", "exclude", "searchPath"]
    static let discoverKeys = ["sql", "list", "schemaLike"]
    static let trackingKeys = ["table", "schema", "format", "autoMigrateFormat", "newTableFormat"]
    static let actionKeys = [
        "name", "scope", "schema", "after", "migrate", "sql", "markApplied", "upTo", "sync", "transaction", "tracking",
    ]
    static let actionKindKeys = ["migrate", "sql", "markApplied", "sync"]
    static let syncKeys = ["folder", "markMissing", "cleanOrphans"]
    static let actionTrackingKeys = ["table", "schema", "format"]
    static let scriptKeys = ["file", "inline"]

    /// Compiles the plan at `path` (as the user wrote it; relative paths resolve from the working directory).
    public static func compile(path: String, options: CompileOptions = CompileOptions()) throws(PlanError) -> Plan {
        let start = SourceLocation(file: path, line: 1, column: 1)
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            throw PlanError([
                Diagnostic(
                    at: start,
                    exists
                        ? (isDirectory.boolValue ? "is a folder, not a plan file" : "cannot read plan file")
                        : "plan file not found",
                    fix: exists ? nil : "check the path; plans are YAML files like plans/prod.yaml")
            ])
        }
        return try compile(bytes: [UInt8](data), path: path, options: options)
    }

    /// Compiles plan text. Folders and files named by the plan resolve relative to `path`'s folder.
    public static func compile(bytes: [UInt8], path: String, options: CompileOptions = CompileOptions())
        throws(PlanError) -> Plan
    {
        var compiler = Compilation(path: path, options: options)
        let plan = compiler.run(bytes: bytes)
        // The plan's own diagnostics first, then each other file's (migrations, journals) in order.
        let sorted = compiler.sink.diagnostics.sorted {
            let left = ($0.location.file == path ? "" : $0.location.file, $0.location.line, $0.location.column)
            let right = ($1.location.file == path ? "" : $1.location.file, $1.location.line, $1.location.column)
            return left < right
        }
        guard let plan, !compiler.sink.hasErrors else {
            throw PlanError(sorted)
        }
        var result = plan
        result.warnings = sorted
        return result
    }
}

/// The state of one compilation.
struct Compilation {
    let path: String
    let options: CompileOptions
    let reader: NodeReader
    let baseDirectory: String
    var sink = DiagnosticSink()
    /// Where each `tracking.schema` is written (by key path), for checks that need the action's scope.
    var trackingSchemaLocations: [String: SourceLocation] = [:]
    /// Fixed tracking schemas already reported (one error per place, not per action).
    var reportedFixedSchemas: Set<SourceLocation> = []

    init(path: String, options: CompileOptions) {
        self.path = path
        self.options = options
        self.reader = NodeReader(file: path)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        self.baseDirectory = (absolute as NSString).deletingLastPathComponent
    }

    func resolve(_ relative: String) -> String {
        let joined = relative.hasPrefix("/") ? relative : (baseDirectory as NSString).appendingPathComponent(relative)
        return (joined as NSString).standardizingPath
    }

    /// Path shown to users for a file named in the plan: relative to the working directory when the plan path is.
    func display(_ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        let planFolder = (path as NSString).deletingLastPathComponent
        return Self.normalize(planFolder.isEmpty ? relative : planFolder + "/" + relative)
    }

    /// Collapses `.` and `dir/..` segments without touching the file system.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." {
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    mutating func run(bytes: [UInt8]) -> Plan? {
        guard let root = YAMLLoader.load(bytes: bytes, file: path, into: &sink) else { return nil }
        guard case .mapping = root else {
            sink.error(
                reader.location(root),
                "a plan must be a mapping of keys (version, tenants, actions, ...), found \(reader.kindName(root))",
                fix: "start the file with `version: 1`")
            return nil
        }
        guard let entries = reader.mapping(root, path: "", known: PlanCompiler.topKeys, into: &sink) else { return nil }
        let byKey = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let version = compileVersion(byKey["version"]?.value)
        let database = compileDatabase(byKey["database"]?.value)
        let tenants = compileTenants(byKey["tenants"])
        let tracking = compileTracking(
            byKey["tracking"]?.value, path: "tracking", base: TrackingSettings(), planLevel: true)
        let limits = compileLimits(byKey, database: database)
        let ephemeral = byKey["ephemeral"].map { compileEphemeral($0.value) } ?? EphemeralSettings()
        let choices = Dictionary(uniqueKeysWithValues: OutOfOrder.allCases.map { ($0.rawValue, $0) })
        let written = byKey["outOfOrder"].flatMap {
            reader.oneOf($0.value, path: "outOfOrder", choices: choices, into: &sink)
        }
        let outOfOrder = options.overrides.outOfOrder ?? written ?? .refuse
        let identical = byKey["stopAfterIdenticalFailures"].flatMap {
            reader.int($0.value, path: "stopAfterIdenticalFailures", range: 0...1_000_000, into: &sink)
        }
        let lint = byKey["lint"].map { compileLint($0.value) } ?? LintSettings()
        var debug = byKey["debug"].map { compileDebug($0.value) } ?? DebugSettings()
        if let slowQuery = options.overrides.slowQuery { debug.slowQueryThreshold = slowQuery }
        let actions = compileActionList(byKey["actions"]?.value, tracking: tracking ?? TrackingSettings())
        guard let version, let database, let tenants, let tracking, let actions else { return nil }
        checkPooler(database.settings, actions: actions)
        return Plan(
            path: path, sha256: Hashing.sha256Hex(bytes), version: version, database: database.settings,
            tenants: tenants, tracking: tracking, concurrency: limits.concurrency, onError: limits.onError,
            maxFailures: limits.maxFailures, ephemeral: ephemeral, outOfOrder: outOfOrder,
            stopAfterIdenticalFailures: identical ?? 3, lint: lint, debug: debug, actions: actions,
            warnings: [])
    }

    /// `version: 1`, the only version there is.
    mutating func compileVersion(_ node: Node?) -> Int? {
        guard let node else {
            sink.error(
                SourceLocation(file: path, line: 1, column: 1), "missing required key 'version'",
                fix: "add `version: 1` as the first line")
            return nil
        }
        if case .scalar(let scalar) = node, scalar.style == .plain, scalar.string == "1" { return 1 }
        sink.error(
            reader.location(node), "unsupported plan version \(reader.kindName(node))",
            fix: "this tenantplan reads `version: 1`")
        return nil
    }

    /// `concurrency`, `onError` and `maxFailures`, with the command line's overrides; concurrency
    /// (written or overridden) never above `database.maxConnections`.
    mutating func compileLimits(
        _ byKey: [String: (key: String, keyNode: Node, value: Node)],
        database: (settings: DatabaseSettings, maxConnectionsLocation: SourceLocation)?
    ) -> (concurrency: Int, onError: OnError, maxFailures: Int) {
        // Default 4, never above maxConnections; a written value above it is an error below.
        var concurrency = min(4, database?.settings.maxConnections ?? 4)
        let concurrencyNode = byKey["concurrency"]?.value
        if let concurrencyNode {
            concurrency =
                reader.int(concurrencyNode, path: "concurrency", range: 1...10_000, into: &sink) ?? concurrency
        }
        var onError = byKey["onError"].flatMap { entry in
            reader.oneOf(
                entry.value, path: "onError", choices: ["continue": OnError.continue, "abort": .abort], into: &sink)
        }
        var maxFailures = byKey["maxFailures"].flatMap { entry in
            reader.int(entry.value, path: "maxFailures", range: 0...Int.max, into: &sink)
        }
        if let database {
            let limit = database.settings.maxConnections
            if let override = options.overrides.concurrency {
                if override > limit {
                    sink.error(
                        database.maxConnectionsLocation,
                        "--concurrency \(override) is above database.maxConnections \(limit)",
                        fix: "lower --concurrency or raise maxConnections")
                }
                concurrency = override
            } else if concurrencyNode != nil, concurrency > limit {
                sink.error(
                    reader.location(concurrencyNode),
                    "concurrency \(concurrency) is above database.maxConnections \(limit)",
                    fix: "lower concurrency to \(limit) or raise database.maxConnections")
            }
        }
        if let override = options.overrides.onError { onError = override }
        if let override = options.overrides.maxFailures { maxFailures = override }
        return (concurrency, onError ?? .continue, maxFailures ?? 0)
    }

    /// Under a transaction pooler, what must run outside a transaction needs `directUrl`: a
    /// session that stays one session from its first statement to its last.
    mutating func checkPooler(_ database: DatabaseSettings, actions: [Action]) {
        guard database.pooler == .transaction, database.directUrl == nil else { return }
        let fix = "set database.directUrl to a connection that bypasses the pooler (e.g. ${DIRECT_DATABASE_URL})"
        for action in actions {
            switch action.kind {
            case .migrate, .sql:
                if action.transaction == .none {
                    sink.error(
                        action.location,
                        "action '\(action.name)' runs outside a transaction (`transaction: none`), which a "
                            + "transaction pooler (database.pooler: transaction) may spread over several server "
                            + "sessions",
                        fix: fix)
                } else if let migration = action.migrations.first(where: \.noTransaction) {
                    sink.error(
                        action.location,
                        "action '\(action.name)': migration '\(migration.name)' starts with `-- tenantplan: "
                            + "no-transaction`, which a transaction pooler (database.pooler: transaction) may spread "
                            + "over several server sessions",
                        fix: fix)
                }
            case .markApplied, .sync:
                continue
            }
        }
    }

    /// `actions:`, compiled and put in a topological order of their `after` edges.
    mutating func compileActionList(_ node: Node?, tracking: TrackingSettings) -> [Action]? {
        guard let node else {
            sink.error(
                SourceLocation(file: path, line: 1, column: 1), "missing required key 'actions'",
                fix: "add at least one action, e.g. `actions: [{name: tenant-schema, migrate: migrations/tenant}]`")
            return nil
        }
        let (actions, declared) = compileActions(node, tracking: tracking)
        checkSharedTableHashes(actions)
        return order(actions, declared: declared)
    }

    /// `debug: { logQueries, logPoolEvents, slowQueryThreshold }`.
    mutating func compileDebug(_ node: Node) -> DebugSettings {
        var settings = DebugSettings()
        let known = ["logQueries", "logPoolEvents", "slowQueryThreshold"]
        for entry in reader.mapping(node, path: "debug", known: known, into: &sink) ?? [] {
            let key = "debug.\(entry.key)"
            switch entry.key {
            case "logQueries": settings.logQueries = reader.bool(entry.value, path: key, into: &sink) ?? false
            case "logPoolEvents": settings.logPoolEvents = reader.bool(entry.value, path: key, into: &sink) ?? false
            default:
                settings.slowQueryThreshold =
                    reader.duration(entry.value, path: key, into: &sink) ?? settings.slowQueryThreshold
            }
        }
        return settings
    }

    /// `lint: { rules: { ID: error | warning | off } }`.
    mutating func compileLint(_ node: Node) -> LintSettings {
        var settings = LintSettings()
        guard let entries = reader.mapping(node, path: "lint", known: ["rules"], into: &sink),
            let rules = entries.first(where: { $0.key == "rules" }),
            let ruleEntries = reader.mapping(
                rules.value, path: "lint.rules", known: LintRule.allCases.map(\.rawValue), into: &sink)
        else { return settings }
        let choices = Dictionary(uniqueKeysWithValues: LintRule.Severity.allCases.map { ($0.rawValue, $0) })
        for entry in ruleEntries {
            guard let rule = LintRule(rawValue: entry.key),
                let severity = reader.oneOf(entry.value, path: "lint.rules.\(entry.key)", choices: choices, into: &sink)
            else { continue }
            settings.rules[rule] = severity
        }
        return settings
    }

    /// `ephemeral: { seed: [files] }`: files must exist; paths are relative to the plan.
    mutating func compileEphemeral(_ node: Node) -> EphemeralSettings {
        guard let entries = reader.mapping(node, path: "ephemeral", known: PlanCompiler.ephemeralKeys, into: &sink)
        else {
            return EphemeralSettings()
        }
        var settings = EphemeralSettings()
        for entry in entries where entry.key == "seed" {
            for (file, item) in reader.stringList(entry.value, path: "ephemeral.seed", into: &sink) ?? [] {
                let absolute = resolve(file)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory),
                    !isDirectory.boolValue
                else {
                    sink.error(
                        reader.location(item), "seed file '\(display(file))' does not exist (looked at \(absolute))",
                        fix: "paths are relative to the plan file")
                    continue
                }
                settings.seed.append(absolute)
            }
        }
        return settings
    }
}
