import Foundation
import TenantPlanSpec

/// `warmup`: opens the pool's connections and touches every tenant's schema and tracking table
/// once (the batched read, then one timed probe per tenant), so that the first real requests of a
/// server do not pay for cold connections and catalog caches.
struct WarmupRun {
    let session: RunSession
    let timeout: PlanDuration

    func run() async throws -> WarmupReport {
        try await session.closing {
            let started = Date()
            let snapshot = try await session.snapshot()
            let probes = await HealthRun(session: session, timeout: timeout).probe(snapshot)
            let tenants = snapshot.tenants.indices.map { index in
                WarmupReport.Tenant(
                    id: snapshot.tenants[index].id, schema: snapshot.tenants[index].schema,
                    milliseconds: probes[index]?.ms,
                    error: snapshot.tenants[index].invalidReason ?? probes[index]?.error
                        ?? (snapshot.states[index].schemaExists ? nil : "schema does not exist"))
            }
            return WarmupReport(
                tenants: tenants, connections: await session.pool.usage.open,
                durationMs: HealthRun.milliseconds(since: started))
        }
    }
}

/// What `warmup` did: each tenant's probe time (or why it could not be touched), the connections
/// left open, the total time.
public struct WarmupReport: Codable, Sendable {
    public struct Tenant: Codable, Sendable {
        public var id: String
        public var schema: String
        public var milliseconds: Int?
        public var error: String?
    }

    public var tenants: [Tenant]
    public var connections: Int
    public var durationMs: Int
}
