import Foundation
import TenantPlanKit
import TenantPlanOutput

/// Human output while a run goes: a live progress line on a terminal (only failures get lines
/// of their own), plain lines otherwise. The words come from `RunText`.
final class ProgressPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private let write: (String) -> Void
    private let started = Date()
    private var lastDraw = Date.distantPast
    private let dryRun: Bool
    /// Failed tenants printed per failure: past `linesPerFailure`, identical failures are only
    /// counted here and listed as a group before the summary (`RunText.failureGroups`).
    private var printedFailures: [String: Int] = [:]
    private let linesPerFailure = 3

    /// `toStderr`: human output goes to stderr (stdout is reserved for `--json`).
    init(toStderr: Bool, dryRun: Bool = false) {
        self.dryRun = dryRun
        self.live = Console.stderrIsTerminal
        self.write = toStderr ? { Console.error($0) } : { Console.out($0) }
    }

    func handle(_ event: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .discovered(let counts):
            line(RunText.discovered(counts))
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
        case .tenantFinished(let tenant, let done, let failed, let total):
            // A dry run lists every tenant at the end; only a real run reports them as they finish.
            if !dryRun, tenant.status == .failed || (!live && !tenant.unchanged), !isRepeatedFailure(tenant) {
                line(RunText.tenant(tenant, dryRun: dryRun))
            }
            if live { drawProgress(done: done, failed: failed, total: total) }
        }
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
    }

    private func drawProgress(done: Int, failed: Int, total: Int) {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = now
        let rate = Double(done) / max(0.001, now.timeIntervalSince(started))
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let text = String(format: "tenants %d/%d done, %d failed, %.1f/s, ETA %.0fs", done, total, failed, rate, eta)
        Console.raw("\r\u{1B}[K\(text)")
    }

    /// Clears the live line.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if live { Console.raw("\r\u{1B}[K") }
    }
}
