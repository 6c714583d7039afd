import TenantPlanSpec

/// Every error a tenantplan command ends with, each with the contract's exit code: 2 for a plan
/// or command line that is invalid, 1 for a run that could not proceed. Failures of single
/// tenants are not errors: they are in the report.
public enum TenantPlanError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The plan does not compile; every problem, located.
    case invalidPlan([Diagnostic])
    /// `--tenant` ids that discovery did not return.
    case unknownTenants([String])
    /// `--up-to NAME` (or `--migration NAME`) names no migration of the plan.
    case unknownMigration(String, known: [String])
    /// `--up-to NAME` names a migration several actions hold.
    case ambiguousMigration(String, actions: [String])
    /// `sync --mark-missing/--clean-orphans` would change several tenants and was not confirmed.
    case notConfirmed(tenants: Int)
    /// `convert-tracking --to F` while the plan pins another format: every later run would fail.
    case conversionTargetConflict(target: TrackingFormat, actions: [String], planFormat: String, autoMigrate: Bool)
    /// `database.url` is not a connection string libpq can read.
    case invalidConnectionString(SourceLocation, String)
    /// The run could not start or finish as a whole (a throwaway cluster that did not start, a
    /// report that could not be written).
    case failed(String)

    /// 2: the plan or the command line is invalid; 1: the run could not proceed.
    public var exitCode: Int32 {
        switch self {
        case .invalidPlan, .unknownTenants, .unknownMigration, .ambiguousMigration, .notConfirmed,
            .conversionTargetConflict,
            .invalidConnectionString:
            return 2
        case .failed:
            return 1
        }
    }

    public var description: String {
        switch self {
        case .invalidPlan(let diagnostics):
            return diagnostics.map(\.description).joined(separator: "\n")
        case .unknownTenants(let ids):
            return "--tenant \(ids.joined(separator: ", ")): not among the discovered tenants"
        case .unknownMigration(let name, let known):
            let listed = known.prefix(12).joined(separator: ", ") + (known.count > 12 ? ", ..." : "")
            return "no action of the plan has a migration named \(name)"
                + (known.isEmpty ? "" : " (known: \(listed))")
        case .ambiguousMigration(let name, let actions):
            return "--up-to \(name): the actions \(actions.joined(separator: ", ")) all hold a migration of that name; "
                + "say which with --up-to ACTION:NAME (e.g. \(actions[0]):\(name))"
        case .notConfirmed(let tenants):
            return "sync would change \(tenants) tenant\(tenants == 1 ? "" : "s"); run it again with --yes to confirm "
                + "(or --dry-run to see the changes)"
        case .conversionTargetConflict(let target, let actions, let planFormat, let autoMigrate):
            let consequence =
                autoMigrate
                ? "so the next apply would convert the tables back (autoMigrateFormat)"
                : "so every later run would refuse the converted tables"
            return "--to \(target.rawValue): the plan's tracking.format for \(actions.joined(separator: ", ")) "
                + "is \(planFormat), \(consequence); set tracking.format to \(target.rawValue) (or auto-detect) "
                + "in the plan first"
        case .invalidConnectionString(let location, let message):
            return "\(location): error: \(message)"
        case .failed(let message):
            return message
        }
    }
}
