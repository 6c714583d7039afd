import TenantPlanSpec

/// The pure decisions of `sync` and `convert-tracking` for one tenant's tables.
public enum MaintenanceSteps {
    /// What `sync` finds on a tenant: its format, its drift, and why it cannot be used (if so).
    public static func inspect(
        _ tables: TenantTables, states: [TrackingTableRef: TrackingState]
    ) -> (format: TrackingFormat?, drift: Drift, error: Report.ErrorInfo?) {
        var format: TrackingFormat?
        var drift = Drift()
        var failure: Report.ErrorInfo?
        for table in tables.tables {
            let state = states[table.ref] ?? .missing
            if format == nil { format = state.format }
            if case .failure(let error) = FormatResolution.resolve(table.tracking, state: state, table: table.ref) {
                failure = error
            }
            var tableDrift = Drift(state, folders: table.folders, known: table.known)
            tableDrift.edited = HistoryCheck.edited(
                state, folders: table.folders, known: table.known, folderCount: table.folderSets.count)
            drift.merge(tableDrift)
        }
        return (format, drift, failure)
    }

    /// `sync --mark-missing` / `--clean-orphans`: each table's change, in the table's own layout
    /// (sync never converts; apply's `autoMigrateFormat` does). Tables that cannot be used are left alone.
    /// `--mark-missing` records only what `scope` allows (by default the gaps).
    public static func syncChanges(
        _ mode: SyncReport.Mode, scope: MarkScope = .gaps, accept: EditScope = .certain, tables: TenantTables,
        states: [TrackingTableRef: TrackingState]
    ) -> [TableChange] {
        tables.tables.compactMap { table in
            let state = states[table.ref] ?? .missing
            guard case .success(let resolved) = FormatResolution.resolve(table.tracking, state: state, table: table.ref)
            else { return nil }
            var change = TableChange(table: table.ref, format: state.format ?? resolved, createTable: !state.exists)
            switch mode {
            case .markMissing:
                change.mark = table.folderSets.flatMap { folder in
                    scope.limit(state.pending(folder), folders: folder, state: state)
                }
            case .cleanOrphans: change.deleteOrphans = state.orphans(table.known)
            case .acceptEdits:
                change.acceptEdits = HistoryCheck.edited(
                    state, folders: table.folders, known: table.known, folderCount: table.folderSets.count
                ).filter {
                    accept.allows(
                        $0.migration, byPlace: HistoryCheck.pairsByPlace(state.format ?? .hash, folders: table.folders))
                }
            case .status: break
            }
            if change.mark.isEmpty { change.createTable = false }
            return change.isEmpty ? nil : change
        }
    }

    /// `convert-tracking --to target [--from source]`: the conversion of each table found in `source`.
    public static func conversions(
        _ tables: TenantTables, states: [TrackingTableRef: TrackingState], to target: TrackingFormat,
        from source: TrackingFormat?
    ) -> [TrackingConverter.Conversion] {
        tables.tables.compactMap { table in
            let state = states[table.ref] ?? .missing
            if let source, state.format != source { return nil }
            return TrackingConverter.plan(state, table: table.ref, to: target, known: table.known)
        }
    }
}

/// Which missing migrations `sync --mark-missing` records.
public enum MarkScope: Sendable, Equatable {
    /// Only gaps: missing migrations that sort before the tenant's latest applied one (a file
    /// applied by hand, a row lost). New migrations that never ran are left to `apply`.
    case gaps
    /// Every missing migration up to and including this one (in folder order).
    case upTo(String)
    /// Every missing migration, new ones included (`--all`).
    case all

    /// The part of `missing` (in the order of `folders`: one folder) this scope records.
    func limit(_ missing: [Migration], folders: [Migration], state: TrackingState) -> [Migration] {
        let position = Dictionary(folders.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        switch self {
        case .all:
            return missing
        case .upTo(let name):
            guard let last = position[name] else { return [] }
            return missing.filter { (position[$0.name] ?? .max) <= last }
        case .gaps:
            let recorded =
                state.format.map { format in
                    Set(state.rows.map(\.key)).intersection(folders.map { format.usesHash ? $0.hash : $0.name })
                } ?? []
            let latest = folders.indices.last { index in
                let migration = folders[index]
                return recorded.contains(state.format?.usesHash == true ? migration.hash : migration.name)
            }
            guard let latest else { return [] }
            return missing.filter { (position[$0.name] ?? .max) < latest }
        }
    }
}

/// Which edited migrations `sync --accept-edits` records the new hash of.
public enum EditScope: Sendable, Equatable {
    /// Those found for certain (drizzle-kit: the journal `when`; tenantplan: the name). The hash
    /// format (and drizzle-kit without a journal) pairs rows with files by place, a guess: its edits
    /// must be named.
    case certain
    /// These migrations, in any format.
    case named(Set<String>)

    func allows(_ migration: String, byPlace: Bool) -> Bool {
        switch self {
        case .certain: !byPlace
        case .named(let names): names.contains(migration)
        }
    }
}
