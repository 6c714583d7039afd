import TenantPlanPostgres

/// Where and as whom migrations run: the schema, the tenant id, the search path.
struct ExecutionContext: Sendable {
    var tenantID: String
    var schema: String
    var searchPath: [String]

    init(_ target: StepTarget) {
        self.tenantID = target.id
        self.schema = target.schema
        self.searchPath = target.searchPath
    }

    /// `SET LOCAL` (inside a transaction) or `SET` (session) statements for this context.
    /// Inside a transaction (`local`), also sets the guard that `TrackingSQL.guardedRecord` checks.
    func settings(local: Bool) -> String {
        let scope = local ? "SET LOCAL" : "SET"
        let path = searchPath.map(SQL.quoteIdentifier).joined(separator: ", ")
        return
            (local ? "SET LOCAL \(TrackingSQL.guardSetting) = 'on';" : "")
            + "\(scope) search_path TO \(path);"
            + "\(scope) tenantplan.tenant_id = \(SQL.quoteLiteral(tenantID));"
            + "\(scope) tenantplan.schema = \(SQL.quoteLiteral(schema));"
    }

    static let reset = "RESET search_path;RESET tenantplan.tenant_id;RESET tenantplan.schema;"
}
