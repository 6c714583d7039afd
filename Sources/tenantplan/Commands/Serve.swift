import ArgumentParser
import Foundation
import Hummingbird
import Prometheus
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan serve PLAN`: health, metrics and status over HTTP, refreshed on an interval.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve /health, /metrics and /status over HTTP, warmed up on start and refreshed on an interval.",
        discussion: """
            GET /health: the health report (as `tenantplan health --json`), 200 when healthy, 503 otherwise. \\
            GET /metrics: Prometheus text (tenants by health, pending migrations, the shared database). \\
            GET /status: the status report (as `tenantplan status --json`). Read only. Stops gracefully on SIGTERM \\
            or SIGINT.
            """
    )

    @OptionGroup var planArgument: PlanArgument

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 9187

    @Option(help: ArgumentHelp("How often tenant state is read again, e.g. 30s.", valueName: "duration"))
    var refresh: PlanDuration = .milliseconds(30_000)

    @Option(help: ArgumentHelp("Bound on each tenant's health probe.", valueName: "duration"))
    var timeout: PlanDuration = .milliseconds(5000)

    func validate() throws {
        if refresh.milliseconds < 100 { throw ValidationError("--refresh must be at least 100ms") }
    }

    mutating func run() async throws {
        let tenants = try TenantPlan.load(path: planArgument.plan)
        let state = ServeState()
        let (refresh, timeout) = (self.refresh, self.timeout)
        let refresher = Task {
            _ = try? await tenants.warmup(timeout: timeout)
            while !Task.isCancelled {
                await state.refresh(tenants, timeout: timeout)
                try? await Task.sleep(for: .milliseconds(refresh.milliseconds))
            }
        }
        defer { refresher.cancel() }
        let router = Router()
        router.get("/health") { _, _ in await state.healthResponse() }
        router.get("/metrics") { _, _ in await state.metricsResponse() }
        router.get("/status") { _, _ in await state.statusResponse() }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tenantplan"))
        Console.error("serving http://\(host):\(port)/health, /metrics and /status (refresh every \(refresh))")
        try await app.runService()
        refresher.cancel()
        await tenants.close()
    }
}

/// The last health and status read, and what the routes answer from them.
actor ServeState {
    private var health: HealthReport?
    private var status: Data?
    private var lastError: String?
    private var refreshes = 0
    private var failures = 0

    func refresh(_ tenants: TenantPlan, timeout: PlanDuration) async {
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

    func healthResponse() -> Response {
        guard let health, let data = try? health.json() else { return unavailable() }
        return json(data, status: health.healthy ? .ok : .serviceUnavailable)
    }

    func statusResponse() -> Response {
        guard let status else { return unavailable() }
        return json(status, status: .ok)
    }

    func metricsResponse() -> Response {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels
            ).set(to: value)
        }
        func counter(_ name: String, _ help: String, _ value: Int) {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help))
                .increment(by: Int64(value))
        }
        counter("tenantplan_refreshes", "Reads of tenant state since the server started.", refreshes)
        counter("tenantplan_refresh_failures", "Reads of tenant state that failed.", failures)
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
            body: .init(byteBuffer: ByteBuffer(string: registry.emitToString())))
    }
}
