import TenantPlanKit

/// `tenantplan health` for people: what is not ok, then one line of totals.
public enum HealthText {
    public static func text(_ report: HealthReport) -> String {
        var lines: [String] = []
        let shared = report.sharedDb
        if shared.status != .ok { lines.append("shared database: \(shared.status.rawValue): \(shared.error ?? "")") }
        for pool in report.pools where pool.status != .ok {
            lines.append("\(pool.status.rawValue) \(pool.tenantId) (\(pool.schemaName)): \(pool.error ?? "")")
        }
        let ok = report.totalPools - report.degradedPools - report.unhealthyPools
        lines.append(
            "\(report.healthy ? "healthy" : "not healthy"): \(PlanText.number(report.totalPools)) tenants: "
                + "\(PlanText.number(ok)) ok, \(PlanText.number(report.degradedPools)) degraded, "
                + "\(PlanText.number(report.unhealthyPools)) unhealthy; shared database "
                + "\(shared.status.rawValue)\(shared.responseTimeMs.map { " (\($0) ms)" } ?? "") "
                + "in \(report.durationMs) ms"
        )
        return lines.joined(separator: "\n")
    }
}
