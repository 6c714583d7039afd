import Foundation

/// `tenantplan health`, in the shape drizzle-multitenant's health check gives (one entry per
/// tenant under `pools`). tenantplan runs one pool for every tenant, so each entry's connection
/// counts describe that one pool at the time the tenant was checked.
public struct HealthReport: Codable, Sendable {
    public var healthy: Bool
    public var pools: [Pool]
    public var sharedDb: Shared
    public var totalPools: Int
    public var degradedPools: Int
    public var unhealthyPools: Int
    public var timestamp: String
    public var durationMs: Int

    public enum Status: String, Codable, Sendable {
        /// Schema there, tracking table readable, nothing pending.
        case ok
        /// Reachable, but migrations are pending (or applied ones were edited, or rows are orphaned).
        case degraded
        /// The schema is missing, its tracking table cannot be read, or it did not answer in time.
        case unhealthy
    }

    public struct Pool: Codable, Sendable {
        public var tenantId: String
        public var schemaName: String
        public var status: Status
        public var totalConnections: Int
        public var idleConnections: Int
        public var waitingRequests: Int
        public var responseTimeMs: Int?
        /// Why it is not `ok`.
        public var error: String?
        public var pendingMigrations: Int
    }

    public struct Shared: Codable, Sendable {
        public var status: Status
        public var responseTimeMs: Int?
        public var error: String?
    }

    public var exitCode: Int32 { healthy ? 0 : 1 }

    public func json() throws -> Data {
        try StableJSON.data(self)
    }
}
