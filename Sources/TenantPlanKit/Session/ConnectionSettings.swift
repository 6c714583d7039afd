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

    /// `conninfo` is `database.url` with `${VAR}` expanded. The timeouts go in as startup options
    /// (`-c`), so they are the session defaults that `RESET` returns to.
    init(plan: Plan, conninfo: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        var options = ""
        if case .success(let values) = ConnInfo.parse(conninfo), let existing = values["options"], !existing.isEmpty {
            options = existing + " "
        } else if let inherited = environment["PGOPTIONS"], !inherited.isEmpty {
            options = inherited + " "  // libpq would have used it; an explicit `options` replaces it, so carry it over
        }
        options +=
            "-c statement_timeout=\(plan.database.statementTimeout.milliseconds) "
            + "-c lock_timeout=\(plan.database.lockTimeout.milliseconds)"
        self.conninfo = conninfo
        self.overrides = ["application_name": plan.database.applicationName, "options": options]
        self.setup = Self.sessionSetup
    }

    /// A pool of `capacity` sessions (the plan's concurrency, which the compiler keeps within
    /// `maxConnections`).
    func makePool(capacity: Int, recycleAfter: Int) -> ConnectionPool {
        ConnectionPool(
            conninfo: conninfo, overrides: overrides, setup: setup, capacity: capacity, recycleAfter: recycleAfter)
    }
}
