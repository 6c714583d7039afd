import TenantPlanSpec

/// The scheduler's decision logic, free of I/O: which tenant starts next, when a run stops
/// starting new work. Drive it with `next()` and `finish(_:succeeded:)`; the runtime
/// only executes what it decides. While work remains and nothing stops the run, exactly
/// `concurrency` tenants are in flight (a sliding window, not fixed batches).
public struct SlidingWindow: Sendable {
    public enum Decision: Equatable, Sendable {
        /// Start the tenant at this index.
        case start(Int)
        /// The window is full, or the run is stopping: wait for a running tenant to finish.
        case wait
        /// Nothing is running and nothing more will start.
        case done
    }

    /// Why the run stopped starting tenants.
    public enum StopReason: String, Sendable, Codable {
        case abortOnError
        case maxFailures
        case interrupted
        /// The same migration failed the same way on several tenants and on none succeeded.
        case identicalFailures
        /// The database could not be reached for all of `database.retry`'s attempts.
        case databaseUnreachable
    }

    public let total: Int
    public let concurrency: Int
    public let onError: OnError
    public let maxFailures: Int

    public private(set) var nextIndex = 0
    public private(set) var running = Set<Int>()
    public private(set) var succeeded = 0
    public private(set) var failed = 0
    public private(set) var stopReason: StopReason?

    public init(total: Int, concurrency: Int, onError: OnError, maxFailures: Int) {
        precondition(concurrency > 0, "concurrency must be positive")
        self.total = total
        self.concurrency = concurrency
        self.onError = onError
        self.maxFailures = maxFailures
    }

    /// Indices never started (valid once `next()` returned `.done`).
    public var notStarted: Range<Int> { nextIndex..<total }

    public mutating func next() -> Decision {
        if stopReason == nil, nextIndex < total, running.count < concurrency {
            let index = nextIndex
            nextIndex += 1
            running.insert(index)
            return .start(index)
        }
        return running.isEmpty && (stopReason != nil || nextIndex >= total) ? .done : .wait
    }

    public mutating func finish(_ index: Int, succeeded ok: Bool) {
        precondition(running.remove(index) != nil, "tenant \(index) finished but was not running")
        if ok {
            succeeded += 1
            return
        }
        failed += 1
        guard stopReason == nil else { return }
        if onError == .abort {
            stopReason = .abortOnError
        } else if maxFailures > 0, failed >= maxFailures {
            stopReason = .maxFailures
        }
    }

    /// Ctrl-C or SIGTERM: start nothing new (an interrupt overrides any earlier reason).
    public mutating func interrupt() {
        stopReason = .interrupted
    }

    /// Start nothing new, for `reason` (the first reason stays, except that an interrupt wins).
    public mutating func stop(_ reason: StopReason) {
        if reason == .interrupted { interrupt() } else if stopReason == nil { stopReason = reason }
    }
}
