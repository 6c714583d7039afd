import Foundation

/// Splits migration text on drizzle-kit's `--> statement-breakpoint` marker.
public enum StatementSplitter {
    public static let breakpoint = "--> statement-breakpoint"
    public static let noTransactionDirective = "-- tenantplan: no-transaction"

    /// The statements of a migration. The marker may end a statement's last line
    /// (`...;--> statement-breakpoint`) or stand on its own line. Empty pieces are dropped;
    /// a text without the marker is returned whole (it may hold several statements).
    public static func split(_ sql: String) -> [String] {
        guard sql.contains(breakpoint) else {
            return sql.allSatisfy(\.isWhitespace) ? [] : [sql]
        }
        return sql.components(separatedBy: breakpoint)
            .filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// Like `split`, with each statement's offset in the text (in Unicode scalars).
    public static func splitWithOffsets(_ sql: String) -> [(text: String, offset: Int)] {
        let markerLength = breakpoint.unicodeScalars.count
        var pieces: [(String, Int)] = []
        var offset = 0
        for piece in sql.components(separatedBy: breakpoint) {
            if !piece.allSatisfy(\.isWhitespace) { pieces.append((piece, offset)) }
            offset += piece.unicodeScalars.count + markerLength
        }
        return pieces
    }

    /// The text with every marker turned into `;` padded with spaces to the marker's length, so
    /// statements stay separated (even without their own `;`) and character positions do not move.
    public static func batchText(_ sql: String) -> String {
        sql.replacingOccurrences(of: breakpoint, with: ";" + String(repeating: " ", count: breakpoint.count - 1))
    }

    /// Whether the first line is the no-transaction directive (the contract: the first line).
    public static func hasNoTransactionDirective(_ sql: String) -> Bool {
        var text = sql[...]
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }
        let firstLine = text.prefix { $0 != "\n" && $0 != "\r\n" }
        return firstLine.trimmingCharacters(in: .whitespaces).lowercased() == noTransactionDirective
    }

    /// The `-- tenantplan: ...` lines among the file's leading comment lines (lowercased, trimmed).
    public static func directives(_ sql: String) -> Set<String> {
        var text = sql[...]
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }
        var found = Set<String>()
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let trimmed = line.trimmingCharacters(in: .whitespaces).lowercased()
            if trimmed.isEmpty { continue }
            guard trimmed.hasPrefix("--") else { break }
            if trimmed.hasPrefix("-- tenantplan:") { found.insert(trimmed) }
        }
        return found
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: CharacterSet) -> String {
        String(self).trimmingCharacters(in: set)
    }
}
