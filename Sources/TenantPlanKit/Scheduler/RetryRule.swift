import Foundation
import TenantPlanSpec

/// How a sweep retries one tenant: which outcomes deserve another attempt, how the outcomes of
/// successive attempts add up, and who hears about each retry. The delays follow
/// `database.retry` (`RetrySettings.delay`); `sleep` and `random` are injectable for tests.
struct RetryRule<Outcome: Sendable>: Sendable {
    var settings: RetrySettings
    /// The outcome failed in a way another attempt, on a fresh connection, may not.
    var isRetryable: @Sendable (Outcome) -> Bool
    /// The outcome of attempts so far (`earlier`) followed by one more (`later`).
    var merge: @Sendable (_ earlier: Outcome, _ later: Outcome) -> Outcome
    /// Attempt `attempt` of the tenant at `index` failed with `outcome`; the next starts after `delayMs`.
    var announce: @Sendable (_ index: Int, _ attempt: Int, _ outcome: Outcome, _ delayMs: Int) -> Void
    var sleep: @Sendable (_ milliseconds: Int) async -> Void = Backoff.sleep
    var random: @Sendable () -> Double = Backoff.random

    /// Runs `attempt` until it gives an outcome that is not retryable, the attempts run out, or
    /// `interrupted()` says to stop; returns the merged outcome.
    func run(
        index: Int, interrupted: @Sendable () -> Bool, attempt: @Sendable () async -> Outcome
    ) async -> Outcome {
        var outcome = await attempt()
        var attempts = 1
        while attempts < settings.maxAttempts, isRetryable(outcome), !interrupted() {
            let delay = Int(settings.delay(afterAttempt: attempts, random: random).rounded())
            announce(index, attempts, outcome, delay)
            await Backoff.pause(delay, interrupted: interrupted, sleep: sleep)
            if interrupted() { break }
            attempts += 1
            outcome = merge(outcome, await attempt())
        }
        return outcome
    }
}

/// The waiting between attempts, shared by `RetryRule` and the run's first connection.
enum Backoff {
    static let sleep: @Sendable (_ milliseconds: Int) async -> Void = { milliseconds in
        try? await Task.sleep(nanoseconds: UInt64(max(0, milliseconds)) * 1_000_000)
    }
    static let random: @Sendable () -> Double = { Double.random(in: 0...1) }

    /// Sleeps `milliseconds` in slices of at most 100 ms, so that Ctrl-C during a long delay is
    /// seen at once: returns early once `interrupted()`.
    static func pause(
        _ milliseconds: Int, interrupted: () -> Bool, sleep: (Int) async -> Void = Backoff.sleep
    ) async {
        var remaining = milliseconds
        while remaining > 0, !interrupted() {
            let slice = min(remaining, 100)
            await sleep(slice)
            remaining -= slice
        }
    }
}
