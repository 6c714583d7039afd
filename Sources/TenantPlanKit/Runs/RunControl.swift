import Foundation
import TenantPlanPostgres

/// Lets a signal handler stop a run: start nothing new and cancel running statements.
public final class RunControl: @unchecked Sendable {
    private let lock = NSLock()
    private var interrupted = false
    private var pools: [ConnectionPool] = []

    /// How long running statements get to end after `interrupt()` before their connections are
    /// closed under them (a server that does not answer the cancel request).
    public let abandonAfter: Duration

    public init(abandonAfter: Duration = .seconds(5)) {
        self.abandonAfter = abandonAfter
    }

    public var isInterrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return interrupted
    }

    private var attachedPools: [ConnectionPool] {
        lock.lock()
        defer { lock.unlock() }
        return pools
    }

    func attach(_ pool: ConnectionPool) {
        lock.lock()
        defer { lock.unlock() }
        pools.append(pool)
    }

    /// Marks the run interrupted and cancels every running statement (their transactions roll back).
    /// Statements still running `abandonAfter` later lose their connection: the run ends within
    /// seconds whatever the server does, reporting those tenants' outcome as unknown.
    public func interrupt() {
        lock.lock()
        let first = !interrupted
        interrupted = true
        let pools = self.pools
        lock.unlock()
        for pool in pools { Task { await pool.cancelAll() } }
        guard first else { return }
        let delay = abandonAfter
        Task.detached { [self] in
            try? await Task.sleep(for: delay)
            for pool in attachedPools { await pool.abandonAll() }
        }
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
