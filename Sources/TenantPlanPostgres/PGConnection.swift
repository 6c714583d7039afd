import CLibPQ
import Foundation

/// A libpq connection. Every call blocks the calling thread: use it through `PGSession`,
/// which runs it on a thread of its own, never on Swift's cooperative pool.
public final class PGConnection: @unchecked Sendable {
    let handle: OpaquePointer
    private let cancelHandle: OpaquePointer?
    private let cancelLock = NSLock()
    private var abandoned = false

    /// Connects with a libpq URI or `key=value` conninfo (PG* variables, .pgpass and service
    /// files apply as in psql). `overrides` are extra keywords such as `application_name`.
    public static func connect(_ conninfo: String, overrides: [String: String] = [:]) throws(PostgresError)
        -> PGConnection
    {
        var keys = ["dbname"] + overrides.keys.sorted()
        var values = [conninfo] + overrides.keys.sorted().map { overrides[$0]! }
        if conninfo.isEmpty {
            keys.removeFirst()
            values.removeFirst()
        }
        let handle: OpaquePointer? = keys.withCStrings { keyPointers in
            values.withCStrings { valuePointers in
                PQconnectdbParams(keyPointers, valuePointers, conninfo.isEmpty ? 0 : 1)
            }
        }
        guard let handle else { throw PostgresError(kind: .connection, message: "out of memory creating a connection") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines()
            PQfinish(handle)
            throw PostgresError(kind: .connection, message: ConnInfo.redact(message, conninfo: conninfo))
        }
        return PGConnection(handle: handle)
    }

