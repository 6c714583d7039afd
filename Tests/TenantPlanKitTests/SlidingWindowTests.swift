import Testing

@testable import TenantPlanKit

/// The scheduler's decisions, without a database.
@Suite struct SlidingWindowTests {
    @Test("keeps exactly `concurrency` tenants in flight while work remains")
    func slidingNotBatched() {
        var window = SlidingWindow(total: 10, concurrency: 3, onError: .continue, maxFailures: 0)
        #expect(window.next() == .start(0))
        #expect(window.next() == .start(1))
        #expect(window.next() == .start(2))
        #expect(window.next() == .wait)
        // Tenant 1 finishes first: one new tenant starts at once, without waiting for 0 and 2.
        window.finish(1, succeeded: true)
        #expect(window.next() == .start(3))
        #expect(window.running == [0, 2, 3])
        #expect(window.next() == .wait)
    }

    @Test("runs every tenant once and then reports done")
    func drains() {
        var window = SlidingWindow(total: 5, concurrency: 2, onError: .continue, maxFailures: 0)
        var started: [Int] = []
        while true {
            switch window.next() {
            case .start(let index): started.append(index)
            case .wait: window.finish(window.running.min()!, succeeded: true)
            case .done:
                #expect(started == [0, 1, 2, 3, 4])
                #expect(window.succeeded == 5)
                #expect(window.notStarted.isEmpty)
                return
            }
        }
    }

    @Test("continue: a failure does not stop other tenants")
    func continueOnError() {
        var window = SlidingWindow(total: 3, concurrency: 1, onError: .continue, maxFailures: 0)
        #expect(window.next() == .start(0))
        window.finish(0, succeeded: false)
        #expect(window.next() == .start(1))
        window.finish(1, succeeded: true)
        #expect(window.next() == .start(2))
        window.finish(2, succeeded: false)
        #expect(window.next() == .done)
        #expect(window.failed == 2)
        #expect(window.stopReason == nil)
    }

    @Test("abort: nothing new starts after the first failure; running tenants finish")
    func abortOnError() {
        var window = SlidingWindow(total: 6, concurrency: 2, onError: .abort, maxFailures: 0)
        #expect(window.next() == .start(0))
        #expect(window.next() == .start(1))
        window.finish(0, succeeded: false)
        #expect(window.stopReason == .abortOnError)
        #expect(window.next() == .wait)
        window.finish(1, succeeded: true)
        #expect(window.next() == .done)
        #expect(window.notStarted == 2..<6)
    }

    @Test("maxFailures: stops starting tenants once that many failed")
    func maxFailures() {
        var window = SlidingWindow(total: 10, concurrency: 1, onError: .continue, maxFailures: 2)
        #expect(window.next() == .start(0))
        window.finish(0, succeeded: false)
        #expect(window.next() == .start(1))
        window.finish(1, succeeded: true)
        #expect(window.next() == .start(2))
        window.finish(2, succeeded: false)
        #expect(window.stopReason == .maxFailures)
        #expect(window.next() == .done)
        #expect(window.notStarted == 3..<10)
    }

    @Test("interrupt: nothing new starts, in-flight tenants are awaited")
    func interrupt() {
        var window = SlidingWindow(total: 4, concurrency: 2, onError: .continue, maxFailures: 0)
        _ = window.next()
        _ = window.next()
        window.interrupt()
        #expect(window.next() == .wait)
        window.finish(0, succeeded: true)
        window.finish(1, succeeded: false)
        #expect(window.next() == .done)
        #expect(window.stopReason == .interrupted)
        #expect(window.notStarted == 2..<4)
    }

    @Test("no tenants: done at once")
    func empty() {
        var window = SlidingWindow(total: 0, concurrency: 4, onError: .continue, maxFailures: 0)
        #expect(window.next() == .done)
    }
}
