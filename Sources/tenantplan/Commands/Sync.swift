import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan sync PLAN --status | --mark-missing | --clean-orphans`.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare tracking tables with the migrations on disk; record missing ones or delete orphan rows.",
        usage: "tenantplan sync <plan> (--status | --mark-missing | --clean-orphans) [--dry-run] [--yes] [--json] [--tenant <id> ...] [--exclude <glob> ...]",
        discussion: "--status exits 0 when every tenant could be read, whatever drift it found. --mark-missing and --clean-orphans write in one transaction per tenant; when more than one tenant would change and stdin is a terminal they need --yes."
    )

    enum Mode: String, EnumerableFlag {
        case status, markMissing, cleanOrphans

        static func help(for value: Mode) -> ArgumentHelp? {
            switch value {
            case .status: "Show, per group of tenants in the same state, migrations on disk not recorded (missing) and recorded rows matching no file (orphans)."
            case .markMissing: "Record the missing migrations as applied, without running them."
            case .cleanOrphans: "Delete the orphan rows."
            }
        }
    }

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection

    @Flag var mode: Mode

    @Flag(help: "Read and report, change nothing.")
    var dryRun = false

    @Flag(help: "Confirm changes to more than one tenant.")
    var yes = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    mutating func run() async throws {
        let connected = try ConnectedCommand(planPath: planArgument.plan, options: RunOptions(command: "sync", dryRun: dryRun, filter: selection.filter))
        let reportMode: SyncReport.Mode = mode == .status ? .status : mode == .markMissing ? .markMissing : .cleanOrphans
        let confirmed = yes || isatty(STDIN_FILENO) != 1
        let report = try await connected.run { try await $0.sync(reportMode, confirm: { tenants in tenants <= 1 || confirmed }) }
        if json {
            try JSONOutput.print(report)
        } else {
            Console.out(Self.text(report))
        }
        throw ExitCode(report.exitCode)
    }

    static func text(_ report: SyncReport) -> String {
        var lines: [String] = []
        for group in report.groups {
            let who = group.count == 1 ? "1 tenant (\(group.sample[0]))" : "\(group.count) tenants (\(group.sample.prefix(3).joined(separator: ", "))\(group.count > 3 ? ", ..." : ""))"
            lines.append("\(who):")
            if !group.drift.missing.isEmpty { lines.append("  missing: " + ProgressPrinter.list(group.drift.missing)) }
            if !group.drift.orphans.isEmpty { lines.append("  orphans: " + ProgressPrinter.list(group.drift.orphans)) }
            for pair in group.drift.likely {
                lines.append("  likely \(pair.kind): \(pair.migration) (recorded as \(pair.recorded.prefix(16)))")
            }
        }
        for tenant in report.tenants where tenant.status == .failed {
            lines.append("failed \(tenant.id) (\(tenant.schema)): " + (tenant.error.map(ProgressPrinter.describe(error:)) ?? "unknown error"))
        }
        let s = report.summary
        var summary = "\(report.dryRun ? "dry run: " : "")\(Plural.count(s.tenants, "tenant")): \(s.inSync) in sync, \(s.drifted) drifted (\(s.missing) missing, \(s.orphans) orphan rows), \(s.failed) failed"
        switch report.mode {
        case .status: break
        case .markMissing: summary += report.dryRun ? "; \(s.changed) tenants would change" : "; \(s.marked) migrations marked on \(s.changed) tenants"
        case .cleanOrphans: summary += report.dryRun ? "; \(s.changed) tenants would change" : "; \(s.deleted) orphan rows deleted on \(s.changed) tenants"
        }
        lines.append(summary)
        return lines.joined(separator: "\n")
    }
}
