import TenantPlanSpec

/// How one tenant's tracking rows differ from the migrations on disk.
public struct Drift: Codable, Sendable, Hashable {
    /// A recorded row that matches no file, paired with a file that is not recorded.
    public struct Pair: Codable, Sendable, Hashable {
        /// `edited` (hash formats: the file's bytes changed) or `renamed` (name format).
        public var kind: String
        public var migration: String
        public var recorded: String
    }

    /// Migrations on disk with no tracking row.
    public var missing: [String] = []
    /// Recorded names or hashes that match no file on disk (nor a plan `sql` action).
    public var orphans: [String] = []
    /// Missing migrations and orphans that are likely the same migration, edited or renamed.
    public var likely: [Pair] = []
    /// Applied migrations whose file changed since (where the format records a hash): `apply`
    /// refuses to run them again; `sync --accept-edits` records the new hash.
    public var edited: [HistoryCheck.Edited] = []

    public init(missing: [String] = [], orphans: [String] = [], likely: [Pair] = []) {
        self.missing = missing
        self.orphans = orphans
        self.likely = likely
    }

    public var isEmpty: Bool { missing.isEmpty && orphans.isEmpty && edited.isEmpty }

    /// The drift of one table: `folders` are the migrations it should record, `known` everything a row may match.
    public init(_ state: TrackingState, folders: [Migration], known: [Migration]) {
        guard let format = state.format else {
            self.init(missing: folders.map(\.name))
            return
        }
        let missing = state.pending(folders)
        let orphans = state.orphans(known).sorted { $0.id < $1.id }
        let likely =
            format == .drizzleKit && !HistoryCheck.pairsByPlace(format, folders: folders)
            ? Self.pairByJournalTime(orphans, missing: missing)
            : Self.pairByPlace(
                orphans, missing: missing, rows: state.rows, folders: folders, known: known, format: format)
        self.init(missing: missing.map(\.name), orphans: orphans.map(\.key), likely: likely)
    }

    /// drizzle-kit rows hold the journal `when`: an orphan with a missing migration's `when` is that file, edited.
    private static func pairByJournalTime(_ orphans: [TrackingState.Row], missing: [Migration]) -> [Pair] {
        orphans.compactMap { row in
            missing.first { $0.when != nil && String($0.when!) == row.applied }.map {
                Pair(kind: "edited", migration: $0.name, recorded: row.key)
            }
        }
    }

    /// An edited or renamed file keeps its place: pair an orphan with the missing migration that
    /// stands where the orphan's row stands in the applied order (also drizzle-kit rows of a folder
    /// without a journal, whose `created_at` is the time they ran).
    /// Rows of `sql` action scripts (in `known`, not in `folders`) take no place in the folders' order.
    private static func pairByPlace(
        _ orphans: [TrackingState.Row], missing: [Migration], rows: [TrackingState.Row], folders: [Migration],
        known: [Migration], format: TrackingFormat
    ) -> [Pair] {
        guard !missing.isEmpty, !orphans.isEmpty else { return [] }
        let scripts = Set(known.map { format.key(of: $0) }).subtracting(folders.map { format.key(of: $0) })
        let ordered = rows.sorted { $0.id < $1.id }.filter { !scripts.contains($0.key) }
        let orphanKeys = Set(orphans.map(\.key))
        let missingNames = Set(missing.map(\.name))
        // By place in the applied order (not by id: a legacy table without ids reads every id as 0).
        return ordered.enumerated().compactMap { position, row in
            guard orphanKeys.contains(row.key), position < folders.count,
                missingNames.contains(folders[position].name)
            else { return nil }
            return Pair(
                kind: format.usesHash ? "edited" : "renamed", migration: folders[position].name, recorded: row.key)
        }
    }

    /// Adds another table's drift.
    public mutating func merge(_ other: Drift) {
        missing += other.missing
        orphans += other.orphans
        likely += other.likely
        edited += other.edited
    }
}
