// A Swift server that embeds tenantplan (the library, no shelling out):
// - migrates every tenant on boot, and refuses to start if a tenant failed;
// - resolves the tenant of each request from the X-Tenant-ID header into TenantContext (a
//   middleware: the @TenantId() of this world);
// - answers GET /invoices with one query joining the shared currencies with the tenant's invoices
//   (how many invoices the tenant has in each currency);
// - exposes tenantplan's /health, /metrics and /status.
//
// Run: TENANTPLAN_PLAN=plans/demo.yaml DATABASE_URL=postgresql:///app swift run tenantplan-example-server
// (PORT, default 8080).
import Foundation
import Hummingbird
import TenantPlanHTTP
import TenantPlanKit

let environment = ProcessInfo.processInfo.environment
let tenants = try TenantPlan.load(path: environment["TENANTPLAN_PLAN"] ?? "plans/demo.yaml")

// Migrate on boot: the app only serves a schema it knows is current.
let report = try await tenants.apply()
guard report.exitCode == 0 else {
    FileHandle.standardError.write(Data("migrations failed on \(report.summary.failed) tenants; not starting\n".utf8))
    exit(1)
}

let state = ServeState()
let refresher = Task { await state.keepFresh(tenants, refresh: .milliseconds(10_000), timeout: .milliseconds(5000)) }

let router = Router()
TenantPlanRoutes.add(to: router, state: state)
router.group("/invoices")
    .add(middleware: TenantContextMiddleware(tenants: tenants))
    .get { _, _ -> Response in
        guard let tenant = TenantContext.current else {
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "X-Tenant-ID missing\n")))
        }
        // search_path is the tenant's schema, then public: one query across both.
        let rows = try await tenants.withTenant(tenant.id) { session in
            try await session.query(
                "SELECT c.code, c.name, count(i.id) FROM currencies c LEFT JOIN invoices i "
                    + "ON i.currency_code = c.code GROUP BY c.code, c.name ORDER BY c.code")
        }
        let body = rows.map { $0.map { $0 ?? "" }.joined(separator: "\t") }.joined(separator: "\n")
        return Response(
            status: .ok, headers: [.contentType: "text/tab-separated-values"],
            body: .init(byteBuffer: ByteBuffer(string: "tenant\t\(tenant.id)\n" + body + "\n")))
    }

let port = Int(environment["PORT"] ?? "8080") ?? 8080
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
refresher.cancel()
await tenants.close()
