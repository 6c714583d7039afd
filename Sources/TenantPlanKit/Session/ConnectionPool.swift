import Foundation
import TenantPlanPostgres

/// At most `capacity` connections, reused across tenants and recycled when their backend holds
/// more than `recycleAboveBytes` (a long-lived backend's catalog caches grow with every relation
/// it touches, and every backend must process the invalidations of every DDL statement against
/// them), or after serving `recycleAfter` tenants.
///
/// The backend's memory is read (`backendBytesQuery`) after its first 10 tenants, then as often as
/// its growth so far says it could reach the limit, every 10 to 100 tenants. A server without the
/// view (before PostgreSQL 14) recycles by count only.
public actor ConnectionPool {
    public let capacity: Int
    /// The bound on tenants per connection while the backend's memory can be read.
    public let recycleAfter: Int
    /// The bound once it cannot (`pg_backend_memory_contexts` missing or not granted).
    public let recycleAfterUnread: Int
    /// 0: never by memory.
    public let recycleAboveBytes: Int
    private let conninfo: String
    private let overrides: [String: String]
    private let setup: String?
    private var idle: [PGSession] = []
    private var busy: [ObjectIdentifier: PGSession] = [:]
    private var openCount = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false
    /// Connections opened over the pool's life (for reports and benchmarks).
    public private(set) var opened = 0
    /// Connections closed after serving `recycleAfter` tenants, or above `recycleAboveBytes`.
    public private(set) var recycled = 0
    /// Per busy or idle session: the tenant count at which its backend's memory is read next, and
    /// what it read last (bytes, at tenant count).
    private var memory: [ObjectIdentifier: (next: Int, bytes: Int, at: Int)] = [:]
    /// The server has `pg_backend_memory_contexts`.
    private var memoryReadable = true

    /// The memory of the session's own backend, in bytes: as the login role (a migration may have
    /// set another for the session; the next target resets the session anyway), the result last.
    public static let backendBytesQuery =
        "RESET ALL;RESET ROLE;RESET SESSION AUTHORIZATION;"
        + "SELECT coalesce(sum(total_bytes), 0)::bigint FROM pg_catalog.pg_backend_memory_contexts"

    /// Connections open now, idle among them, and tasks waiting for one.
    public var usage: (open: Int, idle: Int, waiting: Int) { (openCount, idle.count, waiters.count) }

    /// Told of every round trip of every connection (`RunLogging`).
    private let observer: (@Sendable (PGConnection.QueryRecord) -> Void)?
    /// Told of connects, reuses, recycles, closes and waits (`debug.logPoolEvents`).
    private let events: (@Sendable (_ event: String, _ milliseconds: Int?) -> Void)?

    public init(
        conninfo: String, overrides: [String: String], setup: String?, capacity: Int, recycleAfter: Int,
        recycleAfterUnread: Int? = nil, recycleAboveBytes: Int = 0,
        observer: (@Sendable (PGConnection.QueryRecord) -> Void)? = nil,
        events: (@Sendable (_ event: String, _ milliseconds: Int?) -> Void)? = nil
    ) {
        self.observer = observer
        self.events = events
        self.conninfo = conninfo
        self.overrides = overrides
        self.setup = setup
        self.capacity = max(1, capacity)
        self.recycleAfter = max(1, recycleAfter)
        self.recycleAfterUnread = max(1, recycleAfterUnread ?? recycleAfter)
        self.recycleAboveBytes = max(0, recycleAboveBytes)
    }

    /// Whether the session's backend memory should be read (`backendBytesQuery`) before it is
    /// released after its next tenant.
    public func memoryCheckDue(_ session: PGSession) -> Bool {
        guard recycleAboveBytes > 0, memoryReadable else { return false }
        return session.uses + 1 >= memory[ObjectIdentifier(session)]?.next ?? 10
    }

    public func acquire() async throws -> PGSession {
        var waited: ContinuousClock.Instant?
        while true {
            if closed { throw PostgresError(kind: .canceled, message: "the run is stopping") }
            if let session = idle.popLast() {
                busy[ObjectIdentifier(session)] = session
                events?(waited == nil ? "reuse" : "reuse after wait", waited.map(Self.milliseconds))
                return session
            }
            if openCount < capacity {
                openCount += 1
                let started = ContinuousClock.now
                do {
                    let session = try await PGSession.open(conninfo, overrides: overrides, setup: setup)
                    opened += 1
                    busy[ObjectIdentifier(session)] = session
                    session.connection.observer = observer
                    events?("connect", Self.milliseconds(started))
                    return session
                } catch {
                    openCount -= 1
                    wakeOne()
                    throw error
                }
            }
            if waited == nil {
                waited = .now
                events?("wait", nil)
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    static func milliseconds(_ since: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - since
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Returns a session. An unhealthy or worn-out session is closed instead of reused.
    /// `backendBytes`: its backend's memory, when `memoryCheckDue` asked for it (nil: it could not
    /// be read, and the server is not asked again).
    public func release(_ session: PGSession, countsAsTenant: Bool = true, backendBytes: Int?? = .none) {
        let id = ObjectIdentifier(session)
        busy[id] = nil
        if countsAsTenant { session.uses += 1 }
        // Recycling by memory was asked for and cannot be had: the count bound for that case.
        var full = session.uses >= (recycleAboveBytes > 0 && !memoryReadable ? recycleAfterUnread : recycleAfter)
        if case .some(let read) = backendBytes {
            if let bytes = read {
                full = full || bytes > recycleAboveBytes
                memory[id] = (
                    Self.nextCheck(session.uses, bytes: bytes, last: memory[id], limit: recycleAboveBytes), bytes,
                    session.uses
                )
            } else {
                memoryReadable = false
            }
        }
        if closed || !session.connection.isHealthy || full {
            memory[id] = nil
            if !closed, session.connection.isHealthy {
                recycled += 1
                events?("recycle", nil)
            } else {
                events?("close", nil)
            }
            openCount -= 1
        } else {
            idle.append(session)
        }
        wakeOne()
    }

    /// When to read a backend's memory next: when, growing as it did since the last reading, it
    /// could reach `limit`, but after 10 tenants at the earliest and 100 at the latest.
    static func nextCheck(_ uses: Int, bytes: Int, last: (next: Int, bytes: Int, at: Int)?, limit: Int) -> Int {
        let (startBytes, startUses) = last.map { ($0.bytes, $0.at) } ?? (0, 0)
        let perTenant = max(1, (bytes - startBytes) / max(1, uses - startUses))
        return uses + min(100, max(10, (limit - bytes) / perTenant))
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// Cancels the statement running on every busy session (Ctrl-C).
    /// PQcancel blocks on the network: it runs on a thread of its own, not on Swift's cooperative pool.
    public func cancelAll() {
        let sessions = Array(busy.values)
        DispatchQueue.global().async {
            for session in sessions { session.cancel() }
        }
    }

    /// Closes the sockets of the sessions still busy (`PGSession.abandon`).
    public func abandonAll() {
        for session in busy.values { session.abandon() }
    }

    /// Closes idle sessions; later releases close theirs.
    public func close() {
        closed = true
        memory.removeAll()
        openCount -= idle.count
        idle.removeAll()
        let pending = waiters
        waiters.removeAll()
        for waiter in pending { waiter.resume() }
    }
}
