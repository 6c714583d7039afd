import TenantPlanPostgres

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
    static let cleanSession =
        "RESET ALL;RESET ROLE;RESET SESSION AUTHORIZATION;DISCARD TEMP;DISCARD SEQUENCES;DISCARD PLANS;"
        + "DEALLOCATE ALL;CLOSE ALL;UNLISTEN *;SELECT pg_catalog.pg_advisory_unlock_all();"
        + ConnectionSettings.sessionSetup

    /// Cleans the session and takes the lock; `then` (a query) runs in the same round trip, after
    /// the lock is held, and its result is returned.
    @discardableResult
    static func acquire(_ name: String, then query: String = "SELECT 1", on connection: PGConnection) throws -> PGResult
    {
        // Waiting for another tenantplan must trip neither lock_timeout nor statement_timeout: lift
        // them around the wait (RESET returns to the plan's values, set as startup options).
        let prefix = cleanSession + "SET lock_timeout = 0;SET statement_timeout = 0;"
        let statementsBeforeLock = prefix.split(separator: ";").count
        let outcome = connection.execAll(
            prefix + "SELECT pg_advisory_lock(\(namespace), hashtext(\(SQL.quoteLiteral(name))));"
                + "RESET lock_timeout;RESET statement_timeout;" + query)
        if let error = outcome.error {
            if outcome.results.count > statementsBeforeLock { release(name, on: connection) }
            throw error
        }
        return outcome.results.last!
    }

    static func release(_ name: String, on connection: PGConnection) {
        _ = connection.execAll("SELECT pg_advisory_unlock(\(namespace), hashtext(\(SQL.quoteLiteral(name))))")
    }
}
