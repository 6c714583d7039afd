import Foundation
import Prometheus

/// A run's Prometheus metrics (swift-prometheus), in the text exposition format: built from the
/// run's events (retries by SQLSTATE) and its report (tenants, migrations and their durations,
/// what is still pending, the pool). No per-tenant label unless `perTenant`: 10,000 tenants must
/// not make 10,000 series.
public final class RunMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var retries: [String: Int] = [:]
    public let perTenant: Bool

    /// Buckets of `tenantplan_migration_duration_seconds`.
    static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60), .seconds(300),
    ]

    public init(perTenant: Bool = false) {
        self.perTenant = perTenant
    }

    /// Feed every event of the run.
    public func record(_ event: RunEvent) {
        guard case .retrying(_, _, _, _, _, let error) = event else { return }
        lock.withLock { retries[error.sqlstate ?? "none", default: 0] += 1 }
    }

    /// The metrics for `report`, as Prometheus text.
    public func text(for report: Report) -> String {
        let metrics = MetricsRegistry()
        let gauge: (String, String, [(String, String)], Int) -> Void = metrics.gauge
        let counter = metrics.counter
        let summary = report.summary
        let statuses = [
            ("succeeded", summary.succeeded - summary.unchanged), ("unchanged", summary.unchanged),
            ("failed", summary.failed), ("skipped", summary.skipped),
        ]
        for (status, count) in statuses {
            gauge("tenantplan_tenants", "Tenants of the run by outcome.", [("status", status)], count)
        }
        counter("tenantplan_migrations_applied", "Migrations the run applied.", [], summary.migrationsApplied)
        let histogram = metrics.registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "tenantplan_migration_duration", unitName: "seconds",
                helpText: "Time each applied migration took."),
            buckets: Self.buckets)
        for action in report.tenants.flatMap(\.actions) + report.sharedActions {
            for migration in action.applied { histogram.record(.milliseconds(migration.durationMs)) }
        }
        let seen = lock.withLock { retries }
        for sqlstate in seen.keys.sorted() {
            counter(
                "tenantplan_retries", "Attempts retried after a transient error, by SQLSTATE.",
                [("sqlstate", sqlstate)], seen[sqlstate]!)
        }
        let pending = report.tenants.map(Self.pending)
        gauge(
            "tenantplan_pending_migrations", "Migrations still pending on the run's tenants.", [], pending.reduce(0, +))
        if perTenant {
            for (tenant, count) in zip(report.tenants, pending) {
                gauge(
                    "tenantplan_tenant_pending_migrations", "Migrations still pending, per tenant.",
                    [("tenant", tenant.id)], count)
            }
        }
        if let pool = report.connections {
            gauge("tenantplan_pool_connections", "Pool connections at the end.", [("state", "active")], pool.active)
            gauge("tenantplan_pool_connections", "Pool connections at the end.", [("state", "idle")], pool.idle)
            gauge("tenantplan_pool_waiting", "Tasks waiting for a connection at the end.", [], pool.waiting)
            counter("tenantplan_connections_opened", "Connections the run opened.", [], pool.opened)
            counter(
                "tenantplan_connections_recycled", "Connections closed after recycleAfter tenants.", [], pool.recycled)
        }
        return metrics.text
    }

    /// Migrations left pending on a tenant: those of its actions a dry run would run, or that a
    /// failure left behind.
    static func pending(_ tenant: Report.TenantResult) -> Int {
        tenant.actions.reduce(0) { $0 + ($1.pending?.count ?? 0) }
    }
}

/// A Prometheus registry with the two shapes tenantplan writes: a gauge (`name`), a counter
/// (`name_total`), each with help text and labels. Shared by `RunMetrics` and `tenantplan serve`.
public struct MetricsRegistry: Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    public func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels
        ).set(to: value)
    }

    public func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Int) {
        gauge(name, help, labels, Double(value))
    }

    public func counter(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Int) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help), labels: labels
        ).increment(by: Int64(value))
    }

    /// The text exposition format.
    public var text: String { registry.emitToString() }
}
