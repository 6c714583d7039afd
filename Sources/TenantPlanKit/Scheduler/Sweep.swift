import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// Runs one operation per tenant in a sliding window over a pool: while work remains and
/// nothing stops the run, exactly `pool.capacity` tenants are in flight. The decisions are the
/// `SlidingWindow`'s; this only executes them.
struct Sweep {
    var pool: ConnectionPool
    var control: RunControl
    var onError: OnError
    /// Stop after this many failures (0: no limit).
    var maxFailures: Int
    /// Start nothing at all, for this reason (the run already stopped).
    var stopAtOnce: SlidingWindow.StopReason? = nil
    /// The run's one wait while the database cannot be reached (nil: no retry).
    var circuit: Circuit? = nil

    /// Runs `operation` for the tenants at `work` (indices). `finished` runs on the calling task,
    /// one tenant at a time, with the outcome and its duration in milliseconds. A tenant whose
    /// connection cannot be had or is lost gets `failure(error)` as its outcome. Returns the
    /// window (its stop reason, the positions in `work` never started).
    func run<Outcome: Sendable>(
        _ work: [Int],
        operation: @escaping @Sendable (Int, PGConnection) -> Outcome,
        failure: @escaping @Sendable (Error) -> Outcome,
        succeeded: (Outcome) -> Bool,
        started: (Int) -> Void = { _ in },
        finished: (Int, Outcome, Int) -> Void,
        shouldStop: () -> SlidingWindow.StopReason? = { nil },
        retry: RetryRule<Outcome>? = nil,
        unreachable: @escaping @Sendable (Outcome) -> Bool = { _ in false }
    ) async -> SlidingWindow {
        var window = SlidingWindow(
            total: work.count, concurrency: pool.capacity, onError: onError, maxFailures: maxFailures)
        if let stopAtOnce { window.stop(stopAtOnce) }
        let pool = self.pool
        let control = self.control
        let circuit = self.circuit
        await withTaskGroup(of: (Int, Outcome, Int).self) { group in
            func startMore() {
                while true {
                    if control.isInterrupted { window.interrupt() }
                    if let reason = shouldStop() { window.stop(reason) }
                    if circuit?.gaveUp != nil { window.stop(.databaseUnreachable) }
                    guard case .start(let position) = window.next() else { return }
                    let index = work[position]
                    started(index)
                    group.addTask {
                        let began = Date()
                        let once: @Sendable () async -> Outcome = {
                            await Self.attempt(
                                index, pool: pool, circuit: circuit, operation: operation, failure: failure,
                                unreachable: unreachable)
                        }
                        let outcome =
                            if let retry {
                                await retry.run(index: index, interrupted: { control.isInterrupted }, attempt: once)
                            } else {
                                await once()
                            }
                        return (position, outcome, Int(Date().timeIntervalSince(began) * 1000))
                    }
                }
            }
            startMore()
            while let (position, outcome, duration) = await group.next() {
                let ok = succeeded(outcome)
                finished(work[position], outcome, duration)
                window.finish(position, succeeded: ok)
                startMore()
            }
        }
        return window
    }

    /// One attempt at one tenant: waits while the circuit is open, runs `operation` on a pooled
    /// connection, and opens the circuit when the database could not be reached.
    private static func attempt<Outcome: Sendable>(
        _ index: Int, pool: ConnectionPool, circuit: Circuit?,
        operation: @escaping @Sendable (Int, PGConnection) -> Outcome, failure: (Error) -> Outcome,
        unreachable: (Outcome) -> Bool
    ) async -> Outcome {
        if let gaveUp = await circuit?.passage() { return failure(Unreachable(message: gaveUp)) }
        do {
            let session = try await pool.acquire()
            let outcome = try await session.run { operation(index, $0) }
            if await pool.memoryCheckDue(session) {
                // A server without the view refuses the query: it is not asked again.
                let read = try? await session.run { connection -> Int?? in
                    do {
                        let outcome = connection.execAll(ConnectionPool.backendBytesQuery)
                        if let error = outcome.error { throw error }
                        return .some(outcome.results.last?.value(0, 0).flatMap { Int($0) })
                    } catch {
                        return (error as? PostgresError)?.kind == .server ? .some(nil) : .none
                    }
                }
                await pool.release(session, backendBytes: read)
            } else {
                await pool.release(session)
            }
            if unreachable(outcome) { circuit?.trip() }
            return outcome
        } catch {
            if let error = error as? PostgresError, TransientErrors.isUnreachable(error) { circuit?.trip() }
            return failure(error)
        }
    }

    /// A tenant not run because the run gave up on the database.
    struct Unreachable: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Runs a write per tenant at `work` that succeeds or fails with an error (sync,
    /// convert-tracking): each result goes to `record`; tenants never started (Ctrl-C) to `skipped`.
    /// Returns why the sweep stopped early, if it did.
    func runWrites<Value: Sendable>(
        _ work: [Int], operation: @escaping @Sendable (Int, PGConnection) -> Result<Value, Report.ErrorInfo>,
        record: (Int, Result<Value, Report.ErrorInfo>) -> Void, skipped: (Int) -> Void
    ) async -> SlidingWindow.StopReason? {
        let window = await run(
            work, operation: operation, failure: { .failure(Report.ErrorInfo($0)) },
            succeeded: { if case .success = $0 { true } else { false } },
            finished: { index, outcome, _ in record(index, outcome) })
        for position in window.notStarted { skipped(work[position]) }
        return window.stopReason
    }
}
