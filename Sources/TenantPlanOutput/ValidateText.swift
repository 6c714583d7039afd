import TenantPlanKit
import TenantPlanSpec

/// `validate` output for a valid plan: one line of what it holds.
public enum ValidateText {
    public static func summary(_ plan: Plan) -> String {
        let graph = ExecutionGraph(plan: plan)
        let shared = plan.actions.filter { $0.scope.isShared }.count
        let migrations = plan.actions.reduce(0) { $0 + $1.migrations.count }
        let discovery: String
        switch plan.tenants.discover {
        case .sql: discovery = "sql"
        case .list(let ids): discovery = "list of \(ids.count)"
        case .schemaLike(let pattern): discovery = "schemaLike '\(pattern)'"
        }
        return "\(plan.path): valid: \(Plural.count(plan.actions.count, "action")) (\(shared) shared, "
            + "\(plan.actions.count - shared) per tenant) in \(Plural.count(graph.stages.count, "stage")), "
            + "\(Plural.count(migrations, "migration")); tenants by \(discovery); concurrency \(plan.concurrency)"
    }
}
