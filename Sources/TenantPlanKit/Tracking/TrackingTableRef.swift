import TenantPlanPostgres

/// A tracking table's place: schema and table name.
public struct TrackingTableRef: Sendable, Hashable {
    public var schema: String
    public var table: String

    public var qualified: String { SQL.quoteIdentifier(schema) + "." + SQL.quoteIdentifier(table) }
}
