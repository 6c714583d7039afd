import TenantPlanKit

/// `convert-tracking` output: a line per tenant converted (or to convert, or failed), then totals.
public enum ConvertText {
    public static func text(_ report: ConvertReport) -> String {
        var lines: [String] = []
        for tenant in report.tenants {
            guard let verb = verb(tenant.status) else { continue }
            if let error = tenant.error {
                lines.append("failed \(tenant.id) (\(tenant.schema)): " + RunText.describe(error: error))
                continue
            }
            let rows = tenant.conversions.reduce(0) { $0 + $1.rows.count }
            let tables = tenant.conversions.map { "\($0.table) \($0.from.rawValue) -> \($0.to.rawValue)" }
            lines.append(
                "\(verb) \(tenant.id) (\(tenant.schema)): \(tables.joined(separator: ", ")), "
                    + "\(Plural.count(rows, "row"))"
            )
        }
        let s = report.summary
        var summary =
            "\(report.dryRun ? "dry run: " : "")\(Plural.count(s.tenants, "tenant")): \(s.converted) "
            + "\(report.dryRun ? "to convert" : "converted") (\(Plural.count(s.rowsConverted, "row"))), "
            + "\(s.alreadyInTarget) already \(report.to.rawValue), \(s.withoutTable) without a table, "
            + "\(s.otherFormat) in another format, \(s.failed) failed, \(s.skipped) skipped"
        if let reason = report.stopReason { summary += " (stopped: \(reason.description))" }
        lines.append(summary)
        return lines.joined(separator: "\n")
    }

    /// The word for a tenant's line; nil for tenants left as they are.
    private static func verb(_ status: ConvertReport.Tenant.Status) -> String? {
        switch status {
        case .converted: "converted"
        case .wouldConvert: "would convert"
        case .failed: "failed"
        case .skipped: "skipped"
        case .alreadyInTarget, .withoutTable, .otherFormat: nil
        }
    }
}
