import Foundation

/// Reads a migrations folder: plain numbered `.sql` files, or a drizzle-kit folder with
/// `meta/_journal.json` that gives order, names and `when` timestamps.
struct MigrationLoader {
    var fileSystem = FileManager.default
    /// The migrations run inside transactions: what cannot run in one is refused (unless the file
    /// is a no-transaction migration).
    var inTransactions = true

    /// The leading number of a migration name (`0003_add_users` -> 3).
    static func leadingNumber(_ name: String) -> Int? {
        let digits = name.prefix { $0.isASCII && $0.isNumber }
        return digits.isEmpty ? nil : Int(digits.prefix(18))
    }

    func load(folder: String, absolutePath: String, at location: SourceLocation, into sink: inout DiagnosticSink)
        -> MigrationSet?
    {
        var isDirectory: ObjCBool = false
        guard fileSystem.fileExists(atPath: absolutePath, isDirectory: &isDirectory), isDirectory.boolValue else {
            sink.error(
                location, "migrations folder '\(folder)' does not exist (looked at \(absolutePath))",
                fix: "paths are relative to the plan file")
            return nil
        }
        let entries: [String]
        do {
            entries = try fileSystem.contentsOfDirectory(atPath: absolutePath)
        } catch {
            sink.error(location, "cannot read migrations folder '\(folder)': \(error.localizedDescription)")
            return nil
        }
        // Hidden files (editor backups, macOS `._` resource forks) are not migrations.
        let sqlFiles = entries.filter { $0.hasSuffix(".sql") && !$0.hasPrefix(".") }.sorted()
        let journalPath = (absolutePath as NSString).appendingPathComponent("meta/_journal.json")
        if fileSystem.fileExists(atPath: journalPath) {
            return loadJournaled(
                folder: folder, path: absolutePath, journalPath: journalPath, files: sqlFiles, at: location, into: &sink
            )
        }
        return loadNumbered(folder: folder, path: absolutePath, files: sqlFiles, at: location, into: &sink)
    }

    private func readFile(_ path: String, folder: String, at location: SourceLocation, into sink: inout DiagnosticSink)
        -> [UInt8]?
    {
        guard let data = fileSystem.contents(atPath: path) else {
            sink.error(location, "cannot read migration file \(path)")
            return nil
        }
        return [UInt8](data)
    }

    private func loadNumbered(
        folder: String, path: String, files: [String], at location: SourceLocation, into sink: inout DiagnosticSink
    ) -> MigrationSet? {
        var numbered: [(number: Int, name: String, file: String)] = []
        var ok = true
        for file in files {
            let name = String(file.dropLast(4))
            guard let number = MigrationLoader.leadingNumber(name) else {
                sink.error(
                    location, "migration '\(folder)/\(file)' has no leading number",
                    fix: "rename it like 0001_\(name).sql, or list it in a drizzle-kit meta/_journal.json")
                ok = false
                continue
            }
            numbered.append((number, name, file))
        }
        numbered.sort { ($0.number, $0.name) < ($1.number, $1.name) }
        for (index, entry) in numbered.enumerated() where index > 0 && numbered[index - 1].number == entry.number {
            sink.error(
                location,
                "migrations '\(numbered[index - 1].file)' and '\(entry.file)' in '\(folder)' "
                    + "share the number \(entry.number)",
                fix: "renumber one of them")
            ok = false
        }
        var migrations: [Migration] = []
        for entry in numbered {
            let filePath = (path as NSString).appendingPathComponent(entry.file)
            guard let bytes = readFile(filePath, folder: folder, at: location, into: &sink) else {
                ok = false
                continue
            }
            let display = (folder as NSString).appendingPathComponent(entry.file)
            guard
                let migration = Self.checked(
                    entry.name, bytes: bytes, source: filePath, display: display, inTransactions: inTransactions,
                    into: &sink)
            else {
                ok = false
                continue
            }
            migrations.append(migration)
        }
        return ok ? MigrationSet(folder: folder, path: path, migrations: migrations, hasJournal: false) : nil
    }

