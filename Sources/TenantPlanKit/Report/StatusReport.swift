import TenantPlanPostgres
import TenantPlanSpec

/// `tenantplan status`: per tenant, what is applied, pending and orphaned.
public struct StatusReport: Codable, Sendable {
    public var reportVersion = 1
    public var command = "status"
    public var plan: Report.PlanInfo
    public var database: ConnInfo.Target
    public var generatedAt: String
    public var summary: Summary
    public var sharedActions: [Entry]
    public var tenants: [Entry]

    public struct Summary: Codable, Sendable, Equatable {
        public var tenants = 0
        public var upToDate = 0
        public var withPending = 0
        public var missingSchema = 0
        public var withOrphans = 0
        /// Tenants with applied migrations whose file changed since.
        public var withEdited = 0
        public var errors = 0
        public var pendingMigrations = 0
    }

    /// One tenant (or shared action).
    public struct Entry: Codable, Sendable {
        public var id: String
        public var schema: String
        public var schemaExists: Bool
        /// Format found (nil: no tracking table yet).
        public var format: TrackingFormat?
        public var applied: Int
        public var pending: [String]
        /// Recorded names or hashes that match no file on disk.
        public var orphaned: [String]
        /// Applied migrations whose file was edited since (formats that record a hash).
        public var edited: [String]?
        /// The most recent tracking row: its name (or hash) and time.
        public var lastApplied: String?
        public var lastAppliedAt: String?
        public var error: String?
    }
}
