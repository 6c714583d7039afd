import CLibPQ

/// An error from libpq or the server, with the fields PostgreSQL reports.
/// Never carries the connection string, so it is safe to print and to put in reports.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Could not connect (or the connection was lost).
        case connection
        /// The server rejected a statement.
        case server
        /// The statement was canceled (Ctrl-C or statement_timeout).
        case canceled
        /// Misuse or an unexpected libpq state.
        case client
    }

    public var kind: Kind
    public var sqlstate: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// 1-based character position in the statement, as the server reports it.
    public var position: Int?
    public var severity: String?

    public init(
        kind: Kind, message: String, sqlstate: String? = nil, detail: String? = nil, hint: String? = nil,
        position: Int? = nil, severity: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint
        self.position = position
        self.severity = severity
    }

    init(result: OpaquePointer?, connection: OpaquePointer?) {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlstate = field(Int32(UInt8(ascii: "C")))  // PG_DIAG_SQLSTATE
        let primary = field(Int32(UInt8(ascii: "M")))  // PG_DIAG_MESSAGE_PRIMARY
        let fallback = connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "unknown error"
        let message = (primary ?? fallback).trimmingTrailingNewlines()
        var kind: Kind = sqlstate == nil ? .connection : .server
        if sqlstate == "57014" { kind = .canceled }
        if let connection, PQstatus(connection) == CONNECTION_BAD { kind = .connection }
        self.init(
            kind: kind, message: message, sqlstate: sqlstate,
            detail: field(Int32(UInt8(ascii: "D"))), hint: field(Int32(UInt8(ascii: "H"))),
            position: field(Int32(UInt8(ascii: "P"))).flatMap { Int($0) },
            severity: field(Int32(UInt8(ascii: "V"))))
    }

    public var description: String {
        var text = message
        if let sqlstate { text = "\(text) (SQLSTATE \(sqlstate))" }
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        return text
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }
}
