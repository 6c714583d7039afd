import TenantPlanKit

/// `tenantplan drift` for people.
public enum DriftText {
    public static func text(_ report: DriftReport) -> String {
        let summary = report.summary
        var lines = [
            "drift: \(PlanText.number(summary.compared)) tenant\(summary.compared == 1 ? "" : "s") compared in "
                + "\(summary.states) applied state\(summary.states == 1 ? "" : "s"); "
                + "\(PlanText.number(summary.drifted)) drifted"
        ]
        for state in report.states {
            lines.append("\(state.applied) (\(PlanText.number(state.tenants)) tenant\(state.tenants == 1 ? "" : "s")):")
            for variant in state.variants {
                let body = variant.reference ? "reference" : variant.differences.joined(separator: "; ")
                lines.append("  \(PlanText.tenants(variant.tenants)): \(body)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
