import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// `health`: the shared database answers, then every tenant: its schema exists, its tracking
/// table is readable and answers within `timeout` (one probe per tenant over the pool), nothing
/// pending (the batched read, as `status`). Read only.
struct HealthRun {
    let session: RunSession
    /// Each probe's bound (0: none).
    let timeout: PlanDuration

    func run() async throws -> HealthReport {
        try await session.closing { try await check() }
    }

    private func check() async throws -> HealthReport {
        let started = Date()
        let shared = await sharedCheck()
        guard shared.status == .ok else {
            return HealthReport(
                healthy: false, pools: [], sharedDb: shared, totalPools: 0, degradedPools: 0, unhealthyPools: 0,
                timestamp: Timestamp.iso8601(started), durationMs: Self.milliseconds(since: started))
        }
        let snapshot = try await session.snapshot()
        let status = try await StatusRun(session: session).report(snapshot)
        let probes = await probe(snapshot)
        var pools: [HealthReport.Pool] = []
        for (index, entry) in status.tenants.enumerated() {
            let usage = probes[index]?.usage ?? (open: 0, idle: 0, waiting: 0)
            var pool = HealthReport.Pool(
                tenantId: entry.id, schemaName: entry.schema, status: .ok, totalConnections: usage.open,
                idleConnections: usage.idle, waitingRequests: usage.waiting, responseTimeMs: probes[index]?.ms,
                error: nil, pendingMigrations: entry.pending.count)
            if let error = entry.error ?? probes[index]?.error {
                pool.status = .unhealthy
                pool.error = error
            } else if !entry.schemaExists {
                pool.status = .unhealthy
                pool.error = "schema \(entry.schema) does not exist"
            } else if !entry.pending.isEmpty || !entry.orphaned.isEmpty || !(entry.edited ?? []).isEmpty {
                pool.status = .degraded
                pool.error = Self.degradation(entry)
            }
            pools.append(pool)
        }
        let degraded = pools.filter { $0.status == .degraded }.count
        let unhealthy = pools.filter { $0.status == .unhealthy }.count
        return HealthReport(
            healthy: degraded == 0 && unhealthy == 0, pools: pools, sharedDb: shared, totalPools: pools.count,
            degradedPools: degraded, unhealthyPools: unhealthy, timestamp: Timestamp.iso8601(started),
            durationMs: Self.milliseconds(since: started))
    }

    static func milliseconds(since start: Date) -> Int { Int(Date().timeIntervalSince(start) * 1000) }

    static func degradation(_ entry: StatusReport.Entry) -> String {
        var parts: [String] = []
        if !entry.pending.isEmpty {
            parts.append("\(entry.pending.count) pending: \(entry.pending.joined(separator: ", "))")
        }
        if !entry.orphaned.isEmpty { parts.append("\(entry.orphaned.count) orphaned rows") }
        if let edited = entry.edited, !edited.isEmpty {
            parts.append("edited since applied: \(edited.joined(separator: ", "))")
        }
        return parts.joined(separator: "; ")
    }

    /// The shared database: a connection and `SELECT 1`, timed.
    private func sharedCheck() async -> HealthReport.Shared {
        let started = Date()
        do {
            _ = try await session.withConnection(waitForServer: false) { try $0.exec("SELECT 1") }
            return HealthReport.Shared(status: .ok, responseTimeMs: Self.milliseconds(since: started), error: nil)
        } catch {
            return HealthReport.Shared(status: .unhealthy, responseTimeMs: nil, error: "\(error)")
        }
    }

    struct Probe: Sendable {
        var ms: Int?
        var error: String?
        var usage: (open: Int, idle: Int, waiting: Int)
    }

    /// One timed read of each tenant's first tracking table (or of `SELECT 1` in its schema when
    /// it has none yet), `pool.capacity` at a time, each bounded by `timeout`.
    func probe(_ snapshot: Snapshot) async -> [Int: Probe] {
        let pool = session.pool
        let bound = timeout.milliseconds
        let targets: [(Int, String)] = snapshot.validIndices.compactMap { index in
            guard snapshot.states[index].schemaExists else { return nil }
            let ref = snapshot.tables[index].refs.first { snapshot.states[index].tables[$0]?.format != nil }
            let query = ref.map { "SELECT 1 FROM \($0.qualified) LIMIT 1" } ?? "SELECT 1"
            return (index, "SET statement_timeout = \(bound);\(query);RESET statement_timeout")
        }
        var probes: [Int: Probe] = [:]
        await withTaskGroup(of: (Int, Probe).self) { group in
            var next = 0
            func addTask() {
                guard next < targets.count else { return }
                let (index, sql) = targets[next]
                next += 1
                group.addTask {
                    let started = Date()
                    do {
                        let connection = try await pool.acquire()
                        let usage = await pool.usage
                        let outcome = try await connection.run { $0.execAll(sql).error }
                        await pool.release(connection, countsAsTenant: false)
                        guard let error = outcome else {
                            return (index, Probe(ms: Self.milliseconds(since: started), error: nil, usage: usage))
                        }
                        return (index, Probe(ms: nil, error: error.message, usage: usage))
                    } catch {
                        return (index, Probe(ms: nil, error: "\(error)", usage: (0, 0, 0)))
                    }
                }
            }
            for _ in 0..<min(targets.count, pool.capacity) { addTask() }
            while let (index, probe) = await group.next() {
                probes[index] = probe
                addTask()
            }
        }
        return probes
    }
}
