import TenantPlanKit
import TenantPlanSpec

/// `status` as a table: one row per shared action and tenant, then the totals.
public enum StatusText {
    public static func table(_ report: StatusReport) -> String {
        let header = ["TENANT", "SCHEMA", "FORMAT", "APPLIED", "PENDING", "ORPHANED", "EDITED", "LAST APPLIED"]
        var rows = [header]
        rows += report.sharedActions.map { entry in
            var cells = row(entry)
            cells[0] = "[shared] " + cells[0]
            return cells
        }
        rows += report.tenants.map(row)
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { cells in
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        lines.append(totals(report.summary))
        return lines.joined(separator: "\n")
    }

    /// `36 tenants: 30 up to date, ...`.
    public static func totals(_ s: StatusReport.Summary) -> String {
        "\(Plural.count(s.tenants, "tenant")): \(s.upToDate) up to date, \(s.withPending) with pending migrations "
            + "(\(s.pendingMigrations) in all), \(s.missingSchema) without schema, "
            + "\(s.withOrphans) with orphaned rows, \(s.withEdited) with edited migrations, "
            + Plural.count(s.errors, "error")
    }

    private static func row(_ entry: StatusReport.Entry) -> [String] {
        var last = entry.lastApplied.map { name in
            name + (entry.lastAppliedAt.map { " at \(time($0, entry.format))" } ?? "")
        }
        if let error = entry.error { last = "error: \(error)" } else if !entry.schemaExists { last = "schema missing" }
        return [
            entry.id, entry.schema, entry.format?.rawValue ?? "-", "\(entry.applied)", "\(entry.pending.count)",
            "\(entry.orphaned.count)", "\(entry.edited?.count ?? 0)", last ?? "-",
        ]
    }

    /// A recorded time as stored (drizzle-kit keeps milliseconds since the epoch: shown as a UTC time).
    static func time(_ value: String, _ format: TrackingFormat?) -> String {
        guard format == .drizzleKit, let milliseconds = Int64(value) else { return value }
        return ISOTime.utc(milliseconds: milliseconds)
    }
}
