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
    ]
    static let ephemeralKeys = ["seed"]
    static let databaseKeys = [
        "url", "maxConnections", "applicationName", "statementTimeout", "lockTimeout", "retry", "recycleAfter",
    ]
    static let retryKeys = ["maxAttempts", "initialDelay", "maxDelay", "backoffMultiplier"]
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
        let sorted = compiler.sink.diagnostics.sorted {
            ($0.location.file == path ? 0 : 1, $0.location.line, $0.location.column) < (
                $1.location.file == path ? 0 : 1, $1.location.line, $1.location.column
            )
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
private struct Compilation {
    let path: String
    let options: CompileOptions
    let reader: NodeReader
    let baseDirectory: String
    var sink = DiagnosticSink()

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
        let actions = compileActionList(byKey["actions"]?.value, tracking: tracking ?? TrackingSettings())
        guard let version, let database, let tenants, let tracking, let actions else { return nil }
        return Plan(
            path: path, sha256: Hashing.sha256Hex(bytes), version: version, database: database.settings,
            tenants: tenants, tracking: tracking, concurrency: limits.concurrency, onError: limits.onError,
            maxFailures: limits.maxFailures, ephemeral: ephemeral, actions: actions, warnings: [])
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

    /// `actions:`, compiled and put in a topological order of their `after` edges.
    mutating func compileActionList(_ node: Node?, tracking: TrackingSettings) -> [Action]? {
        guard let node else {
            sink.error(
                SourceLocation(file: path, line: 1, column: 1), "missing required key 'actions'",
                fix: "add at least one action, e.g. `actions: [{name: tenant-schema, migrate: migrations/tenant}]`")
            return nil
        }
        let (actions, declared) = compileActions(node, tracking: tracking)
        return order(actions, declared: declared)
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

    // MARK: database

    mutating func compileDatabase(_ node: Node?) -> (
        settings: DatabaseSettings, maxConnectionsLocation: SourceLocation
    )? {
        var settings = DatabaseSettings(
            url: "", urlLocation: SourceLocation(file: path, line: 1, column: 1), maxConnections: 10,
            applicationName: "tenantplan", statementTimeout: .zero, lockTimeout: .zero,
            retry: RetrySettings(), recycleAfter: 10)
        var maxLocation = settings.urlLocation
        guard let node else { return (settings, maxLocation) }
        guard let entries = reader.mapping(node, path: "database", known: PlanCompiler.databaseKeys, into: &sink) else {
            return nil
        }
        for entry in entries {
            let key = "database.\(entry.key)"
            switch entry.key {
            case "url":
                guard let url = reader.string(entry.value, path: key, into: &sink) else { continue }
                settings.url = url
                settings.urlLocation = reader.location(entry.value)
                let expanded = EnvironmentExpander(environment: options.environment).expand(url)
                for name in expanded.unset {
                    let message = "environment variable '\(name)' in database.url is not set"
                    let fix = "export \(name)=... or write ${\(name):-default}"
                    if options.unsetVariablesAreErrors {
                        sink.error(settings.urlLocation, message, fix: fix)
                    } else {
                        sink.warning(settings.urlLocation, message, fix: fix)
                    }
                }
            case "maxConnections":
                settings.maxConnections =
                    reader.int(entry.value, path: key, range: 1...10_000, into: &sink) ?? settings.maxConnections
                maxLocation = reader.location(entry.value)
            case "applicationName":
                settings.applicationName =
                    reader.string(entry.value, path: key, into: &sink) ?? settings.applicationName
            case "statementTimeout":
                settings.statementTimeout = reader.duration(entry.value, path: key, into: &sink) ?? .zero
            case "lockTimeout":
                settings.lockTimeout = reader.duration(entry.value, path: key, into: &sink) ?? .zero
            case "recycleAfter":
                settings.recycleAfter =
                    reader.int(entry.value, path: key, range: 1...Int.max, into: &sink) ?? settings.recycleAfter
            case "retry":
                settings.retry = compileRetry(entry.value) ?? settings.retry
            default:
                break
            }
        }
        return (settings, maxLocation)
    }

    mutating func compileRetry(_ node: Node) -> RetrySettings? {
        guard let entries = reader.mapping(node, path: "database.retry", known: PlanCompiler.retryKeys, into: &sink)
        else { return nil }
        var retry = RetrySettings()
        for entry in entries {
            let key = "database.retry.\(entry.key)"
            switch entry.key {
            case "maxAttempts":
                retry.maxAttempts = reader.int(entry.value, path: key, range: 1...100, into: &sink) ?? retry.maxAttempts
            case "initialDelay":
                retry.initialDelay = reader.duration(entry.value, path: key, into: &sink) ?? retry.initialDelay
            case "maxDelay": retry.maxDelay = reader.duration(entry.value, path: key, into: &sink) ?? retry.maxDelay
            case "backoffMultiplier":
                if let value = reader.double(entry.value, path: key, into: &sink) {
                    if value >= 1 {
                        retry.backoffMultiplier = value
                    } else {
                        sink.error(reader.location(entry.value), "'\(key)' must be at least 1, found \(value)")
                    }
                }
            default: break
            }
        }
        return retry
    }

    // MARK: tenants

    mutating func compileTenants(_ entry: (key: String, keyNode: Node, value: Node)?) -> TenantSettings? {
        guard let entry else {
            sink.error(
                SourceLocation(file: path, line: 1, column: 1), "missing required key 'tenants'",
                fix: "add `tenants: { discover: { schemaLike: \"tenant_%\" }, schema: \"tenant_{id}\" }`")
            return nil
        }
        guard let entries = reader.mapping(entry.value, path: "tenants", known: PlanCompiler.tenantKeys, into: &sink)
        else { return nil }
        var settings = TenantSettings(
            discover: .list([]), schema: SchemaTemplate("{id}")!, createSchemas: false, include: [], exclude: [],
            searchPath: ["{schema}", "public"], discoverLocation: reader.location(entry.keyNode))
        var ok = true
        var discovered = false
        for item in entries {
            let key = "tenants.\(item.key)"
            switch item.key {
            case "discover":
                discovered = true
                settings.discoverLocation = reader.location(item.value)
                if let discover = compileDiscovery(item.value) { settings.discover = discover } else { ok = false }
            case "schema":
                if let template = compileSchemaTemplate(item.value) { settings.schema = template } else { ok = false }
            case "createSchemas":
                settings.createSchemas = reader.bool(item.value, path: key, into: &sink) ?? false
            case "include", "exclude":
                guard let list = reader.stringList(item.value, path: key, into: &sink) else {
                    ok = false
                    continue
                }
                let globs = list.map { Glob($0.0) }
                if item.key == "include" { settings.include = globs } else { settings.exclude = globs }
            case "searchPath":
                if let searchPath = compileSearchPath(item.value) {
                    settings.searchPath = searchPath
                } else {
                    ok = false
                }
            default: break
            }
        }
        guard discovered else {
            sink.error(
                reader.location(entry.keyNode), "missing 'tenants.discover'",
                fix: "add exactly one of discover.sql, discover.list, discover.schemaLike")
            return nil
        }
        return ok ? settings : nil
    }

    /// `tenants.schema`: a template holding `{id}` exactly once.
    mutating func compileSchemaTemplate(_ node: Node) -> SchemaTemplate? {
        guard let text = reader.nonEmptyString(node, path: "tenants.schema", into: &sink) else { return nil }
        guard let template = SchemaTemplate(text), text.components(separatedBy: "{id}").count == 2 else {
            sink.error(
                reader.location(node), "tenants.schema '\(text)' must contain {id} exactly once",
                fix: "write it like \"tenant_{id}\"")
            return nil
        }
        return template
    }

    /// `tenants.searchPath`: a non-empty list of non-empty templates.
    mutating func compileSearchPath(_ node: Node) -> [String]? {
        guard let list = reader.stringList(node, path: "tenants.searchPath", into: &sink) else { return nil }
        var ok = true
        if list.isEmpty {
            sink.error(reader.location(node), "tenants.searchPath is empty", fix: "list at least \"{schema}\"")
            ok = false
        }
        for (value, item) in list where value.isEmpty {
            sink.error(reader.location(item), "tenants.searchPath entries must not be empty")
            ok = false
        }
        return ok ? list.map(\.0) : nil
    }

    mutating func compileDiscovery(_ node: Node) -> Discovery? {
        guard
            let entries = reader.mapping(node, path: "tenants.discover", known: PlanCompiler.discoverKeys, into: &sink)
        else { return nil }
        guard entries.count == 1 else {
            let found = entries.map(\.key)
            sink.error(
                reader.location(node),
                found.isEmpty
                    ? "tenants.discover is empty"
                    : "tenants.discover has \(found.joined(separator: " and ")); it takes exactly one",
                fix: "keep exactly one of sql, list, schemaLike")
            return nil
        }
        let entry = entries[0]
        let key = "tenants.discover.\(entry.key)"
        switch entry.key {
        case "sql":
            return reader.nonEmptyString(entry.value, path: key, into: &sink).map(Discovery.sql)
        case "schemaLike":
            return reader.nonEmptyString(entry.value, path: key, into: &sink).map(Discovery.schemaLike)
        default:
            guard let list = reader.stringList(entry.value, path: key, into: &sink) else { return nil }
            var seen = Set<String>()
            for (id, item) in list where !seen.insert(id).inserted {
                sink.error(reader.location(item), "tenant id '\(id)' is listed twice", fix: "remove the duplicate")
            }
            return .list(list.map(\.0))
        }
    }

    // MARK: tracking

    mutating func compileTracking(_ node: Node?, path key: String, base: TrackingSettings, planLevel: Bool)
        -> TrackingSettings?
    {
        var settings = base
        guard let node else { return settings }
        let known = planLevel ? PlanCompiler.trackingKeys : PlanCompiler.actionTrackingKeys
        guard let entries = reader.mapping(node, path: key, known: known, into: &sink) else { return nil }
        var ok = true
        var formatNode: Node?
        for entry in entries {
            let name = "\(key).\(entry.key)"
            switch entry.key {
            case "table":
                guard let table = reader.nonEmptyString(entry.value, path: name, into: &sink) else {
                    ok = false
                    continue
                }
                if table.utf8.count > 63 || table.contains("\0") {
                    sink.error(
                        reader.location(entry.value), "'\(name)' must be at most 63 bytes",
                        fix: "PostgreSQL truncates longer names")
                    ok = false
                }
                settings.table = table
            case "schema":
                guard let schema = reader.nonEmptyString(entry.value, path: name, into: &sink) else {
                    ok = false
                    continue
                }
                settings.schema = schema
            case "format":
                formatNode = entry.value
                if let format = compileFormatChoice(entry.value, path: name) {
                    settings.format = format
                } else {
                    ok = false
                }
            case "autoMigrateFormat":
                settings.autoMigrateFormat = reader.bool(entry.value, path: name, into: &sink) ?? false
            case "newTableFormat":
                if let format = compileNewTableFormat(entry.value, path: name) {
                    settings.newTableFormat = format
                } else {
                    ok = false
                }
            default: break
            }
        }
        if planLevel, settings.autoMigrateFormat, settings.format == .autoDetect {
            sink.error(
                reader.location(formatNode ?? node), "tracking.autoMigrateFormat needs a concrete tracking.format",
                fix: "set tracking.format to name, hash or drizzle-kit")
            ok = false
        }
        return ok ? settings : nil
    }

    /// `tracking.format`: name, hash, drizzle-kit or auto-detect.
    mutating func compileFormatChoice(_ node: Node, path name: String) -> TrackingFormatChoice? {
        guard let text = reader.string(node, path: name, into: &sink) else { return nil }
        guard let format = TrackingFormatChoice(text) else {
            sink.error(
                reader.location(node), "unknown tracking format '\(text)'",
                fix: Suggestion.didYouMean(text, in: TrackingFormatChoice.names)
                    ?? "use one of \(TrackingFormatChoice.names.joined(separator: ", "))")
            return nil
        }
        return format
    }

    /// `tracking.newTableFormat`: a concrete format.
    mutating func compileNewTableFormat(_ node: Node, path name: String) -> TrackingFormat? {
        guard let text = reader.string(node, path: name, into: &sink) else { return nil }
        guard let format = TrackingFormat(rawValue: text) else {
            sink.error(
                reader.location(node), "unknown tracking format '\(text)' for newTableFormat",
                fix: Suggestion.didYouMean(text, in: TrackingFormat.allCases.map(\.rawValue))
                    ?? "use name, hash or drizzle-kit")
            return nil
        }
        return format
    }

    // MARK: actions

    /// The actions that compiled, and the names of all declared ones (so that an action that
    /// failed to compile does not also make every `after` naming it an error).
    mutating func compileActions(_ node: Node, tracking: TrackingSettings) -> ([Action], [String]) {
        guard case .sequence(let sequence) = node else {
            sink.error(
                reader.location(node), "'actions' must be a list, found \(reader.kindName(node))",
                fix: "start each action with '- name: ...'")
            return ([], [])
        }
        let declared: [String] = sequence.compactMap { item in
            guard case .mapping(let mapping) = item, let name = mapping["name"], case .scalar(let scalar) = name else {
                return nil
            }
            return scalar.string
        }
        if sequence.isEmpty {
            sink.error(reader.location(node), "'actions' is empty", fix: "add at least one action")
        }
        var actions: [Action] = []
        var names: [String: SourceLocation] = [:]
        for item in sequence {
            guard let action = compileAction(item, tracking: tracking) else { continue }
            if let first = names[action.name] {
                sink.error(
                    action.location,
                    "duplicate action name '\(action.name)' (first defined at \(first.line):\(first.column))",
                    fix: "action names must be unique")
                continue
            }
            names[action.name] = action.location
            actions.append(action)
        }
        return (actions, declared)
    }

    typealias Entry = (key: String, keyNode: Node, value: Node)

    mutating func compileAction(_ node: Node, tracking: TrackingSettings) -> Action? {
        guard let entries = reader.mapping(node, path: "actions[]", known: PlanCompiler.actionKeys, into: &sink) else {
            return nil
        }
        let location = reader.location(node)
        let byKey = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        guard let nameEntry = byKey["name"] else {
            sink.error(location, "action has no 'name'", fix: "add `name: some-name`")
            return nil
        }
        guard let name = reader.nonEmptyString(nameEntry.value, path: "actions[].name", into: &sink) else { return nil }
        var ok = true
        let scope = compileScope(byKey, name: name, ok: &ok)
        var after: [String] = []
        if let entry = byKey["after"] {
            if let list = reader.stringList(entry.value, path: "actions[\(name)].after", into: &sink) {
                after = list.map(\.0)
            } else {
                ok = false
            }
        }
        let transaction = compileTransactionMode(byKey["transaction"], name: name, ok: &ok)
        let actionTracking = compileActionTracking(byKey["tracking"], base: tracking, name: name, ok: &ok)
        guard let kindEntry = singleKind(entries, location: location, name: name) else { return nil }
        if let upTo = byKey["upTo"], kindEntry.key != "markApplied" {
            sink.error(
                reader.location(upTo.keyNode), "action '\(name)': 'upTo' only goes with 'markApplied'",
                fix: "remove upTo, or make the action `markApplied: FOLDER`")
            ok = false
        }
        let transactionNode = byKey["transaction"]?.value
        guard
            let kind = compileKind(
                kindEntry, upTo: byKey["upTo"], name: name, transaction: transaction, transactionNode: transactionNode,
                ok: &ok),
            ok
        else { return nil }
        return Action(
            name: name, location: location, scope: scope, after: after, kind: kind,
            transaction: transaction, tracking: actionTracking)
    }

    /// `scope` and `schema`: tenants by default; `schema` only for shared actions.
    mutating func compileScope(_ byKey: [String: Entry], name: String, ok: inout Bool) -> ActionScope {
        var scope = ActionScope.tenants
        if let entry = byKey["scope"] {
            let choices = ["shared": true, "tenants": false]
            if let isShared = reader.oneOf(entry.value, path: "actions[\(name)].scope", choices: choices, into: &sink) {
                if isShared { scope = .shared(schema: "public") }
            } else {
                ok = false
            }
        }
        guard let entry = byKey["schema"] else { return scope }
        guard case .shared = scope else {
            sink.error(
                reader.location(entry.keyNode), "action '\(name)': 'schema' is only for shared actions",
                fix: "add `scope: shared`, or remove `schema` (tenant actions run in each tenant's schema)")
            ok = false
            return scope
        }
        guard let schema = reader.nonEmptyString(entry.value, path: "actions[\(name)].schema", into: &sink) else {
            ok = false
            return scope
        }
        if schema.utf8.count > 63 {
            sink.error(reader.location(entry.value), "action '\(name)': schema '\(schema)' is longer than 63 bytes")
            ok = false
        }
        return .shared(schema: schema)
    }

    mutating func compileTransactionMode(_ entry: Entry?, name: String, ok: inout Bool) -> TransactionMode {
        guard let entry else { return .perMigration }
        let choices = Dictionary(uniqueKeysWithValues: TransactionMode.allCases.map { ($0.rawValue, $0) })
        if let mode = reader.oneOf(entry.value, path: "actions[\(name)].transaction", choices: choices, into: &sink) {
            return mode
        }
        ok = false
        return .perMigration
    }

    /// An action's `tracking` override, merged over the plan's.
    mutating func compileActionTracking(
        _ entry: Entry?, base: TrackingSettings, name: String, ok: inout Bool
    ) -> TrackingSettings {
        guard let entry else { return base }
        guard
            let merged = compileTracking(entry.value, path: "actions[\(name)].tracking", base: base, planLevel: false)
        else {
            ok = false
            return base
        }
        if merged.autoMigrateFormat, merged.format == .autoDetect {
            sink.error(
                reader.location(entry.value), "action '\(name)': tracking.autoMigrateFormat needs a concrete format",
                fix: "set format to name, hash or drizzle-kit")
            ok = false
        }
        return merged
    }

    /// The one key saying what the action does (migrate, sql, markApplied, sync).
    mutating func singleKind(_ entries: [Entry], location: SourceLocation, name: String) -> Entry? {
        let kinds = entries.filter { PlanCompiler.actionKindKeys.contains($0.key) }
        if kinds.count == 1 { return kinds[0] }
        if kinds.isEmpty {
            sink.error(
                location, "action '\(name)' has nothing to do",
                fix: "give it exactly one of: migrate: FOLDER, sql: {file|inline}, markApplied: FOLDER, "
                    + "sync: {folder: FOLDER, ...}")
        } else {
            sink.error(
                reader.location(kinds[1].keyNode), "action '\(name)' has both '\(kinds[0].key)' and '\(kinds[1].key)'",
                fix: "an action does one thing: split it into two actions")
        }
        return nil
    }

    mutating func compileKind(
        _ entry: Entry, upTo: Entry?, name: String, transaction: TransactionMode, transactionNode: Node?,
        ok: inout Bool
    ) -> ActionKind? {
        switch entry.key {
        case "markApplied":
            return compileMarkApplied(entry, upTo: upTo, name: name)
        case "sync":
            return compileSync(entry, name: name)
        case "migrate":
            guard let set = loadFolder(entry.value, path: "actions[\(name)].migrate") else { return nil }
            if transaction == .perAction {
                for migration in set.migrations where migration.noTransaction {
                    sink.error(
                        reader.location(transactionNode ?? entry.value),
                        "action '\(name)': migration '\(migration.name)' starts with `-- tenantplan: no-transaction`, "
                            + "which cannot run under `transaction: per-action`",
                        fix: "use transaction: per-migration, or move that migration to its own action")
                    ok = false
                }
            }
            return .migrate(set)
        default:
            return compileScript(entry.value, actionName: name).map(ActionKind.sql)
        }
    }

    /// `markApplied: FOLDER` with an optional `upTo`, which must name a migration of the folder.
    mutating func compileMarkApplied(_ entry: Entry, upTo: Entry?, name: String) -> ActionKind? {
        guard let set = loadFolder(entry.value, path: "actions[\(name)].markApplied") else { return nil }
        guard let upTo else { return .markApplied(set, upTo: nil) }
        guard let value = reader.nonEmptyString(upTo.value, path: "actions[\(name)].upTo", into: &sink) else {
            return nil
        }
        guard set.migrations.contains(where: { $0.name == value }) else {
            sink.error(
                reader.location(upTo.value), "action '\(name)': upTo '\(value)' is not a migration in '\(set.folder)'",
                fix: Suggestion.didYouMean(value, in: set.migrations.map(\.name))
                    ?? "name a migration of the folder, without .sql")
            return nil
        }
        return .markApplied(set, upTo: value)
    }

    /// `sync: { folder, markMissing, cleanOrphans }`.
    mutating func compileSync(_ entry: Entry, name: String) -> ActionKind? {
        let path = "actions[\(name)].sync"
        guard let entries = reader.mapping(entry.value, path: path, known: PlanCompiler.syncKeys, into: &sink) else {
            return nil
        }
        var folderNode: Node?
        var markMissing = false
        var cleanOrphans = false
        for item in entries {
            switch item.key {
            case "folder": folderNode = item.value
            case "markMissing": markMissing = reader.bool(item.value, path: "\(path).markMissing", into: &sink) ?? false
            default: cleanOrphans = reader.bool(item.value, path: "\(path).cleanOrphans", into: &sink) ?? false
            }
        }
        guard let folderNode else {
            sink.error(
                reader.location(entry.value), "action '\(name)': sync needs 'folder'",
                fix: "write sync: { folder: migrations/tenant, markMissing: true }")
            return nil
        }
        guard let set = loadFolder(folderNode, path: "\(path).folder") else { return nil }
        if !markMissing && !cleanOrphans {
            sink.warning(
                reader.location(entry.value),
                "action '\(name)': sync with neither markMissing nor cleanOrphans changes nothing",
                fix: "set markMissing: true and/or cleanOrphans: true")
        }
        return .sync(set, markMissing: markMissing, cleanOrphans: cleanOrphans)
    }

    mutating func loadFolder(_ node: Node, path key: String) -> MigrationSet? {
        guard let folder = reader.nonEmptyString(node, path: key, into: &sink) else { return nil }
        return MigrationLoader().load(
            folder: display(folder), absolutePath: resolve(folder), at: reader.location(node), into: &sink)
    }

    mutating func compileScript(_ node: Node, actionName: String) -> Migration? {
        let key = "actions[\(actionName)].sql"
        guard let entries = reader.mapping(node, path: key, known: PlanCompiler.scriptKeys, into: &sink) else {
            return nil
        }
        guard entries.count == 1 else {
            sink.error(
                reader.location(node), "'\(key)' needs exactly one of file, inline",
                fix: "write sql: { file: sql/x.sql } or sql: { inline: \"UPDATE ...\" }")
            return nil
        }
        let entry = entries[0]
        guard let value = reader.nonEmptyString(entry.value, path: "\(key).\(entry.key)", into: &sink) else {
            return nil
        }
        if entry.key == "inline" {
            return Migration(name: actionName, bytes: Array(value.utf8), source: "\(path) (action \(actionName))")
        }
        let absolute = resolve(value)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            sink.error(
                reader.location(entry.value), "sql file '\(display(value))' does not exist (looked at \(absolute))",
                fix: "paths are relative to the plan file")
            return nil
        }
        return Migration(name: actionName, bytes: [UInt8](data), source: absolute)
    }

    // MARK: graph

    /// Checks `after` references and cycles; returns the actions in a stable topological order.
    mutating func order(_ actions: [Action], declared: [String]) -> [Action]? {
        let names = actions.map(\.name)
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let declaredNames = Set(declared)
        var ok = true
        for action in actions {
            for dependency in action.after where !declaredNames.contains(dependency) {
                sink.error(
                    action.location,
                    "action '\(action.name)' is after '\(dependency)', which is not an action in this plan",
                    fix: Suggestion.didYouMean(dependency, in: names) ?? "actions: \(names.joined(separator: ", "))")
                ok = false
            }
            if action.after.contains(action.name) {
                sink.error(
                    action.location, "dependency cycle: \(action.name) -> \(action.name)",
                    fix: "an action cannot run after itself")
                ok = false
            }
        }
        // Cycle detection (DFS along `after` edges), reporting each cycle once.
        var state = [Int](repeating: 0, count: actions.count)  // 0 new, 1 on stack, 2 done
        var stack: [Int] = []
        var reported = Set<Set<Int>>()
        func visit(_ node: Int, _ sink: inout DiagnosticSink) {
            state[node] = 1
            stack.append(node)
            for dependency in actions[node].after {
                guard let next = index[dependency], next != node else { continue }
                if state[next] == 1 {
                    let cycle = Array(stack[stack.lastIndex(of: next)!...])
                    if reported.insert(Set(cycle)).inserted {
                        let path = (cycle + [next]).map { actions[$0].name }.joined(separator: " -> ")
                        sink.error(
                            actions[next].location, "dependency cycle: \(path)",
                            fix: "each arrow reads 'is after'; remove one of these `after` entries")
                    }
                } else if state[next] == 0 {
                    visit(next, &sink)
                }
            }
            stack.removeLast()
            state[node] = 2
        }
        for node in actions.indices where state[node] == 0 { visit(node, &sink) }
        guard ok, reported.isEmpty, actions.count == declared.count else { return nil }
        // Kahn's algorithm, picking the earliest-declared ready action each time.
        var remaining = actions.map { Set($0.after.compactMap { index[$0] }) }
        var done = [Bool](repeating: false, count: actions.count)
        var ordered: [Action] = []
        while ordered.count < actions.count {
            guard let next = actions.indices.first(where: { !done[$0] && remaining[$0].isEmpty }) else { return nil }
            done[next] = true
            ordered.append(actions[next])
            for i in remaining.indices { remaining[i].remove(next) }
        }
        return ordered
    }
}
