import Foundation
import TenantPlanKit

/// "1 tenant", "2 tenants".
enum Plural {
    static func count(_ value: Int, _ noun: String) -> String {
        "\(value) \(noun)\(value == 1 ? "" : "s")"
    }
}

/// Human output of a run: a live progress line on a terminal, plain lines otherwise,
/// and a summary either way.
final class ProgressPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private let write: (String) -> Void
    private let started = Date()
    private var total = 0
    private var lastDraw = Date.distantPast

    private let dryRun: Bool

    /// `toStderr`: human output goes to stderr (stdout is reserved for `--json`).
    init(toStderr: Bool, dryRun: Bool = false) {
        self.dryRun = dryRun
        self.live = Console.stderrIsTerminal
        self.write = toStderr ? { Console.error($0) } : { Console.out($0) }
    }

    func handle(_ event: RunEvent) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case .discovered(let tenants):
            total = tenants
            line("discovered \(tenants) tenant\(tenants == 1 ? "" : "s")")
        case .sharedFinished(let action):
            line(Self.describe(shared: action, dryRun: dryRun))
        case .tenantFinished(let tenant, let done, let failed, let total):
            // On a terminal the live line tells the progress and only failures get lines of their own;
            // in logs every tenant that changed or failed gets a line.
            if tenant.status == .failed || (!live && !tenant.unchanged) {
                line(Self.describe(tenant: tenant, dryRun: dryRun))
            }
            if live { drawProgress(done: done, failed: failed, total: total) }
        }
    }

    private func line(_ text: String) {
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        write(text)
    }

    private func drawProgress(done: Int, failed: Int, total: Int, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = now
        let elapsed = max(0.001, now.timeIntervalSince(started))
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let text = String(format: "tenants %d/%d done, %d failed, %.1f/s, ETA %.0fs", done, total, failed, rate, eta)
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    static func describe(shared action: Report.ActionResult, dryRun: Bool = false) -> String {
        var text = "shared \(action.name) (\(action.schema ?? "public")): "
        if let conversion = action.conversions?.first {
            text += "\(dryRun ? "would convert" : "converted") tracking \(conversion.from.rawValue) -> \(conversion.to.rawValue) (\(Plural.count(conversion.rows.count, "row"))); "
        }
        return text + describe(action: action)
    }

    static func describe(action: Report.ActionResult) -> String {
        switch action.status {
        case .applied:
            var parts: [String] = []
            if !action.applied.isEmpty { parts.append("applied " + list(action.applied.map(\.name))) }
            if let marked = action.marked { parts.append("marked as applied " + list(marked)) }
            if let deleted = action.deletedOrphans { parts.append("deleted \(deleted.count) orphan row\(deleted.count == 1 ? "" : "s")") }
            return parts.joined(separator: ", ")
        case .unchanged: return "up to date"
        case .pending:
            var parts: [String] = []
            if let pending = action.pending { parts.append("would apply " + list(pending)) }
            if let marked = action.marked { parts.append("would mark as applied " + list(marked)) }
            if let deleted = action.deletedOrphans { parts.append("would delete \(deleted.count) orphan row\(deleted.count == 1 ? "" : "s")") }
            return parts.joined(separator: ", ")
        case .skipped: return "skipped (\(action.skippedBecause ?? "not run"))"
        case .failed:
            var text = "FAILED"
            if !action.applied.isEmpty { text = "applied \(action.applied.map(\.name).joined(separator: ", ")), then FAILED" }
            if let error = action.error { text += " " + describe(error: error) }
            return text
        }
    }

    /// Names, shortened for long lists: `a, b, c` or `a ... z (12)`.
    static func list(_ names: [String]) -> String {
        names.count <= 4 ? names.joined(separator: ", ") : "\(names[0]), \(names[1]) ... \(names[names.count - 1]) (\(names.count))"
    }

    static func describe(error: Report.ErrorInfo) -> String {
        var text = ""
        if let migration = error.migration { text += "at \(migration): " }
        text += error.message
        if let sqlstate = error.sqlstate { text += " (SQLSTATE \(sqlstate))" }
        if let position = error.position { text += " at character \(position)" }
        if let detail = error.detail { text += "; detail: \(detail)" }
        if let hint = error.hint { text += "; hint: \(hint)" }
        return text
    }

    static func describe(tenant: Report.TenantResult, dryRun: Bool = false) -> String {
        let mark = tenant.status == .failed ? "FAILED" : tenant.status == .skipped ? "skipped" : "ok"
        var parts: [String] = []
        if tenant.createdSchema == true { parts.append(dryRun ? "would create schema" : "created schema") }
        if let to = tenant.convertedTo, let conversions = tenant.conversions {
            let rows = conversions.reduce(0) { $0 + $1.rows.count }
            parts.append("\(dryRun ? "would convert" : "converted") tracking \(tenant.format?.rawValue ?? "?") -> \(to.rawValue) (\(rows) rows)")
        }
        if let error = tenant.error { parts.append(describe(error: error)) }
        for action in tenant.actions where action.status != .unchanged {
            parts.append("\(action.name): " + describe(action: action))
        }
        if parts.isEmpty { parts.append("up to date") }
        return "\(mark) \(tenant.id) (\(tenant.schema)) \(tenant.durationMs) ms: " + parts.joined(separator: "; ")
    }

    static func summary(_ report: Report) -> String {
        let s = report.summary
        var text = "\(report.options.dryRun ? "dry run: " : "")\(Plural.count(s.tenants, "tenant")): \(s.succeeded) succeeded (\(s.unchanged) unchanged), \(s.failed) failed, \(s.skipped) skipped; "
        if let pending = s.migrationsPending {
            text += "\(pending) migrations would run"
        } else {
            text += "\(s.migrationsApplied) migrations applied"
        }
        if let marked = s.migrationsMarked { text += report.options.dryRun ? ", \(marked) would be marked as applied" : ", \(marked) marked as applied" }
        if let converted = s.tenantsConverted {
            text += ", tracking tables of \(Plural.count(converted, "tenant")) \(report.options.dryRun ? "would be converted" : "converted")"
        }
        text += " in \(report.durationMs) ms"
        if let reason = report.stopReason { text += " (stopped: \(reason.rawValue))" }
        if let error = report.error { text += "\nerror: " + describe(error: error) }
        return text
    }
}
