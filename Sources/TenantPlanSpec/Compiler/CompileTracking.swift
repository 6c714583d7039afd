import Foundation
import Yams

/// Compiling a plan, tracking: table, schema and format settings.
extension Compilation {

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
                trackingSchemaLocations[key] = reader.location(entry.value)
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
                fix: "set tracking.format to name, hash, drizzle-kit or tenantplan")
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
                    ?? "use name, hash, drizzle-kit or tenantplan")
            return nil
        }
        return format
    }
}
