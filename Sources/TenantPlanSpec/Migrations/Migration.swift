import Crypto
import Foundation

/// One migration file (or one `sql` action script), ready to run.
public struct Migration: Sendable, Hashable {
    /// The file name without `.sql` (or the action name for an `sql` action).
    public var name: String
    /// Lowercase hex SHA-256 of the exact bytes (what drizzle-orm records).
    public var hash: String
    /// The file's text.
    public var sql: String
    /// Statements split on `--> statement-breakpoint` (a file without one is a single entry), or,
    /// for a no-transaction migration the parser read, one entry per statement.
    public var statements: [String]
    /// Where each statement starts in the file, in characters (Unicode scalars, as PostgreSQL counts).
    public var statementOffsets: [Int]
    /// The file's text with each breakpoint marker replaced by `;` and spaces of the same length:
    /// sent in one round trip, its error positions are positions in the file.
    public var batchText: String
    /// The first line is `-- tenantplan: no-transaction`.
    public var noTransaction: Bool
    /// The leading comments hold `-- tenantplan: no-parse`: the parser does not check the file
    /// (syntax newer than its grammar), and it is sent to the server on its own.
    public var skipsParser: Bool
    /// drizzle-kit journal `when` (milliseconds since the epoch), when the folder has a journal.
    public var when: Int64?
    /// Where the migration came from (file path), for messages.
    public var source: String

    public init(name: String, bytes: [UInt8], when: Int64? = nil, source: String) {
        self.name = name
        self.hash = Hashing.sha256Hex(bytes)
        self.sql = String(decoding: bytes, as: UTF8.self)
        let pieces = StatementSplitter.splitWithOffsets(sql)
        self.statements = pieces.map(\.text)
        self.statementOffsets = pieces.map(\.offset)
        self.batchText = StatementSplitter.batchText(sql)
        self.noTransaction = StatementSplitter.hasNoTransactionDirective(sql)
        self.skipsParser = StatementSplitter.directives(sql).contains(MigrationCheck.noParseDirective)
        self.when = when
        self.source = source
    }
}

/// The ordered migrations of one folder.
public struct MigrationSet: Sendable {
    /// The folder as written in the plan (relative to the plan file).
    public var folder: String
    /// The folder's absolute path.
    public var path: String
    public var migrations: [Migration]
    /// The folder has a drizzle-kit `meta/_journal.json`.
    public var hasJournal: Bool
}

/// Digest helpers: lowercase hex, as PostgreSQL's `md5()` and `encode(sha256(...), 'hex')` print.
public enum Hashing {
    /// MD5, for telling whether a table changed (`TrackingState.digest`), never for security.
    public static func md5Hex<D: DataProtocol>(_ bytes: D) -> String {
        hex(Insecure.MD5.hash(data: bytes))
    }

    public static func sha256Hex<D: DataProtocol>(_ bytes: D) -> String {
        hex(SHA256.hash(data: bytes))
    }

    private static func hex<S: Sequence<UInt8>>(_ bytes: S) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Migration {
    /// Runs each statement of a migration that runs outside a transaction (a no-transaction
    /// migration, or any under `transaction: none`: `autocommit`) on its own: the statements the
    /// parser found, with their character offsets in the file.
    mutating func splitByParser(autocommit: Bool = false) {
        guard noTransaction || autocommit, !skipsParser, case .success(let parsed) = SQLParser.parse(batchText),
            parsed.count > 1
        else {
            return
        }
        let bytes = Array(batchText.utf8)
        var pieces: [(String, Int)] = []
        var characters = 0
        var counted = 0
        for statement in parsed {
            // As the parser delimits it (nested comments and all), from its first token; character
            // offsets counted once through the text, not from its start for each statement.
            let range = statement.byteOffset..<max(statement.byteOffset, statement.byteRange.upperBound)
            characters += String(decoding: bytes[counted..<range.lowerBound], as: UTF8.self).unicodeScalars.count
            counted = range.lowerBound
            let text = String(decoding: bytes[range], as: UTF8.self)
            if !text.allSatisfy({ $0.isWhitespace || $0 == ";" }) { pieces.append((text, characters)) }
        }
        statements = pieces.map(\.0)
        statementOffsets = pieces.map(\.1)
    }
}
