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
            drift.merge(Drift(state, folders: table.folders, known: table.known))
        }
        return (format, drift, failure)
    }

    /// `sync --mark-missing` / `--clean-orphans`: each table's change, in the table's own layout
    /// (sync never converts; apply's `autoMigrateFormat` does). Tables that cannot be used are left alone.
    public static func syncChanges(
        _ mode: SyncReport.Mode, tables: TenantTables, states: [TrackingTableRef: TrackingState]
    ) -> [TableChange] {
        tables.tables.compactMap { table in
            let state = states[table.ref] ?? .missing
            guard case .success(let resolved) = FormatResolution.resolve(table.tracking, state: state, table: table.ref)
            else { return nil }
            var change = TableChange(table: table.ref, format: state.format ?? resolved, createTable: !state.exists)
            switch mode {
            case .markMissing: change.mark = state.pending(table.folders)
            case .cleanOrphans: change.deleteOrphans = state.orphans(table.known)
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
