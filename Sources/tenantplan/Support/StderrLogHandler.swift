import ArgumentParser
import Foundation
import Logging

/// swift-log to stderr: `2026-11-29T18:00:00Z warning tenantplan: SLOW_QUERY duration=1204ms …`,
/// or with `--log-format json` one JSON object per line, like every other stderr line then.
struct StderrLogHandler: LogHandler {
    /// The level of every handler (`--log-level`), read at each log call.
    nonisolated(unsafe) static var level: Logger.Level = .info

    var logLevel: Logger.Level {
        get { Self.level }
        set { Self.level = newValue }
    }
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let label: String

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if Console.jsonLines {
            var fields = all.mapValues { "\($0)" }
            fields["level"] = event.level.rawValue
            fields["message"] = "\(event.message)"
            fields["label"] = label
            Console.jsonLine(fields)
            return
        }
        let pairs = all.keys.sorted().map { key -> String in
            let value = "\(all[key]!)"
            return key + "=" + (value.contains(" ") || value.contains("\"") ? Self.quoted(value) : value)
        }
        let line =
            ([ISO8601DateFormatter().string(from: Date()), event.level.rawValue, "\(label): \(event.message)"]
            + pairs).joined(separator: " ")
        Console.write(Data((line + "\n").utf8), to: .standardError)
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Sends swift-log here (once per process, before any logger exists); `--log-level` and
    /// `--log-format` set `level` and `Console.jsonLines` later.
    static func bootstrap() {
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label) }
    }
}

/// `--log-level`.
enum LogLevel: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, warning, error

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}
