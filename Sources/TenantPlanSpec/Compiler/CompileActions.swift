import Foundation
import Yams

/// Compiling a plan, actions: scope, kind, transaction, per-action tracking, folders and scripts.
extension Compilation {

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
        if !scope.isShared { checkTenantTrackingSchema(actionTracking, action: name, ok: &ok) }
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
        var keyedByName = false
        if case .fixed(let format) = actionTracking.format { keyedByName = !format.usesHash }
        if !keyedByName, !checkDistinctHashes(kind, at: reader.location(kindEntry.value), action: name) { return nil }
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
                fix: "set format to name, hash, drizzle-kit or tenantplan")
            ok = false
        }
        return merged
    }

    /// A tenant action's tracking schema must differ per tenant (`{schema}` or `{id}`): a fixed
    /// one makes every tenant share one table, and the first tenant's rows make the rest look migrated.
    mutating func checkTenantTrackingSchema(_ tracking: TrackingSettings, action name: String, ok: inout Bool) {
        guard !tracking.schema.contains("{schema}"), !tracking.schema.contains("{id}") else { return }
        let location =
            trackingSchemaLocations["actions[\(name)].tracking"] ?? trackingSchemaLocations["tracking"]
            ?? SourceLocation(file: path, line: 1, column: 1)
        ok = false
        guard reportedFixedSchemas.insert(location).inserted else { return }
        sink.error(
            location,
            "tracking.schema '\(tracking.schema)' is the same for every tenant (action '\(name)' runs per tenant): "
                + "every tenant would share one tracking table, and the first tenant's rows would make the others "
                + "look migrated",
            fix: "put {schema} or {id} in it, like \"{schema}\" (the default) or \"tracking_{id}\"")
    }

    /// Actions recording in one hash-keyed table (same scope, table and schema template) share its
    /// hashes: a file of one with the same bytes as a file (or script) of another would count as
    /// applied without ever running. (Within one folder, `checkDistinctHashes` says it.)
    mutating func checkSharedTableHashes(_ actions: [Action]) {
        let hashed = actions.filter { action in
            if case .fixed(let format) = action.tracking.format { return format.usesHash }
            return true
        }
        let groups = Dictionary(grouping: hashed) { action in
            "\(action.scope.isShared ? "shared:\(action.sharedSchemaName)" : "tenants")/\(action.tracking.schema)/"
                + action.tracking.table
        }
        for group in groups.values where group.count > 1 {
            var first: [String: (action: String, migration: String)] = [:]
            for action in group.sorted(by: {
                ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column)
            }) {
                for migration in action.migrations {
                    // The same file in two actions (a markApplied baseline of a migrated folder) is no clash.
                    if let earlier = first[migration.hash], earlier.action != action.name,
                        earlier.migration != migration.name
                    {
                        sink.error(
                            action.location,
                            "action '\(action.name)': \(migration.name) has the same bytes as \(earlier.migration) of "
                                + "action '\(earlier.action)', and both record in one hash-keyed tracking table: "
                                + "it would "
                                + "count as applied without ever running",
                            fix: "make the files differ (a comment is enough), give one action its own tracking.table, "
                                + "or track by name (tracking.format: name or tenantplan)")
                    } else if first[migration.hash] == nil {
                        first[migration.hash] = (action.name, migration.name)
                    }
                }
            }
        }
    }

    /// In the hash formats a migration is recorded by its file's hash: two files with the same
    /// bytes share it, and the second would count as applied and never run.
    mutating func checkDistinctHashes(_ kind: ActionKind, at location: SourceLocation, action name: String) -> Bool {
        let set: MigrationSet
        switch kind {
        case .migrate(let folder), .markApplied(let folder, _), .sync(let folder, _, _): set = folder
        case .sql: return true
        }
        var first: [String: Migration] = [:]
        var ok = true
        for migration in set.migrations {
            guard let earlier = first[migration.hash] else {
                first[migration.hash] = migration
                continue
            }
            sink.error(
                location,
                "action '\(name)': \(migration.name) has the same bytes as \(earlier.name), so in the hash tracking "
                    + "formats it shares its hash and would count as applied without ever running",
                fix: "make the files differ (a comment naming the migration is enough), or track by name "
                    + "(tracking.format: name or tenantplan)")
            ok = false
        }
        return ok
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
            guard
                let set = loadFolder(
                    entry.value, path: "actions[\(name)].migrate", inTransactions: transaction != .none)
            else { return nil }
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
            return compileScript(entry.value, actionName: name, inTransactions: transaction != .none).map(
                ActionKind.sql)
        }
    }

    /// `markApplied: FOLDER` with an optional `upTo`, which must name a migration of the folder.
    mutating func compileMarkApplied(_ entry: Entry, upTo: Entry?, name: String) -> ActionKind? {
        guard let set = loadFolder(entry.value, path: "actions[\(name)].markApplied", inTransactions: false) else {
            return nil
        }
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
        guard let set = loadFolder(folderNode, path: "\(path).folder", inTransactions: false) else { return nil }
        if !markMissing && !cleanOrphans {
            sink.warning(
                reader.location(entry.value),
                "action '\(name)': sync with neither markMissing nor cleanOrphans changes nothing",
                fix: "set markMissing: true and/or cleanOrphans: true")
        }
        return .sync(set, markMissing: markMissing, cleanOrphans: cleanOrphans)
    }

    /// `inTransactions`: the folder's migrations run inside transactions (not under `transaction:
    /// none`, and not when they are only recorded), so what cannot run in one is refused.
    mutating func loadFolder(_ node: Node, path key: String, inTransactions: Bool = true) -> MigrationSet? {
        guard let folder = reader.nonEmptyString(node, path: key, into: &sink) else { return nil }
        return MigrationLoader(inTransactions: inTransactions).load(
            folder: display(folder), absolutePath: resolve(folder), at: reader.location(node), into: &sink)
    }

    mutating func compileScript(_ node: Node, actionName: String, inTransactions: Bool = true) -> Migration? {
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
            var inline = DiagnosticSink()
            let migration = MigrationLoader.checked(
                actionName, bytes: Array(value.utf8), source: "\(path) (action \(actionName))", display: key,
                inTransactions: inTransactions, into: &inline)
            // Positions are in the inline text: report them at the key, naming the line.
            for diagnostic in inline.diagnostics {
                sink.error(
                    reader.location(entry.value),
                    "\(key).inline, line \(diagnostic.location.line): \(diagnostic.message)", fix: diagnostic.fix)
            }
            return migration
        }
        let absolute = resolve(value)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            sink.error(
                reader.location(entry.value), "sql file '\(display(value))' does not exist (looked at \(absolute))",
                fix: "paths are relative to the plan file")
            return nil
        }
        return MigrationLoader.checked(
            actionName, bytes: [UInt8](data), source: absolute, display: display(value), inTransactions: inTransactions,
            into: &sink)
    }
}
