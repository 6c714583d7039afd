import Foundation
import TenantPlanKit
import TenantPlanOutput

/// Human output while a run goes. On a terminal, a live progress line (failures get lines of
/// their own). Elsewhere (a CI log): failures as they happen and a progress line every
/// `interval`, so that 10,000 tenants do not make 10,000 lines; `--verbose` lists every tenant,
/// `--quiet` only failures. A tenant still running after six intervals says so. The words come
/// from `RunText`.
final class ProgressPrinter: @unchecked Sendable {
    enum Verbosity {
        case quiet
        case normal
        case verbose
    }

    private let lock = NSLock()
    private let live: Bool
    private let write: (String) -> Void
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var lastLine = Date()
    private let dryRun: Bool
    private let verbosity: Verbosity
    private let interval: TimeInterval
    /// Failed tenants printed per failure: past `linesPerFailure`, identical failures are only
    /// counted here and listed as a group before the summary (`RunText.failureGroups`).
    private var printedFailures: [String: Int] = [:]
    private let linesPerFailure = 3
    private var counts = (done: 0, failed: 0, total: 0, applied: 0)
    /// Tenants running: since when, and when they were last said to be running.
    private var running: [String: (schema: String, since: Date, said: Date, migration: String?)] = [:]

    /// `toStderr`: human output goes to stderr (stdout is reserved for `--json`).
    init(toStderr: Bool, dryRun: Bool = false, verbosity: Verbosity = .normal, interval: TimeInterval = 5) {
        self.dryRun = dryRun
        self.verbosity = verbosity
        self.interval = interval
        self.live = Console.stderrIsTerminal
        self.write = toStderr ? { Console.error($0) } : { Console.out($0) }
    }

    func handle(_ event: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .discovered(let counts):
            line(RunText.discovered(counts))
            self.counts.total = counts.selected
        case .sharedFinished(let action):
            line(RunText.shared(action, dryRun: dryRun))
        case .retrying(let tenant, let schema, let attempt, let of, let delayMs, let error):
            line(
                RunText.retrying(
                    tenant: tenant, schema: schema, attempt: attempt, of: of, delayMs: delayMs, error: error))
        case .waitingForLock(let tenant, let schema, let holder, let lockWait):
            line(RunText.waitingForLock(tenant: tenant, schema: schema, holder: holder, lockWaitMs: lockWait))
        case .warning(let text):
            if live { Console.raw("\r\u{1B}[K") }
            Console.error("warning: " + text)
        case .tenantStarted(let tenant, let schema):
            running[tenant] = (schema, Date(), Date(), nil)
        case .migrating(let tenant, _, let migrations):
            if running[tenant] != nil {
                running[tenant]?.migration = migrations
                running[tenant]?.since = Date()
                running[tenant]?.said = Date()
            }
        case .tenantFinished(let tenant, let done, let failed, let total):
            finished(tenant, done: done, failed: failed, total: total)
        }
    }

    private func finished(_ tenant: Report.TenantResult, done: Int, failed: Int, total: Int) {
        running[tenant.id] = nil
        counts = (done, failed, total, counts.applied + tenant.actions.reduce(0) { $0 + $1.applied.count })
        // A dry run lists its tenants at the end; a real run reports them as they finish.
        let listed =
            tenant.status == .failed ? !isRepeatedFailure(tenant) : verbosity == .verbose && !dryRun
        if listed, !dryRun || tenant.status == .failed { line(RunText.tenant(tenant, dryRun: dryRun)) }
        if live, verbosity != .quiet { drawProgress() }
    }

    /// Called about once a second: the periodic progress line (not on a terminal), and tenants
    /// that have been running long.
    func tick() {
        lock.lock()
        defer { lock.unlock() }
        guard verbosity != .quiet else { return }
        let now = Date()
        let long = interval * 6
        for (id, entry) in running.sorted(by: { $0.key < $1.key })
        where now.timeIntervalSince(entry.since) >= long && now.timeIntervalSince(entry.said) >= long {
            running[id]?.said = now
            let what = entry.migration.map { "\($0) " } ?? ""
            line("\(id) (\(entry.schema)): \(what)running for \(Int(now.timeIntervalSince(entry.since))) s")
        }
        guard !live, !dryRun, counts.total > 0, counts.done < counts.total,
            now.timeIntervalSince(lastLine) >= interval
        else { return }
        line("progress: " + progressText(now))
    }

    private func progressText(_ now: Date) -> String {
        let elapsed = max(0.001, now.timeIntervalSince(started))
        let rate = Double(counts.done) / elapsed
        let left = rate > 0 ? ", about \(Int((Double(counts.total - counts.done) / rate).rounded())) s left" : ""
        return "\(PlanText.number(counts.done))/\(PlanText.number(counts.total)) tenants done, "
            + "\(PlanText.number(counts.failed)) failed, \(PlanText.number(counts.applied)) migrations applied, "
            + String(format: "%.1f tenants/s", rate) + left
    }

    /// A failure already printed `linesPerFailure` times (counts it).
    private func isRepeatedFailure(_ tenant: Report.TenantResult) -> Bool {
        guard let key = RunText.failureKey(tenant) else { return false }
        printedFailures[key, default: 0] += 1
        return printedFailures[key]! > linesPerFailure
    }

    private func line(_ text: String) {
        if live { Console.raw("\r\u{1B}[K") }
        write(text)
        lastLine = Date()
    }

    private func drawProgress() {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.1 || counts.done == counts.total else { return }
        lastDraw = now
        Console.raw("\r\u{1B}[K" + progressText(now))
    }

    /// Clears the live line.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if live { Console.raw("\r\u{1B}[K") }
    }
}
