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
    static let sessionSettings = [
        ("client_min_messages", "warning"), ("standard_conforming_strings", "on"), ("client_encoding", "UTF8"),
    ]
    static let sessionSetup = sessionSettings.map { "SET \($0) = '\($1)';" }.joined()

    /// Network defaults, each used unless the URL (or its PG* variable) sets it: connecting gives up
    /// after 10 s, and a dead peer is found by TCP keepalives (30 s idle, then 3 probes 10 s apart)
    /// and by unacknowledged data after 60 s, instead of a libpq call blocking for hours.
    static let networkDefaults: [(keyword: String, variable: String?, value: String)] = [
        ("connect_timeout", "PGCONNECT_TIMEOUT", "10"), ("keepalives", nil, "1"), ("keepalives_idle", nil, "30"),
        ("keepalives_interval", nil, "10"), ("keepalives_count", nil, "3"),
        ("tcp_user_timeout", nil, "60000"),
    ]

    /// `conninfo` is `database.url` with `${VAR}` expanded. The timeouts go in as startup options
    /// (`-c`), so they are the session defaults that `RESET` returns to, with a marker setting
    /// (`checkQuery`) that tells whether they arrived. Under a transaction pooler (unless
    /// `session`, for `database.directUrl`), nothing is set for the session: no startup options
    /// (PgBouncer refuses them), the encoding as a connection keyword, the rest `SET LOCAL` in each
    /// transaction.
    /// `readOnly` (without a pooler): `default_transaction_read_only` is on, so nothing the run
    /// sends can write (`plan`, `status`).
    init(
        plan: Plan, conninfo: String, session: Bool = false, readOnly: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        var options = ""
        let given = (try? ConnInfo.parse(conninfo).get()) ?? [:]
        self.conninfo = conninfo
        var overrides = ["application_name": plan.database.applicationName]
        for setting in Self.networkDefaults
        where given[setting.keyword] == nil && setting.variable.flatMap({ environment[$0] }) == nil {
            overrides[setting.keyword] = setting.value
        }
        guard plan.database.pooler == .none || session else {
            overrides["client_encoding"] = "UTF8"
            self.overrides = overrides
            self.setup = ""
            return
        }
        if let existing = given["options"], !existing.isEmpty {
            options = existing + " "
        } else if let inherited = environment["PGOPTIONS"], !inherited.isEmpty {
            options = inherited + " "  // libpq would have used it; an explicit `options` replaces it, so carry it over
        }
        options +=
            "-c statement_timeout=\(plan.database.statementTimeout.milliseconds) "
            + "-c lock_timeout=\(plan.database.lockTimeout.milliseconds) -c \(Self.marker)=on"
            + (readOnly ? " -c default_transaction_read_only=on" : "")
        overrides["options"] = options
        self.overrides = overrides
        self.setup = Self.sessionSetup
    }

    /// A setting sent with the startup options: a session without it did not get them.
    static let marker = "tenantplan.session"

    /// Whether the startup options arrived (`on`); a pooler that drops them (PgBouncer with
    /// `ignore_startup_parameters = options`) would also share sessions between clients.
    static let checkQuery = "SELECT coalesce(pg_catalog.current_setting('\(marker)', true), '')"

    /// What to do about a pooler in front of the server, added to an error that shows one.
    static let poolerAdvice =
        "; a connection pooler (PgBouncer) seems to sit in front of the server: set `database.pooler: "
        + "transaction` in the plan (and `database.directUrl` for migrations that run outside a transaction), "
        + "or point database.url at the server itself"

    /// Under `database.pooler: none`, fails unless the session got the startup options: a pooler that
    /// drops them would also hand tenantplan's session (and its locks) to other clients.
    static func verifySession(on connection: PGConnection) throws {
        guard try connection.exec(checkQuery).value(0, 0) == "on" else {
            throw PostgresError(
                kind: .client,
                message: "the session did not receive tenantplan's startup options (statement_timeout, "
                    + "lock_timeout)" + poolerAdvice)
        }
    }

    /// A pool of `capacity` sessions (the plan's concurrency, which the compiler keeps within
    /// `maxConnections`).
    /// `recycleAboveBytes`: 0 never by memory (always so behind a transaction pooler, whose server
    /// sessions are not this pool's).
    func makePool(
        capacity: Int, recycleAfter: Int, recycleAfterUnread: Int? = nil, recycleAboveBytes: Int = 0,
        logging: RunLogging? = nil
    ) -> ConnectionPool {
        ConnectionPool(
            conninfo: conninfo, overrides: overrides, setup: setup.isEmpty ? nil : setup, capacity: capacity,
            recycleAfter: recycleAfter, recycleAfterUnread: recycleAfterUnread, recycleAboveBytes: recycleAboveBytes,
            observer: logging?.queryObserver, events: logging?.poolObserver)
    }
}
