import TenantPlanPostgres
import TenantPlanSpec

/// A failure of the whole run (connecting, discovery), named after the plan key it comes from:
/// `plans/prod.yaml:9:5: tenants.discover.sql: relation "public.tenant" does not exist`.
struct RunFailure: Error, CustomStringConvertible {
    var location: SourceLocation
    var key: String
    var error: PostgresError

    var description: String { "\(location): \(key): \(error.message)" }

    var info: Report.ErrorInfo {
        var info = Report.ErrorInfo(error)
        info.message = description
        return info
    }
}