    private func loadJournaled(
        folder: String, path: String, journalPath: String, files: [String], at location: SourceLocation,
        into sink: inout DiagnosticSink
    ) -> MigrationSet? {
        let journalLocation = SourceLocation(file: relativeJournal(folder), line: 1, column: 1)
        let journal: DrizzleJournal
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: journalPath))
            journal = try JSONDecoder().decode(DrizzleJournal.self, from: data)
        } catch {
            sink.error(
                journalLocation, "cannot read drizzle-kit journal: \(Self.describe(error))",
                fix:
                    "expected {\"version\", \"dialect\", \"entries\": "
                    + "[{\"idx\", \"version\", \"when\", \"tag\", \"breakpoints\"}]}"
            )
            return nil
        }
        var ok = true
        let fileNames = Set(files.map { String($0.dropLast(4)) })
        var seen = Set<String>()
        var migrations: [Migration] = []
        for entry in journal.entries.sorted(by: { $0.idx < $1.idx }) {
            guard seen.insert(entry.tag).inserted else {
                sink.error(journalLocation, "journal lists '\(entry.tag)' twice", fix: "remove the duplicate entry")
                ok = false
                continue
            }
            guard fileNames.contains(entry.tag) else {
                sink.error(
                    journalLocation,
                    "journal entry '\(entry.tag)' (idx \(entry.idx)) has no file \(folder)/\(entry.tag).sql",
                    fix: "restore the file or remove the entry from meta/_journal.json")
                ok = false
                continue
            }
            let filePath = (path as NSString).appendingPathComponent(entry.tag + ".sql")
            guard let bytes = readFile(filePath, folder: folder, at: location, into: &sink) else {
                ok = false
                continue
            }
            let display = (folder as NSString).appendingPathComponent(entry.tag + ".sql")
            guard
                let migration = Self.checked(
                    entry.tag, bytes: bytes, when: entry.when, source: filePath, display: display,
                    inTransactions: inTransactions, into: &sink)
            else {
                ok = false
                continue
            }
            migrations.append(migration)
        }
        for name in fileNames.subtracting(seen).sorted() {
            sink.error(
                journalLocation, "file \(folder)/\(name).sql has no entry in the journal",
                fix: "add it to meta/_journal.json (drizzle-kit generate does) or delete the file")
            ok = false
        }
        return ok ? MigrationSet(folder: folder, path: path, migrations: migrations, hasJournal: true) : nil
    }

    /// A migration read from `bytes` and checked (encoding, then PostgreSQL's parser); nil, with
    /// every problem located in the file (`display`), when it cannot run.
    static func checked(
        _ name: String, bytes: [UInt8], when: Int64? = nil, source: String, display: String,
        inTransactions: Bool = true, into sink: inout DiagnosticSink
    ) -> Migration? {
        func report(_ problem: MigrationCheck.Problem) {
            let (line, column) = MigrationCheck.lineAndColumn(of: problem.byteOffset, in: bytes)
            sink.error(SourceLocation(file: display, line: line, column: column), problem.message, fix: problem.fix)
        }
        if let problem = MigrationCheck.encodingProblem(bytes) {
            report(problem)
            return nil
        }
        var migration = Migration(name: name, bytes: bytes, when: when, source: source)
        let problems = MigrationCheck.problems(migration, inTransaction: inTransactions && !migration.noTransaction)
        problems.forEach(report)
        guard problems.isEmpty else { return nil }
        migration.splitByParser(autocommit: !inTransactions)
        return migration
    }

    private func relativeJournal(_ folder: String) -> String {
        (folder as NSString).appendingPathComponent("meta/_journal.json")
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return
                "not valid JSON: "
                + "\(context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription)"
        default:
            return error.localizedDescription
        }
    }

    private static func path(_ codingPath: [CodingKey]) -> String {
        codingPath.isEmpty
            ? "top level" : codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

/// drizzle-kit's `meta/_journal.json`.
public struct DrizzleJournal: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var idx: Int
        public var version: String?
        public var when: Int64
        public var tag: String
        public var breakpoints: Bool?
    }

    public var version: String?
    public var dialect: String?
    public var entries: [Entry]
}
