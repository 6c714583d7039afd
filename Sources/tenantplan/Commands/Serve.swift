import ArgumentParser
import Foundation
import Hummingbird
import TenantPlanHTTP
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan serve PLAN`: health, metrics and status over HTTP, refreshed on an interval.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve /health, /metrics and /status over HTTP, warmed up on start and refreshed on an interval.",
        discussion: """
            GET /health: the health report (as `tenantplan health --json`), 200 when healthy, 503 otherwise. \
            GET /metrics: Prometheus text (tenants by health, pending migrations, the shared database). \
            GET /status: the status report (as `tenantplan status --json`). Read only. Stops gracefully on SIGTERM \
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

    @OptionGroup var probe: ProbeTimeout

    func validate() throws {
        if refresh.milliseconds < 100 { throw ValidationError("--refresh must be at least 100ms") }
    }

    mutating func run() async throws {
        let tenants = try TenantPlan.load(path: planArgument.plan)
        let state = ServeState()
        let (refresh, timeout) = (self.refresh, probe.timeout)
        let refresher = Task { await state.keepFresh(tenants, refresh: refresh, timeout: timeout) }
        defer { refresher.cancel() }
        let router = Router()
        TenantPlanRoutes.add(to: router, state: state)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tenantplan"))
        Console.error("serving http://\(host):\(port)/health, /metrics and /status (refresh every \(refresh))")
        try await app.runService()
        refresher.cancel()
        await tenants.close()
    }
}
