import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput

/// `tenantplan sync PLAN --status | --mark-missing | --clean-orphans`.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare tracking tables with the migrations on disk; record missing ones or delete orphan rows.",
        usage: """
            tenantplan sync <plan> (--status | --mark-missing | --clean-orphans) [--dry-run] [--yes] [--json] \
            [--tenant <id> ...] [--exclude <glob> ...] [--ephemeral [--seed <file> ...]]
            """,
        discussion: """
            --status exits 0 when every tenant could be read, whatever drift it found. --mark-missing and \
            --clean-orphans write in one transaction per tenant; when more than one tenant would change and stdin \
            is a terminal they need --yes.
            """
    )

    enum Mode: String, EnumerableFlag {
        case status, markMissing, cleanOrphans

        static func help(for value: Mode) -> ArgumentHelp? {
            switch value {
            case .status:
                """
                Show, per group of tenants in the same state, migrations on disk not recorded (missing) and recorded \
                rows matching no file (orphans).
                """
            case .markMissing: "Record the missing migrations as applied, without running them."
            case .cleanOrphans: "Delete the orphan rows."
            }
        }

        var reportMode: SyncReport.Mode {
            switch self {
            case .status: .status
            case .markMissing: .markMissing
            case .cleanOrphans: .cleanOrphans
            }
        }
    }

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions

    @Flag var mode: Mode

    @Flag(help: "Read and report, change nothing.")
    var dryRun = false

    @Flag(help: "Confirm changes to more than one tenant.")
    var yes = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    mutating func run() async throws {
        let options = RunOptions(command: "sync", dryRun: dryRun, filter: selection.filter)
        let confirmed = yes || isatty(STDIN_FILENO) != 1
        let mode = self.mode.reportMode
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options
        ) {
            runner, _ in try await runner.sync(mode, confirm: { tenants in tenants <= 1 || confirmed })
        }
        if json { try Console.json(report) } else { Console.out(SyncText.text(report)) }
        throw ExitCode(report.exitCode)
    }
}
