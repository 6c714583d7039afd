import TenantPlanPostgres
import TenantPlanSpec

/// Advisory-lock keys: one per tenant schema, one per shared action's table.
enum AdvisoryLock {
    /// First key of every tenantplan lock ("tpln").
    static let namespace: Int32 = 0x7470_6C6E

    /// The lock of a tenant (its schema) or of a shared action's tracking table.
    static func name(for target: StepTarget, table: TrackingTableRef?) -> String {
        if target.isShared, let table { return "shared:\(table.schema).\(table.table)" }
        return "tenant:" + target.schema
    }

    /// Everything a migration may have set at session level on a pooled connection (settings,
    /// role, temporary tables) back to the session's defaults, then the session setup again: each
    /// tenant starts from a clean session. The plan's timeouts are startup options, so they stay.
    /// (The advisory locks and the session setup in one statement: this runs for every target.)
    static let cleanSession =
        "RESET ALL;RESET ROLE;RESET SESSION AUTHORIZATION;DISCARD TEMP;DISCARD SEQUENCES;DISCARD PLANS;"
        + "DEALLOCATE ALL;CLOSE ALL;UNLISTEN *;SELECT pg_catalog.pg_advisory_unlock_all(), "
        + ConnectionSettings.sessionSettings.map { "pg_catalog.set_config('\($0)', '\($1)', false)" }
        .joined(separator: ", ") + ";"

    /// Cleans the session and takes the lock; `then` (a query) runs in the same round trip, after
    /// the lock is held, and its result is returned.
    /// Waiting longer than `wait` (`database.lockWait`; 0: no bound) fails with who holds the lock.
    /// Under a transaction pooler (`pooled`), the lock is `pg_advisory_xact_lock` in a transaction
    /// this opens and `release` ends; nothing is cleaned at session level.
    /// With `waiting`, the lock is tried first (the same one round trip when it is free); when
    /// another run holds it, `waiting` gets who does (`lockedBy`) before the wait begins.
    @discardableResult
    static func acquire(
        _ name: String, wait: PlanDuration = .zero, then query: String = "SELECT 1", pooled: PooledTransaction? = nil,
        waiting: ((String) -> Void)? = nil, on connection: PGConnection
    ) throws -> PGResult {
        if let waiting {
            if let result = try lock(name, wait: wait, then: query, pooled: pooled, trying: true, on: connection) {
                return result
            }
            waiting(lockedBy(name, on: connection))
        }
        return try lock(name, wait: wait, then: query, pooled: pooled, trying: false, on: connection)!
    }

    /// One round trip taking the lock then running `query`. `trying`: `pg_try_advisory_lock`, and
    /// nil (nothing held) when another session holds it.
    private static func lock(
        _ name: String, wait: PlanDuration, then query: String, pooled: PooledTransaction?, trying: Bool,
        on connection: PGConnection
    ) throws -> PGResult? {
        func taken(_ results: [PGResult], at index: Int) -> Bool {
            !trying || (results.count > index && results[index].value(0, 0) == "t")
        }
        if let pooled {
            let outcome = connection.execAll(PooledTransaction.begin + pooled.prelude(trying: trying) + query)
            guard let error = outcome.error else {
                guard taken(outcome.results, at: PooledTransaction.statementsBeforeLock) else {
                    _ = connection.execAll("ROLLBACK")
                    return nil
                }
                return outcome.results.last!
            }
            _ = connection.execAll("ROLLBACK")
            if outcome.results.count == PooledTransaction.statementsBeforeLock, error.sqlstate == "55P03" {
                throw Report.ErrorInfo(sqlstate: "55P03", message: lockedMessage(name, wait: wait, on: connection))
            }
            throw error
        }
        // Waiting for another tenantplan must trip neither lockTimeout nor statementTimeout: the wait
        // has its own bound, lockWait (RESET returns to the plan's values, set as startup options).
        let prefix = cleanSession + "SET lock_timeout = \(wait.milliseconds);SET statement_timeout = 0;"
        let statementsBeforeLock = prefix.split(separator: ";").count
        let function = trying ? "pg_try_advisory_lock" : "pg_advisory_lock"
        let outcome = connection.execAll(
            prefix + "SELECT \(function)(\(namespace), hashtext(\(SQL.quoteLiteral(name))));"
                + "RESET lock_timeout;RESET statement_timeout;" + query)
        if let error = outcome.error {
            if outcome.results.count > statementsBeforeLock, taken(outcome.results, at: statementsBeforeLock) {
                release(name, on: connection)
            }
            if outcome.results.count == statementsBeforeLock, error.sqlstate == "55P03" {
                _ = connection.execAll("RESET lock_timeout;RESET statement_timeout")
                throw Report.ErrorInfo(sqlstate: "55P03", message: lockedMessage(name, wait: wait, on: connection))
            }
            throw error
        }
        return taken(outcome.results, at: statementsBeforeLock) ? outcome.results.last! : nil
    }

    /// `tenant:tenant_acme is locked by another run (pid 4242, application_name tenantplan, waiting
    /// since …); gave up after lockWait 30s`, naming the holder from pg_locks and pg_stat_activity.
    static func lockedMessage(_ name: String, wait: PlanDuration, on connection: PGConnection) -> String {
        lockedBy(name, on: connection) + "; gave up after database.lockWait \(wait)"
    }

    /// `tenant:tenant_acme is locked by another run (pid 4242, application_name tenantplan, since …)`.
    static func lockedBy(_ name: String, on connection: PGConnection) -> String {
        let holder = connection.execAll(
            "SELECT a.pid::text, coalesce(a.application_name, ''), "
                + "to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                + "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                + "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
                + "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = \(namespace) "
                + "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
                + "AND l.objid = (hashtext(\(SQL.quoteLiteral(name)))::bigint & 4294967295) AND l.objsubid = 2 LIMIT 1"
        ).results.last
        var text = "\(name) is locked by another run"
        if let holder, holder.rowCount > 0 {
            let since = holder.value(0, 2) ?? holder.value(0, 3) ?? "?"
            text += " (pid \(holder.value(0, 0) ?? "?"), application_name \(holder.value(0, 1) ?? ""), since \(since))"
        }
        return text
    }

    static func release(_ name: String, pooled: Bool = false, on connection: PGConnection) {
        guard !pooled else {
            _ = connection.execAll("ROLLBACK")
            return
        }
        _ = connection.execAll("SELECT pg_advisory_unlock(\(namespace), hashtext(\(SQL.quoteLiteral(name))))")
    }
}
