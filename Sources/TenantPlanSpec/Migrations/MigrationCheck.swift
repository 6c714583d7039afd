import Foundation

/// What a migration file may not hold, found offline with PostgreSQL's own parser: syntax
/// errors, transaction control, `COPY` through the client, statements that cannot run in a
/// transaction (unless the file is a no-transaction migration), psql meta-commands, NUL bytes
/// and invalid UTF-8. Each problem has a byte offset in the file and a fix.
public enum MigrationCheck {
    public struct Problem: Sendable, Equatable {
        public var byteOffset: Int
        public var message: String
        public var fix: String?
    }

    /// The directive that skips the parser for one file (syntax newer than the bundled grammar).
    public static let noParseDirective = "-- tenantplan: no-parse"

    /// NUL bytes and invalid UTF-8: the server would run other bytes than were hashed.
    public static func encodingProblem(_ bytes: [UInt8]) -> Problem? {
        if let nul = bytes.firstIndex(of: 0) {
            return Problem(
                byteOffset: nul,
                message: "the file holds a NUL byte (at byte \(nul)); PostgreSQL cannot take it as SQL",
                fix: "remove it (is this a binary or UTF-16 file?)")
        }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
            case .emptyInput:
                return nil
            case .error:
                return Problem(
                    byteOffset: offset, message: "the file is not valid UTF-8 (at byte \(offset))",
                    fix: "save it as UTF-8")
            }
        }
    }

    /// What the parser finds in `migration` (none for a file with the no-parse directive).
    /// `inTransaction`: it runs inside a transaction block.
    public static func problems(_ migration: Migration, inTransaction: Bool) -> [Problem] {
        var problems = directiveProblems(migration.sql)
        guard !migration.skipsParser else { return problems }
        switch SQLParser.parse(migration.batchText) {
        case .failure(let error):
            problems.append(syntaxProblem(error, text: migration.batchText))
        case .success(let statements):
            problems += statements.compactMap { problem($0, inTransaction: inTransaction) }
        }
        return problems
    }

    /// The no-transaction directive works on the file's first line only (the plan contract): one
    /// further down would be silently ignored, so it is refused.
    static func directiveProblems(_ sql: String) -> [Problem] {
        guard !StatementSplitter.hasNoTransactionDirective(sql),
            StatementSplitter.directives(sql).contains(StatementSplitter.noTransactionDirective),
            let range = sql.range(of: StatementSplitter.noTransactionDirective, options: .caseInsensitive)
        else { return [] }
        return [
            Problem(
                byteOffset: sql[..<range.lowerBound].utf8.count,
                message: "`\(StatementSplitter.noTransactionDirective)` works on the file's first line only",
                fix: "move it to the first line (other directives may follow it)")
        ]
    }

    private static func syntaxProblem(_ error: SQLParser.SyntaxError, text: String) -> Problem {
        let bytes = Array(text.utf8)
        if error.byteOffset < bytes.count, bytes[error.byteOffset] == UInt8(ascii: "\\") {
            let command = String(decoding: bytes[error.byteOffset...].prefix { $0 != 10 && $0 != 13 }, as: UTF8.self)
            return Problem(
                byteOffset: error.byteOffset,
                message: "psql meta-command `\(command.trimmingCharacters(in: .whitespaces))` is not SQL: "
                    + "tenantplan sends the file to the server, not to psql",
                fix: "write the SQL it stands for (inline an included file; set values with SET)")
        }
        return Problem(
            byteOffset: error.byteOffset, message: "\(error.message) (checked with the \(SQLParser.grammar) grammar)",
            fix: "fix the statement; if your server accepts syntax this grammar does not, start the file with `"
                + noParseDirective + "`")
    }

    private static func problem(_ statement: SQLParser.Statement, inTransaction: Bool) -> Problem? {
        if let kind = statement.transactionKind {
            return Problem(
                byteOffset: statement.byteOffset,
                message: "transaction control (\(transactionWords(kind))) in a migration: each migration already runs "
                    + "in a transaction of its own, with its tracking row",
                fix: "remove it; a statement that cannot run in a transaction goes in a migration starting with `"
                    + StatementSplitter.noTransactionDirective + "`")
        }
        if statement.copiesThroughClient {
            return Problem(
                byteOffset: statement.byteOffset,
                message: "COPY ... FROM STDIN / TO STDOUT streams data through the client, which a migration cannot do",
                fix: "use INSERT ... VALUES, or COPY from a file on the database server")
        }
        if let what = statement.outsideTransactionOnly, inTransaction {
            return Problem(
                byteOffset: statement.byteOffset,
                message: "\(what) cannot run inside a transaction block, and this migration runs in one",
                fix: "start the file with `\(StatementSplitter.noTransactionDirective)` "
                    + "(it then runs statement by statement, outside a transaction)")
        }
        return nil
    }

    private static func transactionWords(_ kind: String) -> String {
        switch kind {
        case "TRANS_STMT_BEGIN": "BEGIN"
        case "TRANS_STMT_START": "START TRANSACTION"
        case "TRANS_STMT_COMMIT": "COMMIT"
        case "TRANS_STMT_ROLLBACK": "ROLLBACK"
        case "TRANS_STMT_SAVEPOINT": "SAVEPOINT"
        case "TRANS_STMT_RELEASE": "RELEASE SAVEPOINT"
        case "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO SAVEPOINT"
        case "TRANS_STMT_PREPARE": "PREPARE TRANSACTION"
        case "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED"
        case "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED"
        default: kind
        }
    }

    /// Line and column (1-based; the column counts characters) of a byte offset in `bytes`.
    public static func lineAndColumn(of byteOffset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        let prefix = bytes.prefix(max(0, min(byteOffset, bytes.count)))
        let lineStart = (prefix.lastIndex(of: 10).map { $0 + 1 }) ?? 0
        let line = prefix.filter { $0 == 10 }.count + 1
        let column = String(decoding: bytes[lineStart..<prefix.count], as: UTF8.self).unicodeScalars.count + 1
        return (line, column)
    }
}
