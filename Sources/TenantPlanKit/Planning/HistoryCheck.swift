import TenantPlanSpec

/// Applied history against the files on disk: applied migrations whose file was edited since
/// (Flyway's validate), and pending migrations that sort before the latest applied one.
public enum HistoryCheck {
    /// An applied migration whose file changed.
    public struct Edited: Codable, Sendable, Hashable {
        public var migration: String
        /// The hash recorded when it was applied.
        public var recorded: String
        /// The file's hash now.
        public var now: String
    }

    /// The edited migrations of one table, where its format can show them: drizzle-kit (the row
    /// holding the file's journal `when`; without a journal, as hash), hash (the row standing at the
    /// file's place in the applied order), tenantplan (the recorded sha256 of the name). The name
    /// format records no hash.
    /// `known`: everything a row may match (the folders and the `sql` scripts recorded in the table).
    /// `folderCount`: how many folders record in the table; with several, the hash format's places
    /// mean nothing (their migrations interleave in the applied order), so it shows no edit.
    public static func edited(
        _ state: TrackingState, folders: [Migration], known: [Migration]? = nil, folderCount: Int = 1
    ) -> [Edited] {
        guard let format = state.format else { return [] }
        let byName = Dictionary(folders.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        switch format {
        case .name:
            return []
        case .tenantplan:
            return state.rows.compactMap { row in
                guard let migration = byName[row.key], let recorded = row.checksum, recorded != migration.hash else {
                    return nil
                }
                return Edited(migration: row.key, recorded: recorded, now: migration.hash)
            }
        case .hash, .drizzleKit:
            if folderCount > 1, pairsByPlace(format, folders: folders) { return [] }
            return Drift(state, folders: folders, known: known ?? folders).likely.compactMap { pair in
                guard pair.kind == "edited", let migration = byName[pair.migration] else { return nil }
                return Edited(migration: pair.migration, recorded: pair.recorded, now: migration.hash)
            }
        }
    }

    /// Whether rows of `format` pair with `folders` only by place in the applied order (a guess): the
    /// hash format, and drizzle-kit rows of folders without a journal (their `created_at` is the
    /// time they ran, not the journal's `when`).
    public static func pairsByPlace(_ format: TrackingFormat, folders: [Migration]) -> Bool {
        format == .hash || (format == .drizzleKit && !folders.contains { $0.when != nil })
    }

    /// The first of `pending` that sorts before the latest applied migration of `folders`, with that one.
    public static func outOfOrder(_ pending: [Migration], folders: [Migration], state: TrackingState)
        -> (pending: Migration, latest: Migration)?
    {
        guard let format = state.format else { return nil }
        let recorded = state.keys
        guard let latest = folders.lastIndex(where: { recorded.contains(format.key(of: $0)) }) else { return nil }
        let position = Dictionary(folders.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard let early = pending.first(where: { (position[$0.name] ?? .max) < latest }) else { return nil }
        return (early, folders[latest])
    }

    /// Why a tenant is refused before anything runs, when `step` would run migrations: an applied
    /// one of its table was edited since (in the hash formats the edited file is also pending,
    /// so it would run again), or one would run out of order (unless `outOfOrder` allows it).
    static func refusal(
        _ step: ActionStep, state: TrackingState, folders: [Migration], known: [Migration]? = nil,
        folderCount: Int = 1, outOfOrder: OutOfOrder
    ) -> Report.ErrorInfo? {
        guard let run = step.change?.run, !run.isEmpty else { return nil }
        if let edit = edited(state, folders: folders, known: known, folderCount: folderCount).first {
            return editRefusal(edit, byPlace: pairsByPlace(state.format ?? .hash, folders: folders))
        }
        // Order only means something within one folder: the action's own.
        let folder: [Migration]
        if case .sql = step.action.kind { folder = [] } else { folder = step.action.recordable }
        if outOfOrder == .refuse, let (early, latest) = self.outOfOrder(run, folders: folder, state: state) {
            return Report.ErrorInfo(
                migration: early.name,
                message: "\(early.name) is pending but sorts before \(latest.name), which is already applied "
                    + "(a branch merged late?)",
                hint: "renumber it after \(latest.name); or let it run: set `outOfOrder: allow` in the plan, or pass "
                    + "--out-of-order allow")
        }
        return nil
    }

    /// The refusal for an edit. Rows paired with files by place in the applied order (`pairsByPlace`)
    /// are a guess, so the message says what else the row may be.
    static func editRefusal(_ edit: Edited, byPlace: Bool) -> Report.ErrorInfo {
        let recorded = "recorded sha256 \(edit.recorded.prefix(12))..., file now \(edit.now.prefix(12))..."
        guard byPlace else {
            return Report.ErrorInfo(
                migration: edit.migration,
                message: "\(edit.migration) was edited after it was applied (\(recorded)): running it again could "
                    + "do its work twice",
                hint: "restore the file as it was; or, if the change needs no running (a comment, say), record the "
                    + "new hash with `tenantplan sync PLAN --accept-edits` (try --dry-run first)")
        }
        return Report.ErrorInfo(
            migration: edit.migration,
            message: "\(edit.migration) looks edited after it was applied: the row at its place in the applied order "
                + "matches no file (\(recorded)); the table records no names (nor, for drizzle-kit, a journal time), "
                + "so tenantplan pairs rows with files by place",
            hint: "if the file was edited, restore it, or record the new hash with `tenantplan sync PLAN "
                + "--accept-edits --migration \(edit.migration)`; if that row is something else (a hotfix, a deleted "
                + "file, a removed sql action), delete it with "
                + "`tenantplan sync PLAN --clean-orphans`; try --dry-run first either way")
    }
}
