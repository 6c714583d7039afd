import CPgQuery
import Foundation

/// PostgreSQL's own parser (libpg_query: the server's grammar as a C library), for reading
/// migration files offline: where each statement starts, what kind it is, and syntax errors
/// with their byte offset.
public enum SQLParser {
    /// The grammar the parser checks: PostgreSQL's major version as libpg_query builds it.
    public static let grammar = "PostgreSQL \(PG_MAJORVERSION)"

    /// One top-level statement.
    public struct Statement: Sendable, Equatable {
        /// The parse node: `CreateStmt`, `TransactionStmt`, `CopyStmt`, ...
        public var node: String
        /// Byte offset of the statement's first token in the text.
        public var byteOffset: Int
        /// Bytes of the statement as the parser delimits it (blanks and comments before it included).
        public var byteRange: Range<Int> = 0..<0
        /// `BEGIN`, `COMMIT`, ... for transaction control (the node's kind, `TRANS_STMT_BEGIN`).
        public var transactionKind: String?
        /// `COPY ... FROM STDIN` / `TO STDOUT`: data streamed through the client.
        public var copiesThroughClient = false
        /// Cannot run inside a transaction block (VACUUM, CREATE DATABASE, CREATE INDEX
        /// CONCURRENTLY, ...), named for messages.
        public var outsideTransactionOnly: String?
    }

    /// A syntax error: the server's message and the byte offset it points at.
    public struct SyntaxError: Error, Sendable, Equatable {
        public var message: String
        public var byteOffset: Int
    }

    /// Parses `text` (one migration's SQL); statements in order.
    public static func parse(_ text: String) -> Result<[Statement], SyntaxError> {
        let result = pg_query_parse(text)
        defer { pg_query_free_parse_result(result) }
        if let error = result.error {
            let message = error.pointee.message.map { String(cString: $0) } ?? "syntax error"
            // The cursor counts characters (as the server's error position does), from 1.
            let characters = max(0, Int(error.pointee.cursorpos) - 1)
            let byteOffset = String(text.unicodeScalars.prefix(characters)).utf8.count
            return .failure(SyntaxError(message: message, byteOffset: byteOffset))
        }
        guard let tree = result.parse_tree,
            let json = try? JSONSerialization.jsonObject(with: Data(String(cString: tree).utf8)) as? [String: Any]
        else { return .success([]) }
        let statements = (json["stmts"] as? [[String: Any]]) ?? []
        let bytes = Array(text.utf8)
        return .success(
            zip(statements, statements.compactMap(statement)).map { raw, found in
                var statement = found
                let length = raw["stmt_len"] as? Int ?? 0
                let end = length > 0 ? min(bytes.count, found.byteOffset + length) : bytes.count
                statement.byteRange = found.byteOffset..<end
                statement.byteOffset = firstToken(in: bytes, from: found.byteOffset)
                return statement
            })
    }

    /// `text` with every constant replaced by `$1`, `$2`… (PostgreSQL's parser finds them), for
    /// logs that must never show a password or a long literal; nil when it does not parse.
    public static func normalized(_ text: String) -> String? {
        let result = pg_query_normalize(text)
        defer { pg_query_free_normalize_result(result) }
        guard result.error == nil, let query = result.normalized_query else { return nil }
        return String(cString: query)
    }

    /// One top-level statement's parse tree, as libpg_query's JSON gives it (for the lint).
    struct Tree {
        var node: String
        var fields: [String: Any]
        /// Bytes of the statement, blanks and comments before it included.
        var byteRange: Range<Int>
        /// Byte offset of its first token.
        var byteOffset: Int
    }

    /// The parse trees of `text`'s statements; nil when it does not parse.
    static func trees(_ text: String) -> [Tree]? {
        let result = pg_query_parse(text)
        defer { pg_query_free_parse_result(result) }
        guard result.error == nil, let tree = result.parse_tree,
            let json = try? JSONSerialization.jsonObject(with: Data(String(cString: tree).utf8)) as? [String: Any]
        else { return nil }
        let bytes = Array(text.utf8)
        return ((json["stmts"] as? [[String: Any]]) ?? []).compactMap { raw in
            guard let wrapper = raw["stmt"] as? [String: Any], let (node, fields) = wrapper.first,
                let fields = fields as? [String: Any]
            else { return nil }
            let start = raw["stmt_location"] as? Int ?? 0
            let length = raw["stmt_len"] as? Int ?? 0
            let end = length > 0 ? min(bytes.count, start + length) : bytes.count
            return Tree(
                node: node, fields: fields, byteRange: start..<end, byteOffset: firstToken(in: bytes, from: start))
        }
    }

