import Foundation
import TenantPlanPostgres

/// At most `capacity` connections, reused across tenants and recycled after serving
/// `recycleAfter` tenants (a long-lived backend's catalog cache grows with every schema it touches).
public actor ConnectionPool {
    public let capacity: Int
    public let recycleAfter: Int
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
    /// Connections closed after serving `recycleAfter` tenants.
    public private(set) var recycled = 0

    /// Connections open now, idle among them, and tasks waiting for one.
    public var usage: (open: Int, idle: Int, waiting: Int) { (openCount, idle.count, waiters.count) }

    /// Told of every round trip of every connection (`RunLogging`).
    private let observer: (@Sendable (PGConnection.QueryRecord) -> Void)?
    /// Told of connects, reuses, recycles, closes and waits (`debug.logPoolEvents`).
    private let events: (@Sendable (_ event: String, _ milliseconds: Int?) -> Void)?

    public init(
        conninfo: String, overrides: [String: String], setup: String?, capacity: Int, recycleAfter: Int,
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
    public func release(_ session: PGSession, countsAsTenant: Bool = true) {
        busy[ObjectIdentifier(session)] = nil
        if countsAsTenant { session.uses += 1 }
        if closed || !session.connection.isHealthy || session.uses >= recycleAfter {
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

    /// Closes idle sessions; later releases close theirs.
    public func close() {
        closed = true
        openCount -= idle.count
        idle.removeAll()
        let pending = waiters
        waiters.removeAll()
        for waiter in pending { waiter.resume() }
    }
}
