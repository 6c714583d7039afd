import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// How tenantplan connects for a plan: the URL's keywords plus `application_name` and the
/// plan's timeouts, and what every session runs once after connecting.
struct ConnectionSettings: Sendable {
    var conninfo: String
    var overrides: [String: String]
    var setup: String

    /// What every session runs once after connecting.
    static let sessionSetup =
        "SET client_min_messages = warning;SET standard_conforming_strings = on;SET client_encoding = 'UTF8';"

    /// Network defaults, each used unless the URL (or its PG* variable) sets it: connecting gives up
    /// after 10 s, and a dead peer is found by TCP keepalives (30 s idle, then 3 probes 10 s apart)
    /// and by unacknowledged data after 60 s, instead of a libpq call blocking for hours.
    static let networkDefaults: [(keyword: String, variable: String?, value: String)] = [
        ("connect_timeout", "PGCONNECT_TIMEOUT", "10"), ("keepalives", nil, "1"), ("keepalives_idle", nil, "30"),
        ("keepalives_interval", nil, "10"), ("keepalives_count", nil, "3"),
        ("tcp_user_timeout", nil, "60000"),
    ]

    /// `conninfo` is `database.url` with `${VAR}` expanded. The timeouts go in as startup options
    /// (`-c`), so they are the session defaults that `RESET` returns to.
    init(plan: Plan, conninfo: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        var options = ""
        let given = (try? ConnInfo.parse(conninfo).get()) ?? [:]
        if let existing = given["options"], !existing.isEmpty {
            options = existing + " "
        } else if let inherited = environment["PGOPTIONS"], !inherited.isEmpty {
            options = inherited + " "  // libpq would have used it; an explicit `options` replaces it, so carry it over
        }
        options +=
            "-c statement_timeout=\(plan.database.statementTimeout.milliseconds) "
            + "-c lock_timeout=\(plan.database.lockTimeout.milliseconds)"
        self.conninfo = conninfo
        var overrides = ["application_name": plan.database.applicationName, "options": options]
        for setting in Self.networkDefaults
        where given[setting.keyword] == nil && setting.variable.flatMap({ environment[$0] }) == nil {
            overrides[setting.keyword] = setting.value
        }
        self.overrides = overrides
        self.setup = Self.sessionSetup
    }

    /// A pool of `capacity` sessions (the plan's concurrency, which the compiler keeps within
    /// `maxConnections`).
    func makePool(capacity: Int, recycleAfter: Int) -> ConnectionPool {
        ConnectionPool(
            conninfo: conninfo, overrides: overrides, setup: setup, capacity: capacity, recycleAfter: recycleAfter)
    }
}
