import Foundation
import Logging
import TenantPlanPostgres
import TenantPlanSpec

/// What tenantplan logs about its own connections, through swift-log (label `tenantplan`): with
/// `debug.logQueries` every statement, with `debug.logPoolEvents` the pool's connects, reuses,
/// recycles, closes and waits, and always a `SLOW_QUERY` warning for a statement slower than
/// `debug.slowQueryThreshold`. Each line carries the tenant, schema and migration the connection
/// works for, the duration, and the query with its constants replaced by PostgreSQL's parser
/// (`$1`…), cut to `queryLimit` characters: never a password or a long literal.
public struct RunLogging: Sendable {
    public var settings: DebugSettings
    public var logger: Logger

    /// Longest query text in a log line.
    public static let queryLimit = 300

    public init(_ settings: DebugSettings, logger: Logger = Logger(label: "tenantplan")) {
        self.settings = settings
        self.logger = logger
    }

    /// The query as logs show it.
    public static func shown(_ sql: String) -> String {
        let text = (SQLParser.normalized(sql) ?? "<not parsed: \(sql.utf8.count) bytes>")
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return text.count > queryLimit ? String(text.prefix(queryLimit)) + "…" : text
    }

    var queryObserver: (@Sendable (PGConnection.QueryRecord) -> Void)? {
        let (settings, logger) = (self.settings, self.logger)
        let threshold = settings.slowQueryThreshold.milliseconds
        guard settings.logQueries || threshold > 0 else { return nil }
        return { record in
            let milliseconds =
                Int64(record.duration.components.seconds * 1000)
                + record.duration.components.attoseconds / 1_000_000_000_000_000
            let slow = threshold > 0 && milliseconds >= threshold
            guard slow || settings.logQueries else { return }
            var metadata: Logger.Metadata = record.labels.mapValues { .string($0) }
            metadata["duration"] = "\(milliseconds)ms"
            metadata["query"] = .string(RunLogging.shown(record.sql))
            if let error = record.error { metadata["sqlstate"] = .string(error.sqlstate ?? "none") }
            if slow {
                logger.warning("SLOW_QUERY", metadata: metadata)
            } else {
                logger.info("query", metadata: metadata)
            }
        }
    }

    var poolObserver: (@Sendable (_ event: String, _ milliseconds: Int?) -> Void)? {
        guard settings.logPoolEvents else { return nil }
        let logger = self.logger
        return { event, milliseconds in
            var metadata: Logger.Metadata = ["event": .string(event)]
            if let milliseconds { metadata["duration"] = "\(milliseconds)ms" }
            logger.info("pool", metadata: metadata)
        }
    }
}
