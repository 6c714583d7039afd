import Foundation

/// A connection with a thread of its own. Async callers hand it blocking work; the work runs
/// on that thread, so eight sessions really run eight statements at once, whatever the
/// size of Swift's cooperative thread pool.
public final class PGSession: @unchecked Sendable {
    public let connection: PGConnection
    private let worker: WorkerThread
    /// How many tenants this session has served (for recycling).
    public var uses = 0

    private init(connection: PGConnection, worker: WorkerThread) {
        self.connection = connection
        self.worker = worker
    }

    deinit {
        worker.stop()
    }

    /// Opens a connection on a new thread.
    public static func open(_ conninfo: String, overrides: [String: String] = [:], setup: String? = nil) async throws
        -> PGSession
    {
        let worker = WorkerThread(name: "tenantplan-pg")
        do {
            let connection = try await worker.run { () throws(PostgresError) -> PGConnection in
                let connection = try PGConnection.connect(conninfo, overrides: overrides)
                if let setup { try connection.exec(setup) }
                return connection
            }
            return PGSession(connection: connection, worker: worker)
        } catch {
            worker.stop()
            throw error
        }
    }

    /// Runs blocking work with the connection on the session's thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        let connection = self.connection
        return try await worker.run { try body(connection) }
    }

    /// Cancels whatever statement the session is running (from any thread).
    public func cancel() {
        connection.cancel()
    }

    /// Closes the session's socket under a statement the server does not end (from any thread).
    public func abandon() {
        connection.abandon()
    }
}

/// One OS thread running submitted jobs in order.
final class WorkerThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets queued jobs finish, then ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    func run<T: Sendable, E: Error>(_ body: @escaping () throws(E) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            submit {
                do {
                    continuation.resume(returning: try body())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
