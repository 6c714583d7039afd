import TenantPlanPostgres
import TenantPlanSpec

/// Where and as whom migrations run: the schema, the tenant id, the search path, and how each
/// transaction on the target begins and ends.
struct ExecutionContext: Sendable {
    var target: StepTarget
    /// Under a transaction pooler: what each transaction takes and sets itself (nil: the
    /// connection is one session, locked for the whole target).
    var pooled: PooledTransaction?

    var tenantID: String { target.id }
    var schema: String { target.schema }
    var searchPath: [String] { target.searchPath }

    init(_ target: StepTarget, pooled: PooledTransaction? = nil) {
        self.target = target
        self.pooled = pooled
    }

    /// `SET LOCAL` (inside a transaction) or `SET` (session) statements for this context.
    /// Inside a transaction (`local`), also sets the guard that `TrackingSQL.guardedRecord` checks.
    func settings(local: Bool) -> String {
        let scope = local ? "SET LOCAL" : "SET"
        let path = searchPath.map(SQL.quoteIdentifier).joined(separator: ", ")
        return
            (local ? "SET LOCAL \(TrackingSQL.guardSetting) = 'on';" : "")
            + "\(scope) search_path TO \(path);"
            + "\(scope) tenantplan.tenant_id = \(SQL.quoteLiteral(tenantID));"
            + "\(scope) tenantplan.schema = \(SQL.quoteLiteral(schema));"
    }

    static let reset = "RESET search_path;RESET tenantplan.tenant_id;RESET tenantplan.schema;"

    /// Opens a transaction on the target (under a pooler, with its lock and the plan's settings).
    var begin: String { "BEGIN;" + (pooled?.prelude ?? "") }

    /// Ends a transaction that succeeded (under a pooler, first undoing what a migration set for
    /// the session, which would otherwise stay on a server session other clients get next).
    var commit: String { (pooled == nil ? "" : PooledTransaction.cleanup) + "COMMIT;" }

    /// Under a pooler, a statement failing the transaction (SQLSTATE `TrackingSQL.conflict`) when
    /// another run recorded any of `migrations` since this one read the table; empty otherwise.
    func unrecordedCheck(_ migrations: [Migration], in table: TrackingTableRef, format: TrackingFormat) -> String {
        guard pooled != nil, !migrations.isEmpty else { return "" }
        return TrackingSQL.unrecordedCheck(
            migrations.map { format.usesHash ? $0.hash : $0.name }, in: table, format: format)
    }
}

/// `database.pooler: transaction`: consecutive transactions may land on different server
/// sessions, so each one takes the target's lock (`pg_advisory_xact_lock`, released when it
/// ends) and sets the plan's timeouts itself; nothing is left at session level.
struct PooledTransaction: Sendable {
    var lockName: String
    /// `database.lockWait` (0: as long as it takes).
    var lockWait: PlanDuration
    var statementTimeout: PlanDuration
    var lockTimeout: PlanDuration

    /// Statements of the prelude before the lock (to tell a lock wait that ran out from a later error).
    static let statementsBeforeLock = 3

    /// After `BEGIN`: wait for the lock (bounded by lockWait only), then the plan's settings.
    var prelude: String { prelude(trying: false) }

    /// `prelude`; `trying`: `pg_try_advisory_xact_lock`, which returns whether it got the lock.
    func prelude(trying: Bool) -> String {
        "SET LOCAL lock_timeout = \(lockWait.milliseconds);SET LOCAL statement_timeout = 0;"
            + "SELECT pg_catalog.\(trying ? "pg_try_advisory_xact_lock" : "pg_advisory_xact_lock")("
            + "\(AdvisoryLock.namespace), "
            + "hashtext(\(SQL.quoteLiteral(lockName))));"
            + "SET LOCAL statement_timeout = \(statementTimeout.milliseconds);"
            + "SET LOCAL lock_timeout = \(lockTimeout.milliseconds);"
            + "SET LOCAL client_min_messages = warning;SET LOCAL standard_conforming_strings = on;"
    }

    /// Session-level settings a migration may have made, back to the server session's defaults
    /// (run last in the transaction, so they commit with it).
    static let cleanup = "RESET ALL;RESET ROLE;RESET SESSION AUTHORIZATION;"
}
