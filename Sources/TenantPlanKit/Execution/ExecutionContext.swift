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

    /// What each transaction sets the guard to (`TrackingSQL.guardedRecord`): random, so that a
    /// migration cannot set it itself after ending the transaction.
    let guardToken = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    init(_ target: StepTarget, pooled: PooledTransaction? = nil) {
        self.target = target
        self.pooled = pooled
    }

    /// `SET LOCAL` (inside a transaction) or `SET` (session) statements for this context.
    /// Inside a transaction (`local`), also sets the guard that `TrackingSQL.guardedRecord` checks.
    /// Inside a transaction, `SET LOCAL search_path` (which shows the path as `SET` normalises it)
    /// and one statement of `set_config(..., true)` calls for the rest (the same as `SET LOCAL`:
    /// two statements instead of four, for every transaction of every tenant).
    func settings(local: Bool, mark: Bool = false) -> String {
        let path = searchPath.map(SQL.quoteIdentifier).joined(separator: ", ")
        guard local else {
            return "SET search_path TO \(path);SET tenantplan.tenant_id = \(SQL.quoteLiteral(tenantID));"
                + "SET tenantplan.schema = \(SQL.quoteLiteral(schema));"
        }
        let values = [
            (TrackingSQL.guardSetting, guardToken), ("tenantplan.tenant_id", tenantID), ("tenantplan.schema", schema),
        ]
        return "SET LOCAL search_path TO \(path);SELECT "
            + values.map { "pg_catalog.set_config('\($0)', \(SQL.quoteLiteral($1)), true)" }.joined(separator: ", ")
            + " AS tenantplan_settings"
            + (mark ? ", \(TrackingSQL.mark);" : ";")
    }

    static let reset = "RESET search_path;RESET tenantplan.tenant_id;RESET tenantplan.schema;"

    /// The one-trip path (`TenantExecutor.runAsRead`): how the first transaction of the text
    /// begins instead of `begin`, checking that nothing changed since the batched read (nil: as `begin`).
    var firstBegin: String?

    /// Opens a transaction on the target (under a pooler, with its lock and the plan's settings).
    var begin: String { pooled.map { PooledTransaction.begin + $0.prelude } ?? "BEGIN;" }

    /// `begin`, or for the first transaction of a text, `firstBegin` when there is one.
    func begin(first: Bool) -> String { first ? firstBegin ?? begin : begin }

    /// Ends a transaction that succeeded (under a pooler, first undoing what a migration set for
    /// the session, which would otherwise stay on a server session other clients get next).
    var commit: String { commit(last: false) }

    /// `commit`; for the `last` transaction of a target on a session of its own
    /// (`cleansAtLastCommit` false: the one-trip path without a pooler), without the cleanup, since
    /// whatever uses the session next begins with the whole session reset (`AdvisoryLock.cleanSession`).
    func commit(last: Bool) -> String {
        (pooled == nil || (last && !cleansAtLastCommit) ? "" : PooledTransaction.cleanup) + "COMMIT;"
    }

    /// See `commit(last:)`.
    var cleansAtLastCommit = true

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
    /// On a session of its own, not behind a pooler (the one-trip path without one): the session
    /// has the plan's settings already, so the checked first transaction does not set them. (Each
    /// transaction but the text's last still cleans up before it commits: a later transaction of the
    /// same text must not start under a migration's session settings, `default_transaction_isolation`
    /// among them; `ExecutionContext.commit(last:)`.)
    var ownSession = false

    /// How each transaction that takes the lock itself begins, as the first statement of its text:
    /// READ COMMITTED whatever the server's, role's or session's `default_transaction_isolation`, so
    /// that the statements after the lock see what a run that held it committed (a snapshot taken
    /// before the lock was granted would not); READ WRITE whatever `default_transaction_read_only`.
    static let begin = "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE;"

    /// Statements of the prelude before the lock (to tell a lock wait that ran out from a later error).
    static let statementsBeforeLock = 3

    /// After `BEGIN`: wait for the lock (bounded by lockWait only), then the plan's settings.
    var prelude: String { prelude(trying: false) }

    /// The column of the statement that ends `checkedPrelude`: its result means the check passed.
    static let checkedColumn = "tenantplan_checked"

    /// After `BEGIN`: takes the lock if it is free and checks `condition` (the tables are as read),
    /// each failing the transaction (division by zero) when not, then the plan's settings. A
    /// result named `checkedColumn` says both passed.
    func checkedPrelude(_ condition: String) -> String {
        "SELECT 1 / pg_catalog.pg_try_advisory_xact_lock(\(AdvisoryLock.namespace), "
            + "hashtext(\(SQL.quoteLiteral(lockName))))::int AS tenantplan_locked;"
            + "SELECT 1 / (\(condition))::int AS \(Self.checkedColumn);" + (ownSession ? "" : settings)
    }

    private var settings: String {
        "SET LOCAL statement_timeout = \(statementTimeout.milliseconds);"
            + "SET LOCAL lock_timeout = \(lockTimeout.milliseconds);"
            + "SET LOCAL client_min_messages = warning;SET LOCAL standard_conforming_strings = on;"
    }

    /// `prelude`; `trying`: `pg_try_advisory_xact_lock`, which returns whether it got the lock.
    func prelude(trying: Bool) -> String {
        "SET LOCAL lock_timeout = \(lockWait.milliseconds);SET LOCAL statement_timeout = 0;"
            + "SELECT pg_catalog.\(trying ? "pg_try_advisory_xact_lock" : "pg_advisory_xact_lock")("
            + "\(AdvisoryLock.namespace), "
            + "hashtext(\(SQL.quoteLiteral(lockName))));" + settings
    }

    /// Session-level settings a migration may have made, back to the server session's defaults
    /// (run last in the transaction, so they commit with it).
    static let cleanup = "RESET ALL;RESET ROLE;RESET SESSION AUTHORIZATION;"
}
