import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// tenantplan as a library, for a Swift server: load a plan, apply it on boot, read health, and
/// run queries in a tenant's schema.
///
/// ```swift
/// let tenants = try TenantPlan.load(path: "plans/prod.yaml")
/// let report = try await tenants.apply()
/// guard report.exitCode == 0 else { fatalError("migrations failed") }
/// let invoices = try await tenants.withTenant("acme") { session in
///     try await session.query("SELECT i.id, c.name FROM invoices i JOIN currencies c USING (code)")
/// }
/// ```
///
/// Every call is `async`; cancelling the calling task stops a run the way Ctrl-C stops the CLI
/// (no new tenant starts, running statements are canceled and roll back).
public actor TenantPlan {
    /// The compiled plan.
    public let plan: Plan
    /// `database.url` with `${VAR}` expanded.
    let conninfo: String
    private var servingPool: ConnectionPool?
    private var known: [String: Tenant]?

    public init(plan: Plan, conninfo: String) {
        self.plan = plan
        self.conninfo = conninfo
    }

    /// Compiles the plan at `path` (its `${VAR}` from `environment`). Throws `TenantPlanError`
    /// with every diagnostic for an invalid plan or URL.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(TenantPlanError) -> TenantPlan {
        let plan = try RunSetup.compile(path: path, environment: environment)
        return TenantPlan(plan: plan, conninfo: try RunSetup.conninfo(for: plan, environment: environment))
    }

    /// Runs `body` with a runner whose run task cancellation interrupts.
    private func running<T: Sendable>(
        _ options: RunOptions, events: @escaping @Sendable (RunEvent) -> Void = { _ in },
        _ body: @Sendable (PlanRunner) async throws -> T
    ) async throws -> T {
        let control = RunControl()
        let runner = PlanRunner(plan: plan, conninfo: conninfo, options: options, control: control, events: events)
        return try await withTaskCancellationHandler {
            try await body(runner)
        } onCancel: {
            control.interrupt()
        }
    }

    /// Applies the plan (`options.dryRun`: what it would do). `events` gets the run's progress.
    public func apply(
        _ options: RunOptions = RunOptions(), events: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws -> Report {
        try await running(options, events: events, { try await $0.apply() })
    }

    /// What a run reports while it goes, then its report.
    public enum Progress: Sendable {
        case event(RunEvent)
        case finished(Report)
    }

    /// Applies the plan, as a stream: every event, then `.finished` with the report. Ending the
    /// iteration early cancels the run.
    public nonisolated func applying(_ options: RunOptions = RunOptions()) -> AsyncThrowingStream<Progress, Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let report = try await self.apply(options) { continuation.yield(.event($0)) }
                    continuation.yield(.finished(report))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Health of the shared database and every tenant (`tenantplan health`).
    public func health(timeout: PlanDuration = .milliseconds(5000), filter: TenantFilter = TenantFilter()) async throws
        -> HealthReport
    {
        try await running(RunOptions(command: "health", filter: filter)) { try await $0.health(timeout: timeout) }
    }

    /// Every tenant's applied, pending and orphaned migrations (`tenantplan status`).
    public func status(filter: TenantFilter = TenantFilter()) async throws -> StatusReport {
        try await running(RunOptions(command: "status", filter: filter)) { try await $0.status() }
    }

    /// Opens connections and touches every tenant once (`tenantplan warmup`).
    public func warmup(timeout: PlanDuration = .milliseconds(5000)) async throws -> WarmupReport {
        try await running(RunOptions(command: "warmup")) { try await $0.warmup(timeout: timeout) }
    }

    // MARK: - Serving requests

    /// Forgets the discovered tenants, so that the next `withTenant` discovers again (a tenant
    /// provisioned since).
    public func rediscover() {
        known = nil
    }

    /// Runs `body` on a pooled connection whose `search_path` is the tenant's (then the plan's
    /// `tenants.searchPath`, e.g. `public`) and whose `tenantplan.tenant_id` and `tenantplan.schema`
    /// are set, with `TenantContext.current` set for the body. An id discovery did not return, or
    /// one that makes no valid schema name, is refused (`TenantPlanError.unknownTenants`) before any
    /// SQL runs for it.
    public func withTenant<T: Sendable>(_ id: String, _ body: @Sendable (TenantSession) async throws -> T)
        async throws -> T
    {
        let tenant = try await tenant(id)
        let pool = self.pool()
        let target = StepTarget.tenant(tenant, plan: plan)
        let context = ExecutionContext(target)
        let session = try await pool.acquire()
        do {
            try await session.run { try $0.exec(context.settings(local: false)) }
            let value = try await TenantContext.$current.withValue(
                TenantContext(id: tenant.id, schema: tenant.schema)
            ) {
                try await body(TenantSession(session: session))
            }
            _ = try? await session.run { $0.execAll(ExecutionContext.reset) }
            await pool.release(session, countsAsTenant: false)
            return value
        } catch {
            _ = try? await session.run { $0.execAll("ROLLBACK;" + ExecutionContext.reset) }
            await pool.release(session, countsAsTenant: false)
            throw error
        }
    }

    /// The context of tenant `id` (discovery made once, as for `withTenant`); refused the same way.
    public func tenantContext(_ id: String) async throws -> TenantContext {
        let tenant = try await tenant(id)
        return TenantContext(id: tenant.id, schema: tenant.schema)
    }

    /// Closes the connections `withTenant` keeps.
    public func close() async {
        await servingPool?.close()
        servingPool = nil
    }

    private func pool() -> ConnectionPool {
        if let servingPool { return servingPool }
        let pool = ConnectionSettings(plan: plan, conninfo: conninfo)
            .makePool(capacity: plan.database.maxConnections, recycleAfter: Int.max)
        servingPool = pool
        return pool
    }

    /// The tenant `id`, from a discovery made once (and again after `rediscover()`).
    private func tenant(_ id: String) async throws -> Tenant {
        if known == nil {
            let settings = plan.tenants
            let session = try await pool().acquire()
            let ids: [String]
            do {
                ids = try await session.run { try TenantDiscovery.discover(settings, on: $0) }
                await pool().release(session, countsAsTenant: false)
            } catch {
                await pool().release(session, countsAsTenant: false)
                throw error
            }
            let (tenants, _) = try TenantDiscovery.tenants(ids: ids, settings: settings, filter: TenantFilter())
            known = Dictionary(tenants.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
        guard let tenant = known?[id], tenant.invalidReason == nil else {
            throw TenantPlanError.unknownTenants([id])
        }
        return tenant
    }
}

/// The tenant a task is serving: set by `TenantPlan.withTenant` (and by a server's middleware
/// that resolves the tenant from a request), read anywhere below it.
public struct TenantContext: Sendable, Equatable {
    public var id: String
    public var schema: String

    public init(id: String, schema: String) {
        self.id = id
        self.schema = schema
    }

    @TaskLocal public static var current: TenantContext?
}

/// A connection in one tenant's schema (`TenantPlan.withTenant`).
public struct TenantSession: Sendable {
    let session: PGSession

    /// Runs `sql` with `$1`, `$2`… bound to `parameters` (text; nil is NULL); the rows as text.
    public func query(_ sql: String, _ parameters: [String?] = []) async throws -> [[String?]] {
        try await session.run { connection in
            parameters.isEmpty ? try connection.exec(sql).rows : try connection.exec(sql, parameters).rows
        }
    }

    /// Runs statements that return no rows.
    public func execute(_ sql: String) async throws {
        _ = try await session.run { try $0.exec(sql) }
    }
}
