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
        #expect(
            settings.overrides["options"]
                == "-c work_mem=64MB -c statement_timeout=0 -c lock_timeout=0 -c tenantplan.session=on")
    }

    @Test("under a transaction pooler nothing is set for the session; the direct URL is a session as usual")
    func transactionPooler() {
        var plan = Build.plan([])
        plan.database.pooler = .transaction
        plan.database.statementTimeout = .milliseconds(5000)
        let pooled = ConnectionSettings(plan: plan, conninfo: "host=bouncer port=6432", environment: [:])
        #expect(pooled.overrides["options"] == nil, "PgBouncer refuses the startup parameter `options`")
        #expect(pooled.overrides["client_encoding"] == "UTF8")
        #expect(pooled.overrides["application_name"] == "t")
        #expect(pooled.setup.isEmpty)
        let direct = ConnectionSettings(plan: plan, conninfo: "host=db", session: true, environment: [:])
        #expect(direct.overrides["options"]?.contains("-c statement_timeout=5000") == true)
        #expect(!direct.setup.isEmpty)
        let lock = PooledTransaction(
            lockName: "tenant:it's", lockWait: .milliseconds(2000), statementTimeout: .milliseconds(5000),
            lockTimeout: .zero)
        #expect(
            lock.prelude
                == "SET LOCAL lock_timeout = 2000;SET LOCAL statement_timeout = 0;"
                + "SELECT pg_catalog.pg_advisory_xact_lock(\(AdvisoryLock.namespace), hashtext('tenant:it''s'));"
                + "SET LOCAL statement_timeout = 5000;SET LOCAL lock_timeout = 0;"
                + "SET LOCAL client_min_messages = warning;SET LOCAL standard_conforming_strings = on;")
    }

    @Test("the conflict check's dollar quote is one its body does not contain")
    func conflictCheckQuoting() {
        let table = TrackingTableRef(schema: "s$tp$", table: "t")
        let check = TrackingSQL.unrecordedCheck(["a$tp$b", "x'y"], in: table, format: .name)
        #expect(
            check.hasPrefix(
                "DO $tp1$BEGIN IF EXISTS (SELECT 1 FROM \"s$tp$\".\"t\" WHERE \"name\" IN ('a$tp$b', 'x''y'))"))
        #expect(check.hasSuffix("$tp1$;"))
    }
}
