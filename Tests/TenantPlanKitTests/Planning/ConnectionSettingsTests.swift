import Testing

@testable import TenantPlanKit
@testable import TenantPlanSpec

/// What tenantplan adds to `database.url`: no database needed.
@Suite struct ConnectionSettingsTests {
    @Test("network timeouts and keepalives are added unless the URL or its PG* variable sets them")
    func networkDefaults() {
        let plan = Build.plan([])
        let plain = ConnectionSettings(plan: plan, conninfo: "host=db dbname=app", environment: [:])
        #expect(plain.overrides["connect_timeout"] == "10")
        #expect(plain.overrides["keepalives"] == "1")
        #expect(plain.overrides["tcp_user_timeout"] == "60000")
        #expect(plain.overrides["application_name"] == "t")
        let own = ConnectionSettings(
            plan: plan, conninfo: "postgresql://db/app?connect_timeout=3&keepalives_idle=5", environment: [:])
        #expect(own.overrides["connect_timeout"] == nil, "the URL's own value stands")
        #expect(own.overrides["keepalives_idle"] == nil)
        let fromEnvironment = ConnectionSettings(
            plan: plan, conninfo: "host=db", environment: ["PGCONNECT_TIMEOUT": "2"])
        #expect(fromEnvironment.overrides["connect_timeout"] == nil, "libpq reads PGCONNECT_TIMEOUT itself")
    }

    @Test("the plan's timeouts go in as startup options, after the URL's own options")
    func startupOptions() {
        let plan = Build.plan([])
        let settings = ConnectionSettings(plan: plan, conninfo: "host=db options='-c work_mem=64MB'", environment: [:])
        #expect(settings.overrides["options"] == "-c work_mem=64MB -c statement_timeout=0 -c lock_timeout=0")
    }
}
