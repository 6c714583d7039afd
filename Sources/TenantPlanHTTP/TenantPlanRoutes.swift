import Foundation
import Hummingbird
import TenantPlanKit
import TenantPlanSpec

/// tenantplan over HTTP (Hummingbird), for `tenantplan serve` and for a Swift server that embeds
/// tenantplan: `/health`, `/metrics` and `/status` from the last read of tenant state
/// (`ServeState`, refreshed on an interval by `ServeState.keepFresh`), and a middleware that
/// resolves the tenant of a request into `TenantContext`.
public enum TenantPlanRoutes {
    /// Adds `GET /health`, `/metrics` and `/status` answered from `state`.
    public static func add<Context: RequestContext>(to router: Router<Context>, state: ServeState) {
        router.get("/health") { _, _ in await state.healthResponse() }
        router.get("/metrics") { _, _ in await state.metricsResponse() }
        router.get("/status") { _, _ in await state.statusResponse() }
    }
}

/// Resolves the tenant of a request from a header (`X-Tenant-ID` by default) into
/// `TenantContext.current` for the handlers after it: the `@TenantId()` of this world. A request
/// without the header goes on without a tenant; an id that is not a tenant of the plan is a 404
/// before any handler runs.
public struct TenantContextMiddleware<Context: RequestContext>: RouterMiddleware {
    public let tenants: TenantPlan
    public let header: HTTPFields.Element.Name

    public init(tenants: TenantPlan, header: HTTPFields.Element.Name = HTTPFields.Element.Name("X-Tenant-ID")!) {
        self.tenants = tenants
        self.header = header
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let id = request.headers[header] else { return try await next(request, context) }
        guard let tenant = try? await tenants.tenantContext(id) else {
            return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "unknown tenant\n")))
        }
        return try await TenantContext.$current.withValue(tenant) { try await next(request, context) }
    }
}

/// The last health and status read, and what the routes answer from them.
public actor ServeState {
    private var health: HealthReport?
    private var status: Data?
    private var lastError: String?
    private var refreshes = 0
    private var failures = 0

    /// Warms up, then reads health and status every `refresh` until the task is cancelled.
    public func keepFresh(_ tenants: TenantPlan, refresh: PlanDuration, timeout: PlanDuration) async {
        _ = try? await tenants.warmup(timeout: timeout)
        while !Task.isCancelled {
            await self.refresh(tenants, timeout: timeout)
            try? await Task.sleep(for: .milliseconds(refresh.milliseconds))
        }
    }

    public init() {}

    /// Reads health and status again.
    public func refresh(_ tenants: TenantPlan, timeout: PlanDuration) async {
        refreshes += 1
        do {
            health = try await tenants.health(timeout: timeout)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            status = try encoder.encode(try await tenants.status())
            lastError = nil
        } catch {
            failures += 1
            lastError = "\(error)"
            status = nil
        }
    }

    private func json(_ data: Data, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func unavailable() -> Response {
        let text =
            lastError.map { "{\"healthy\": false, \"error\": \(Self.quoted($0))}\n" }
            ?? "{\"healthy\": false, \"error\": \"not checked yet\"}\n"
        return json(Data(text.utf8), status: .serviceUnavailable)
    }

    static func quoted(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// `GET /health`: the health JSON, 200 when healthy, 503 otherwise (or before the first read).
    public func healthResponse() -> Response {
        guard let health, let data = try? health.json() else { return unavailable() }
        return json(data, status: health.healthy ? .ok : .serviceUnavailable)
    }

    /// `GET /status`: the status JSON (503 while it cannot be read).
    public func statusResponse() -> Response {
        guard let status else { return unavailable() }
        return json(status, status: .ok)
    }

    /// `GET /metrics`: Prometheus text from the last read.
    public func metricsResponse() -> Response {
        let metrics = MetricsRegistry()
        let gauge: (String, String, [(String, String)], Double) -> Void = metrics.gauge
        metrics.counter("tenantplan_refreshes", "Reads of tenant state since the server started.", [], refreshes)
        metrics.counter("tenantplan_refresh_failures", "Reads of tenant state that failed.", [], failures)
        if let health {
            for status in [HealthReport.Status.ok, .degraded, .unhealthy] {
                gauge(
                    "tenantplan_tenants", "Tenants by health at the last read.", [("status", status.rawValue)],
                    Double(health.pools.filter { $0.status == status }.count))
            }
            gauge(
                "tenantplan_pending_migrations", "Migrations pending over all tenants at the last read.", [],
                Double(health.pools.reduce(0) { $0 + $1.pendingMigrations }))
            gauge(
                "tenantplan_shared_db_up", "1 when the shared database answered at the last read.", [],
                health.sharedDb.status == .ok ? 1 : 0)
            gauge(
                "tenantplan_health_check_duration_seconds", "How long the last health read took.", [],
                Double(health.durationMs) / 1000)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.text)))
    }
}
