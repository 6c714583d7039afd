import Foundation
import TenantPlanPostgres

/// Lets a signal handler stop a run: start nothing new and cancel running statements.
public final class RunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var interrupted = false
    private var pools: [ConnectionPool] = []

    public init() {}

    public var isInterrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return interrupted
    }

    func attach(_ pool: ConnectionPool) {
        lock.lock()
        defer { lock.unlock() }
        pools.append(pool)
    }

    /// Marks the run interrupted and cancels every running statement (their transactions roll back).
    public func interrupt() {
        lock.lock()
        interrupted = true
        let pools = self.pools
        lock.unlock()
        for pool in pools { Task { await pool.cancelAll() } }
    }
}

/// Progress events for a live display.
public enum RunEvent: Sendable {
    case discovered(DiscoveryCounts)
    /// A tenant took a connection to run (apply, not a dry run).
    case tenantStarted(tenant: String, schema: String)
    /// A tenant's batch of migrations (`0003_a`, or `0003_a..0005_c`) is being sent.
    case migrating(tenant: String, schema: String, migrations: String)
    case tenantFinished(Report.TenantResult, done: Int, failed: Int, total: Int)
    case sharedFinished(Report.ActionResult)
    /// Something the run does that the user may not expect (it goes on).
    case warning(String)
    /// Attempt `attempt` of `of` failed on a tenant with a transient error; the next starts after `delayMs`.
    case retrying(tenant: String, schema: String, attempt: Int, of: Int, delayMs: Int, error: Report.ErrorInfo)
    /// Another run holds the tenant's lock (`holder`: who, since when); this run waits for it,
    /// up to `lockWait` (0: as long as it takes).
    case waitingForLock(tenant: String, schema: String, holder: String, lockWait: Int)
}
