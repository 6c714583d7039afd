import Foundation
import TenantPlanSpec

/// One wait for the whole run while the database cannot be reached (`database.retry`): the first
/// tenant that cannot connect or loses its connection opens the circuit; while it is open no
/// tenant starts or retries, and one probe connects on the retry schedule until the server
/// answers (the circuit closes, everyone goes on) or its attempts run out (the circuit stays
/// open: the run stops starting tenants, `databaseUnreachable`, with one error).
final class Circuit: @unchecked Sendable {
    private let lock = NSLock()
    private var probing = false
    private var failure: String?
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var trips = 0

    let settings: RetrySettings
    /// Connects once: nil when the server answered.
    let probe: @Sendable () async -> Error?
    /// A probe failed; the next one follows after `delayMs`.
    let announce: @Sendable (_ attempt: Int, _ delayMs: Int, _ error: Error) -> Void
    let interrupted: @Sendable () -> Bool
    var sleep: @Sendable (_ milliseconds: Int) async -> Void = Backoff.sleep
    var random: @Sendable () -> Double = Backoff.random

    init(
        settings: RetrySettings, probe: @escaping @Sendable () async -> Error?,
        announce: @escaping @Sendable (Int, Int, Error) -> Void, interrupted: @escaping @Sendable () -> Bool
    ) {
        self.settings = settings
        self.probe = probe
        self.announce = announce
        self.interrupted = interrupted
    }

    /// Why the run gave up on the database (the last probe's error), once it has.
    var gaveUp: String? { lock.withLock { failure } }

    /// How many times a tenant opened the circuit.
    var tripCount: Int { lock.withLock { trips } }

    /// Returns at once while the circuit is closed; while it is open, once the probe is done.
    /// Returns why the run gave up, if it did.
    func passage() async -> String? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if probing {
                waiters.append(continuation)
                lock.unlock()
            } else {
                lock.unlock()
                continuation.resume()
            }
        }
        return gaveUp
    }

    /// A tenant could not reach the database: opens the circuit, unless it is open already.
    func trip() {
        lock.lock()
        defer { lock.unlock() }
        guard !probing, failure == nil else { return }
        probing = true
        trips += 1
        Task { await self.probeUntilAnswered() }
    }

    /// Ends the probe; returns who waited for it.
    private func close(failure: String?) -> [CheckedContinuation<Void, Never>] {
        lock.withLock {
            probing = false
            self.failure = failure
            defer { waiters = [] }
            return waiters
        }
    }

    private func probeUntilAnswered() async {
        var attempt = 1
        var outcome: String?
        while let error = await probe() {
            guard attempt < settings.maxAttempts, !interrupted() else {
                outcome = "the database could not be reached: \(error) (gave up after \(attempt) attempts)"
                break
            }
            let delay = Int(settings.delay(afterAttempt: attempt, random: random).rounded())
            announce(attempt, delay, error)
            await Backoff.pause(delay, interrupted: interrupted, sleep: sleep)
            attempt += 1
        }
        for waiter in close(failure: outcome) { waiter.resume() }
    }
}
