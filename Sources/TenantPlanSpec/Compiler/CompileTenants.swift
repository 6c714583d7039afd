import Foundation
import Yams

/// Compiling a plan, tenants: discovery, schema template, filters, search path.
extension Compilation {

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
}
