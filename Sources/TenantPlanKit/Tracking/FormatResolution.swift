import TenantPlanSpec

/// Which format a tracking table is read and written in: what `auto-detect` resolves to, when a
/// table in another format is refused, and which tables `autoMigrateFormat` converts.
public enum FormatResolution {
    /// The format to use for a table in `state`, or why it cannot be used. With
    /// `autoMigrateFormat`, a table in another format resolves to the target (it is converted first).
    public static func resolve(
        _ tracking: TrackingSettings, state: TrackingState, table: TrackingTableRef
    ) -> Result<TrackingFormat, Report.ErrorInfo> {
        if let readError = state.readError {
            return .failure(Report.ErrorInfo(message: readError))
        }
        if state.unrecognized {
            return .failure(
                Report.ErrorInfo(
                    message: "tracking table \(table.schema).\(table.table) has neither a name nor a hash column",
                    hint: "point tracking.table at tenantplan's table, or rename this one"))
        }
        switch (tracking.format, state.format) {
        case (.autoDetect, let found?): return .success(found)
        case (.autoDetect, nil): return .success(tracking.newTableFormat)
        case (.fixed(let wanted), nil): return .success(wanted)
        case (.fixed(let wanted), let found?) where found == wanted: return .success(wanted)
        case (.fixed(let wanted), _) where tracking.autoMigrateFormat: return .success(wanted)
        case (.fixed(let wanted), let found?):
            return .failure(
                Report.ErrorInfo(
                    message: "tracking table \(table.schema).\(table.table) is in \(found.rawValue) format; "
                        + "the plan says \(wanted.rawValue)",
                    hint:
                        "set tracking.autoMigrateFormat: true, "
                        + "run `tenantplan convert-tracking --to \(wanted.rawValue)`, "
                        + "or set tracking.format: auto-detect"))
        }
    }

    /// The tables of `tables` that `autoMigrateFormat` converts, with their target format.
    public static func conversionTargets(_ tables: TenantTables) -> [(TrackingTableRef, TrackingFormat)] {
        tables.tables.compactMap { table in table.conversionTarget.map { (table.ref, $0) } }
    }

    /// The conversions `autoMigrateFormat` makes on `tables` as they are in `states`.
    public static func plannedConversions(
        _ tables: TenantTables, states: [TrackingTableRef: TrackingState]
    ) -> [TrackingConverter.Conversion] {
        conversionTargets(tables).compactMap { ref, format in
            TrackingConverter.plan(states[ref] ?? .missing, table: ref, to: format, known: tables.known(in: ref))
        }
    }

    /// Under auto-detect a table created from scratch takes `newTableFormat`. When every existing
    /// table of an action is in another format (a drizzle-kit project whose new tenants would get
    /// name tables), says so: one warning per action, naming the setting that fixes it.
    public static func newTableWarnings(
        _ actions: [Action], tables: [TenantTables], states: [[TrackingTableRef: TrackingState]]
    ) -> [String] {
        actions.compactMap { action in
            guard action.tracking.format == .autoDetect else { return nil }
            var found: [TrackingFormat: Int] = [:]
            var missing = 0
            for (tenantTables, tenantStates) in zip(tables, states) {
                if let format = tenantStates[tenantTables.ref(for: action)]?.format {
                    found[format, default: 0] += 1
                } else {
                    missing += 1
                }
            }
            let created = action.tracking.newTableFormat
            guard missing > 0, found.count == 1, let (existing, count) = found.first, existing != created else {
                return nil
            }
            return "action '\(action.name)': \(missing) tenant(s) have no tracking table yet, and auto-detect will "
                + "create theirs in \(created.rawValue) format, while all \(count) existing ones are "
                + "\(existing.rawValue); set tracking.newTableFormat: \(existing.rawValue) to keep one format"
        }
    }
}
