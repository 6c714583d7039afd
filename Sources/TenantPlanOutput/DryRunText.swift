import TenantPlanKit

/// The listing of a dry run: one line per tenant with changes, then tenants with the same
/// changes grouped, so 1,000 identical tenants read as one line.
public enum DryRunText {
    public static func lines(_ report: Report) -> [String] {
        var lines: [String] = []
        var groups: [String: [String]] = [:]
        var order: [String] = []
        for tenant in report.tenants where !tenant.unchanged {
            lines.append(RunText.tenant(tenant, dryRun: true))
            let key = RunText.changes(of: tenant, dryRun: true).joined(separator: "; ")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(tenant.id)
        }
        if !order.isEmpty, report.tenants.count > 1 {
            lines.append("grouped:")
            for key in order {
                lines.append("  \(Plural.tenants(groups[key]!, total: groups[key]!.count)): \(key)")
            }
        }
        return lines
    }
}