    private init(handle: OpaquePointer) {
        self.handle = handle
        self.cancelHandle = PQgetCancel(handle)
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit {
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        PQfinish(handle)
    }

    public var isHealthy: Bool {
        PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE
    }

    /// A transaction is open (possibly failed).
    public var inTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// Runs one or more statements with the simple query protocol and returns the last result.
    /// On error, the rest of a multi-statement text is skipped by the server.
    @discardableResult
    public func exec(_ sql: String) throws(PostgresError) -> PGResult {
        let outcome = execAll(sql)
        if let error = outcome.error { throw error }
        guard let last = outcome.results.last else {
            throw PostgresError(kind: .client, message: "empty query")
        }
        return last
    }

    /// Runs one statement with `$1...` text parameters (extended protocol; values never touch the SQL text).
    @discardableResult
    public func exec(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> PGResult {
        let started = ContinuousClock.now
        let raw: OpaquePointer? = parameters.withOptionalCStrings { pointers in
            PQexecParams(handle, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        do {
            let result = try check(raw)
            observe(sql, since: started, error: nil)
            return result
        } catch {
            observe(sql, since: started, error: error)
            throw wasAbandoned ? Self.abandonedError : error
        }
    }

    /// One round trip, as an observer sees it (for query logs and slow-query warnings).
    public struct QueryRecord: Sendable {
        public var sql: String
        public var duration: Duration
        public var error: PostgresError?
        /// What the connection is doing (`tenant`, `schema`, `migration`), set by its user.
        public var labels: [String: String]
    }

    /// Told of every round trip, after it (on the connection's thread).
    public var observer: (@Sendable (QueryRecord) -> Void)?
    /// Labels for the observer; set by whoever uses the connection.
    public var labels: [String: String] = [:]

    private func observe(_ sql: String, since started: ContinuousClock.Instant, error: PostgresError?) {
        guard let observer else { return }
        observer(QueryRecord(sql: sql, duration: ContinuousClock.now - started, error: error, labels: labels))
    }

    /// The outcome of a multi-statement text: results of the statements that succeeded, then the error, if any.
    public struct MultiOutcome: Sendable {
        public var results: [PGResult]
        public var error: PostgresError?
    }

    /// Sends a (possibly multi-statement) text in one round trip and collects every result.
    public func execAll(_ sql: String) -> MultiOutcome {
        let started = ContinuousClock.now
        let outcome = collect(sql)
        observe(sql, since: started, error: outcome.error)
        return outcome
    }

    private func collect(_ sql: String) -> MultiOutcome {
        var outcome = MultiOutcome(results: [], error: nil)
        guard PQsendQuery(handle, sql) == 1 else {
            outcome.error = PostgresError(result: nil, connection: handle)
            return outcome
        }
        while let raw = PQgetResult(handle) {
            let status = PQresultStatus(raw)
            switch status {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                // After a COPY the client refused, the server goes on with the rest of the text: those
                // results come after the error, and must not count as statements before it.
                if outcome.error == nil { outcome.results.append(PGResult(raw)) } else { PQclear(raw) }
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                PQclear(raw)
                if outcome.error == nil {
                    outcome.error = PostgresError(
                        kind: .client,
                        message: "COPY ... FROM STDIN / TO STDOUT streams data through the client, which tenantplan "
                            + "does not do")
                }
                endCopy(status)
            default:
                if outcome.error == nil { outcome.error = PostgresError(result: raw, connection: handle) }
                PQclear(raw)
            }
        }
        if outcome.error == nil, PQstatus(handle) == CONNECTION_BAD {
            outcome.error = PostgresError(result: nil, connection: handle)
        }
        if outcome.error != nil, wasAbandoned { outcome.error = Self.abandonedError }
        return outcome
    }

    /// Leaves a COPY state without hanging: COPY FROM STDIN is ended with an error (the server
    /// aborts the statement); the data of COPY TO STDOUT is read and dropped until it ends.
    private func endCopy(_ status: ExecStatusType) {
        if status == PGRES_COPY_IN {
            PQputCopyEnd(handle, "tenantplan does not stream COPY data")
            return
        }
        var buffer: UnsafeMutablePointer<CChar>?
        while PQgetCopyData(handle, &buffer, 0) > 0 {
            PQfreemem(buffer)
            buffer = nil
        }
    }

    private func check(_ raw: OpaquePointer?) throws(PostgresError) -> PGResult {
        guard let raw else { throw PostgresError(result: nil, connection: handle) }
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PGResult(raw)
        default:
            let error = PostgresError(result: raw, connection: handle)
            PQclear(raw)
            throw error
        }
    }

    /// Closes the connection's socket under whatever call is blocked on it, which then returns with
    /// the connection lost (`abandonedError`): for a server that does not answer a cancel request (a
    /// hung host, a network gone silent). The server rolls back what did not commit once it notices.
    /// Safe from any thread.
    public func abandon() {
        cancelLock.lock()
        abandoned = true
        cancelLock.unlock()
        let socket = PQsocket(handle)
        if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private var wasAbandoned: Bool {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        return abandoned
    }

    static let abandonedError = PostgresError(
        kind: .connection,
        message: "interrupted, and the server did not end the statement when asked: tenantplan closed the connection "
            + "(the server rolls back what did not commit)")

    /// Asks the server to cancel the statement running on this connection. Safe from any thread.
    public func cancel() {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        guard let cancelHandle else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancelHandle, &buffer, 256)
    }

    /// `"name"` with embedded quotes doubled, via `PQescapeIdentifier`.
    public func quoteIdentifier(_ identifier: String) -> String {
        guard let escaped = PQescapeIdentifier(handle, identifier, identifier.utf8.count) else {
            return SQL.quoteIdentifier(identifier)
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }
}

/// Quoting helpers that need no connection (UTF-8 client encoding assumed, as tenantplan sets it).
public enum SQL {
    /// A double-quoted identifier, embedded quotes doubled.
    public static func quoteIdentifier(_ identifier: String) -> String {
        quoted(identifier, by: UInt8(ascii: "\""))
    }

    /// A single-quoted literal, embedded quotes doubled (standard_conforming_strings is on
    /// in every supported server; backslashes are therefore literal).
    public static func quoteLiteral(_ value: String) -> String {
        quoted(value, by: UInt8(ascii: "'"))
    }

    /// `text` between two `quote`s, each `quote` in it doubled. Byte by byte: the quote is ASCII,
    /// so it never occurs inside a multi-byte UTF-8 sequence (this runs for every statement sent).
    private static func quoted(_ text: String, by quote: UInt8) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        bytes.append(quote)
        for byte in text.utf8 {
            bytes.append(byte)
            if byte == quote { bytes.append(quote) }
        }
        bytes.append(quote)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Reading a conninfo without ever exposing its password.
public enum ConnInfo {
    /// Host, port and database name that a conninfo names (after libpq defaults), for reports.
    public struct Target: Sendable, Codable, Equatable {
        public var host: String?
        public var port: String?
        public var dbname: String?
        public var user: String?

        public init(host: String? = nil, port: String? = nil, dbname: String? = nil, user: String? = nil) {
            self.host = host
            self.port = port
            self.dbname = dbname
            self.user = user
        }
    }

    /// Parses a conninfo with `PQconninfoParse`; returns nil with libpq's message when it is malformed.
    public static func parse(_ conninfo: String) -> Result<[String: String], PostgresError> {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
            if let errorMessage { PQfreemem(errorMessage) }
            // Not `redact`: it parses, and this conninfo does not parse.
            let text = redactUnparsed(message.trimmingTrailingNewlines(), conninfo: conninfo)
            return .failure(PostgresError(kind: .client, message: "invalid database.url: " + text))
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            cursor += 1
        }
        return .success(values)
    }

    /// Where a live connection points.
    public static func target(of connection: PGConnection) -> Target {
        func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }
        return Target(
            host: text(PQhost(connection.handle)), port: text(PQport(connection.handle)),
            dbname: text(PQdb(connection.handle)), user: text(PQuser(connection.handle)))
    }

    /// Replaces any password the conninfo holds (and the conninfo itself) in a message.
    public static func redact(_ message: String, conninfo: String) -> String {
        var text = message
        if case .success(let values) = parse(conninfo), let password = values["password"], !password.isEmpty {
            text = text.replacingOccurrences(of: password, with: "********")
        }
        return redactUnparsed(text, conninfo: conninfo)
    }

    /// Redacts without parsing (for a conninfo libpq refused): the URI's `user:password@`, and
    /// whatever follows `password=` up to the next space.
    static func redactUnparsed(_ message: String, conninfo: String) -> String {
        var text = message
        var rest = conninfo[...]
        while let key = rest.range(of: "password") {
            var value = rest[key.upperBound...].drop { $0 == " " }
            guard value.first == "=" else {
                rest = rest[key.upperBound...]
                continue
            }
            value = value.dropFirst().drop { $0 == " " }
            let password = value.prefix { $0 != " " && $0 != "&" }.trimmingCharacters(
                in: CharacterSet(charactersIn: "'"))
            if !password.isEmpty { text = text.replacingOccurrences(of: password, with: "********") }
            rest = value
        }
        // A URI's `user:password@`: up to the last `@` before the path, since an unencoded `@` may
        // stand in the password; each `@`-separated piece of it is redacted too (libpq may quote a piece
        // as a host name).
        if let range = conninfo.range(of: "://") {
            let authority = conninfo[range.upperBound...].prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                let password = String(authority[authority.index(after: colon)..<at])
                for secret in [password] + password.split(separator: "@").map(String.init) where secret.count >= 3 {
                    text = text.replacingOccurrences(of: secret, with: "********")
                }
            }
        }
        return text
    }
}

extension Array where Element == String {
    func withCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let duplicates: [UnsafeMutablePointer<CChar>?] = map { strdup($0) }
        defer { for pointer in duplicates { free(pointer) } }
        let pointers = duplicates.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

extension Array where Element == String? {
    func withOptionalCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let duplicates: [UnsafeMutablePointer<CChar>?] = map { value in value.flatMap { strdup($0) } }
        defer { for pointer in duplicates { free(pointer) } }
        let pointers: [UnsafePointer<CChar>?] = duplicates.map { $0.map { UnsafePointer($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
