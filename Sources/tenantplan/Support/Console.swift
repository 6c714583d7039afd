import Foundation

/// Writes to stdout / stderr without buffering surprises. A closed pipe (`tenantplan apply … |
/// head -1`) loses the output, never the run: SIGPIPE is ignored (see `Main`) and write errors
/// are dropped here, so the run finishes and writes its report.
enum Console {
    static func out(_ text: String) {
        write(Data((text + "\n").utf8), to: .standardOutput)
    }

    static func error(_ text: String) {
        guard !jsonLines else {
            let level = text.hasPrefix("warning: ") ? "warning" : text.hasPrefix("error: ") ? "error" : "info"
            jsonLine(["level": level, "message": text])
            return
        }
        write(Data((text + "\n").utf8), to: .standardError)
    }

    /// `--log-format json`: every line on stderr is a JSON object (progress and summary included).
    nonisolated(unsafe) static var jsonLines = false

    /// One JSON object on one line on stderr, with a `ts`.
    static func jsonLine(_ fields: [String: String]) {
        var fields = fields
        fields["ts"] = ISO8601DateFormatter().string(from: Date())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(fields) else { return }
        data.append(0x0A)
        write(data, to: .standardError)
    }

    /// Raw bytes (the live progress line's escape codes) to stderr.
    static func raw(_ text: String) {
        guard !jsonLines else { return }
        write(Data(text.utf8), to: .standardError)
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 && !jsonLines }

    /// Pretty, sorted JSON on stdout.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        write(try encoder.encode(value), to: .standardOutput)
        out("")
    }

    static func write(_ data: Data, to handle: FileHandle) {
        try? handle.write(contentsOf: data)
    }
}
