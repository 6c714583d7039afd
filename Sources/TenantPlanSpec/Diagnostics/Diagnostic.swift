/// A position in a plan or migration file, 1-based, as editors count it.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found while loading or compiling a plan, with where it is and how to fix it.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var location: SourceLocation
    public var message: String
    /// A short suggestion ("did you mean 'concurrency'?"), printed in parentheses after the message.
    public var fix: String?

    public init(_ severity: Severity = .error, at location: SourceLocation, _ message: String, fix: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.fix = fix
    }

    /// `FILE:LINE:COL: error: MESSAGE (FIX)`, the way compilers print findings.
    public var description: String {
        var text = "\(location): \(severity.rawValue): \(message)"
        if let fix { text += " (\(fix))" }
        return text
    }
}

/// Thrown when a plan cannot be compiled; carries every problem found, not just the first.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// Collects diagnostics in the order they are found.
struct DiagnosticSink {
    var diagnostics: [Diagnostic] = []

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    mutating func error(_ location: SourceLocation, _ message: String, fix: String? = nil) {
        diagnostics.append(Diagnostic(.error, at: location, message, fix: fix))
    }

    mutating func warning(_ location: SourceLocation, _ message: String, fix: String? = nil) {
        diagnostics.append(Diagnostic(.warning, at: location, message, fix: fix))
    }
}
