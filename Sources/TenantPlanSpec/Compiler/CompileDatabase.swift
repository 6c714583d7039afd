import Foundation
import Yams

/// Compiling a plan, database: connection settings and the run's limits.
extension Compilation {

    mutating func compileDatabase(_ node: Node?) -> (
        settings: DatabaseSettings, maxConnectionsLocation: SourceLocation
    )? {
        var settings = DatabaseSettings(
            url: "", urlLocation: SourceLocation(file: path, line: 1, column: 1), maxConnections: 10,
            applicationName: "tenantplan", statementTimeout: .zero, lockTimeout: .zero,
            retry: RetrySettings(), recycleAfter: nil)
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
                checkVariables(url, key: key, at: settings.urlLocation)
            case "directUrl":
                guard let url = reader.string(entry.value, path: key, into: &sink) else { continue }
                settings.directUrl = url
                settings.directUrlLocation = reader.location(entry.value)
                checkVariables(url, key: key, at: reader.location(entry.value))
            case "pooler":
                let choices = Dictionary(uniqueKeysWithValues: Pooler.allCases.map { ($0.rawValue, $0) })
                settings.pooler = reader.oneOf(entry.value, path: key, choices: choices, into: &sink) ?? .none
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
            case "lockWait":
                settings.lockWait = reader.duration(entry.value, path: key, into: &sink) ?? .zero
            case "recycleAfter":
                settings.recycleAfter = reader.int(entry.value, path: key, range: 1...Int.max, into: &sink)
            case "recycleAboveMB":
                settings.recycleAboveMB =
                    reader.int(entry.value, path: key, range: 0...1_000_000, into: &sink) ?? settings.recycleAboveMB
            case "retry":
                settings.retry = compileRetry(entry.value) ?? settings.retry
            default:
                break
            }
        }
        return (settings, maxLocation)
    }

    /// Reports the `${VAR}`s of a URL that the environment does not set.
    mutating func checkVariables(_ url: String, key: String, at location: SourceLocation) {
        for name in EnvironmentExpander(environment: options.environment).expand(url).unset {
            let message = "environment variable '\(name)' in \(key) is not set"
            let fix = "export \(name)=... or write ${\(name):-default}"
            if options.unsetVariablesAreErrors {
                sink.error(location, message, fix: fix)
            } else {
                sink.warning(location, message, fix: fix)
            }
        }
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
            case "jitter":
                let choices = Dictionary(uniqueKeysWithValues: RetrySettings.Jitter.allCases.map { ($0.rawValue, $0) })
                retry.jitter = reader.oneOf(entry.value, path: key, choices: choices, into: &sink) ?? retry.jitter
            default: break
            }
        }
        return retry
    }
}
