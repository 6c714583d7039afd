import TenantPlanSpec

/// The rules of a run across stages, free of I/O: which shared actions run, which tenant
/// actions a failed dependency blocks, which tenants are skipped, when the run stops starting
/// tenants, and each tenant's final status. The apply run asks it and executes the answers.
public struct RunStateMachine: Sendable {
    /// Whether something may run.
    public enum Gate: Equatable, Sendable {
        case run
        case skip(String)
    }

    public let onError: OnError
    public let maxFailures: Int
    public private(set) var stopReason: SlidingWindow.StopReason?
    /// Tenants failed so far (the invalid ones included).
    public private(set) var failures = 0
    private var actionStatus: [String: Report.ActionResult.Status] = [:]
    private var tenantActionFailed: Set<String> = []
    private var failed: [Bool]
    private var started: [Bool]

    /// `invalid[i]`: tenant i cannot run at all (its id makes no valid schema): it has failed already.
    public init(invalid: [Bool], onError: OnError, maxFailures: Int) {
        self.onError = onError
        self.maxFailures = maxFailures
        self.failed = invalid
        self.started = invalid
        self.failures = invalid.filter { $0 }.count
    }

    /// Whether shared `action` runs: not after the run stopped, nor after a failed or skipped dependency.
    public func gate(shared action: Action, interrupted: Bool) -> Gate {
        if stopReason != nil || interrupted { return .skip("the run stopped before this action") }
        let blockers = action.after.filter { dependency in
            if let status = actionStatus[dependency], status == .failed || status == .skipped { return true }
            return tenantActionFailed.contains(dependency)
        }
        return blockers.isEmpty ? .run : .skip(Self.blockedReason(blockers))
    }

    /// A shared action ended; with `onError: abort` a failed one stops the run.
    public mutating func finished(shared action: Action, status: Report.ActionResult.Status) {
        actionStatus[action.name] = status
        if status == .failed, onError == .abort, stopReason == nil { stopReason = .abortOnError }
    }

    /// Tenant actions of `stage` that a failed or skipped shared dependency blocks, with the reason.
    public func blocked(in stage: ExecutionGraph.Stage) -> [String: String] {
        var skip: [String: String] = [:]
        for action in stage.tenant {
            let blockers = action.after.filter { dependency in
                guard let status = actionStatus[dependency] else { return false }
                return status == .failed || status == .skipped
            }
            if !blockers.isEmpty { skip[action.name] = Self.blockedReason(blockers) }
        }
        return skip
    }

    private static func blockedReason(_ blockers: [String]) -> String {
        "it is after \(blockers.joined(separator: ", ")), which failed or was skipped"
    }

    /// Whether tenant `index` takes part in the next stage.
    public func gate(tenant index: Int) -> Gate {
        if failed[index] { return .skip("an earlier step of this tenant failed") }
        if let stopReason { return .skip("the run stopped (\(stopReason.description))") }
        return .run
    }

    /// The window's limits for the next sweep: the failures still allowed, and why it starts
    /// nothing at all (tenants that failed before it already reached `abort` or `maxFailures`).
    public var windowLimits: (maxFailures: Int, stop: SlidingWindow.StopReason?) {
        let remaining = maxFailures > 0 ? max(1, maxFailures - failures) : 0
        if onError == .abort, failures > 0 { return (remaining, .abortOnError) }
        if maxFailures > 0, failures >= maxFailures { return (remaining, .maxFailures) }
        return (remaining, nil)
    }

    /// Tenant `index` was settled or run (or failed before anything ran).
    public func hasStarted(_ index: Int) -> Bool {
        started[index]
    }

    /// Tenant `index` was settled or run in this stage.
    public mutating func started(tenant index: Int) {
        started[index] = true
    }

    /// Tenant `index` failed (settled without running, or run).
    public mutating func failed(tenant index: Int, countsTowardLimits: Bool = true) {
        guard !failed[index] else { return }
        failed[index] = true
        if countsTowardLimits { failures += 1 }
    }

    /// The sweep of a stage ended: its stop reason holds for the rest of the run, and tenant
    /// actions that failed or were skipped on some tenant block the shared actions after them.
    public mutating func finishedStage(
        _ stage: ExecutionGraph.Stage, stop: SlidingWindow.StopReason?, results: [Report.TenantResult]
    ) {
        if let stop { stopReason = stop }
        for action in stage.tenant {
            let blocked = results.contains { tenant in
                tenant.actions.contains { $0.name == action.name && ($0.status == .failed || $0.status == .skipped) }
            }
            if blocked { tenantActionFailed.insert(action.name) }
        }
    }

    /// A tenant's final status: failed when anything of it failed, skipped when it never started
    /// or every action was skipped, succeeded otherwise.
    public func finalStatus(of index: Int, _ result: Report.TenantResult, hasTenantActions: Bool) -> Report.Status {
        if failed[index] || result.error != nil || result.actions.contains(where: { $0.status == .failed }) {
            return .failed
        }
        let everyActionSkipped = !result.actions.isEmpty && result.actions.allSatisfy { $0.status == .skipped }
        if (hasTenantActions && !started[index]) || everyActionSkipped { return .skipped }
        return .succeeded
    }
}

extension SlidingWindow.StopReason: CustomStringConvertible {
    /// Why the run stopped, in words.
    public var description: String {
        switch self {
        case .abortOnError: "onError is abort and something failed"
        case .maxFailures: "maxFailures reached"
        case .interrupted: "interrupted"
        case .identicalFailures: "the same migration failed the same way on several tenants"
        case .databaseUnreachable: "the database could not be reached"
        }
    }
}
