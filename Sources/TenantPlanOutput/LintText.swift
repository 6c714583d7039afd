import TenantPlanSpec

/// The lint's findings for people.
public enum LintText {
    /// `lint: 2 errors, 1 warning in 2 migrations` (or `lint: no findings`).
    public static func summary(_ findings: [LintFinding]) -> String {
        guard !findings.isEmpty else { return "lint: no findings" }
        let errors = findings.filter { $0.severity == .error }.count
        let warnings = findings.count - errors
        let migrations = Set(findings.map { "\($0.action)/\($0.migration)" }).count
        return "lint: \(Plural.count(errors, "error")), \(Plural.count(warnings, "warning")) in "
            + Plural.count(migrations, "migration")
    }
}