    /// The index after the block comment opening at `start`; PostgreSQL's block comments nest.
    static func endOfBlockComment(in bytes: [UInt8], from start: Int) -> Int {
        var depth = 0
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "/"), bytes[index + 1] == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if bytes[index] == UInt8(ascii: "*"), bytes[index + 1] == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return index }
            } else {
                index += 1
            }
        }
        return bytes.count
    }

    /// Where the statement's first token is: the parser's location includes the blanks and
    /// comments before it.
    static func firstToken(in bytes: [UInt8], from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 32 || (9...13).contains(byte) {
                index += 1
            } else if byte == UInt8(ascii: "-"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "-") {
                while index < bytes.count, bytes[index] != 10 { index += 1 }
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                index = endOfBlockComment(in: bytes, from: index)
            } else {
                return index
            }
        }
        return min(start, bytes.count)
    }

    private static func statement(_ raw: [String: Any]) -> Statement? {
        guard let wrapper = raw["stmt"] as? [String: Any], let (node, fields) = wrapper.first,
            let fields = fields as? [String: Any]
        else { return nil }
        var statement = Statement(node: node, byteOffset: raw["stmt_location"] as? Int ?? 0)
        switch node {
        case "TransactionStmt":
            statement.transactionKind = fields["kind"] as? String
        case "CopyStmt":
            statement.copiesThroughClient = fields["filename"] == nil && fields["is_program"] == nil
        default:
            statement.outsideTransactionOnly = outsideTransactionOnly(node, fields)
        }
        return statement
    }

    /// Statements PostgreSQL refuses inside a transaction block.
    private static func outsideTransactionOnly(_ node: String, _ fields: [String: Any]) -> String? {
        let concurrent = fields["concurrent"] as? Bool == true
        switch node {
        case "VacuumStmt" where fields["is_vacuumcmd"] as? Bool == true: return "VACUUM"
        case "CreatedbStmt": return "CREATE DATABASE"
        case "DropdbStmt": return "DROP DATABASE"
        case "CreateTableSpaceStmt": return "CREATE TABLESPACE"
        case "DropTableSpaceStmt": return "DROP TABLESPACE"
        case "AlterSystemStmt": return "ALTER SYSTEM"
        case "IndexStmt" where concurrent: return "CREATE INDEX CONCURRENTLY"
        case "DropStmt" where concurrent: return "DROP INDEX CONCURRENTLY"
        case "ReindexStmt" where "\(fields["params"] ?? "")".contains("concurrently"): return "REINDEX CONCURRENTLY"
        case "ClusterStmt" where fields["relation"] == nil: return "CLUSTER without a table"
        case "ReindexStmt"
        where ["REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_SYSTEM", "REINDEX_OBJECT_DATABASE"]
            .contains(fields["kind"] as? String):
            return "REINDEX " + (fields["kind"] as! String).dropFirst("REINDEX_OBJECT_".count)
        case "DiscardStmt" where fields["target"] as? String == "DISCARD_ALL": return "DISCARD ALL"
        case "AlterDatabaseStmt" where option("tablespace", in: fields) != nil:
            return "ALTER DATABASE ... SET TABLESPACE"
        case "AlterTableStmt" where detachesConcurrently(fields): return "ALTER TABLE ... DETACH PARTITION CONCURRENTLY"
        case "CreateSubscriptionStmt" where flag("create_slot", in: fields) ?? flag("connect", in: fields) ?? true:
            return "CREATE SUBSCRIPTION with create_slot"
        case "DropSubscriptionStmt": return "DROP SUBSCRIPTION (of a subscription with a replication slot)"
        case "AlterSubscriptionStmt" where subscriptionRefreshes(fields): return "ALTER SUBSCRIPTION ... REFRESH"
        default: return nil
        }
    }

    /// A `WITH (name = value)` option of a statement, as parsed (`DefElem`), or nil when absent.
    private static func option(_ name: String, in fields: [String: Any]) -> [String: Any]? {
        let options = fields["options"] as? [[String: Any]] ?? []
        return options.lazy.compactMap { $0["DefElem"] as? [String: Any] }.first { $0["defname"] as? String == name }
    }

    /// A boolean option's value as PostgreSQL reads it (`true`/`on`/`1`/no value = true), or nil when absent.
    private static func flag(_ name: String, in fields: [String: Any]) -> Bool? {
        guard let option = option(name, in: fields) else { return nil }
        guard let arg = option["arg"] as? [String: Any] else { return true }
        if let boolean = arg["Boolean"] as? [String: Any] { return boolean["boolval"] as? Bool ?? false }
        // `false` and `'false'` parse as a string, a bare `off` as a type name.
        let typeName = ((arg["TypeName"] as? [String: Any])?["names"] as? [[String: Any]])?.last
        let text = (((arg["String"] ?? typeName?["String"]) as? [String: Any])?["sval"] as? String)?.lowercased()
        if let integer = arg["Integer"] as? [String: Any] { return (integer["ival"] as? Int ?? 0) != 0 }
        return !["false", "off", "0", "no"].contains(text ?? "true")
    }

    /// `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY`.
    private static func detachesConcurrently(_ fields: [String: Any]) -> Bool {
        let commands = fields["cmds"] as? [[String: Any]] ?? []
        return commands.contains { command in
            let cmd = command["AlterTableCmd"] as? [String: Any]
            let partition = (cmd?["def"] as? [String: Any])?["PartitionCmd"] as? [String: Any]
            return cmd?["subtype"] as? String == "AT_DetachPartition" && partition?["concurrent"] as? Bool == true
        }
    }

    /// `ALTER SUBSCRIPTION ... REFRESH PUBLICATION`, or `SET`/`ADD`/`DROP PUBLICATION` without
    /// `refresh = false`: PostgreSQL runs these only outside a transaction block.
    private static func subscriptionRefreshes(_ fields: [String: Any]) -> Bool {
        switch fields["kind"] as? String {
        case "ALTER_SUBSCRIPTION_REFRESH": return true
        case "ALTER_SUBSCRIPTION_SET_PUBLICATION", "ALTER_SUBSCRIPTION_ADD_PUBLICATION",
            "ALTER_SUBSCRIPTION_DROP_PUBLICATION":
            return flag("refresh", in: fields) ?? true
        default: return false
        }
    }
}

extension SQLParser.Statement {
    init(node: String, byteOffset: Int) {
        self.node = node
        self.byteOffset = byteOffset
    }
}
