import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput

/// `tenantplan sync PLAN --status | --mark-missing | --clean-orphans`.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare tracking tables with the migrations on disk; record missing ones or delete orphan rows.",
        usage: """
            tenantplan sync <plan> (--status | --mark-missing [--up-to <name> | --all] | --clean-orphans | \
            --accept-edits [--migration <name> ...]) \
            [--dry-run] [--yes] [--json] [--tenant <id> ...] [--exclude <glob> ...] [--ephemeral [--seed <file> ...]]
            """,
        discussion: """
            --status exits 0 when every tenant could be read, whatever drift it found. --mark-missing records only \
            gaps (missing migrations that sort before the tenant's latest applied one) unless --up-to or --all says \
            more. --accept-edits records the new hash of applied migrations edited since, so apply stops refusing \
            them: those found for certain (drizzle-kit, tenantplan formats), or those named with --migration (needed \
            for the hash format, which pairs rows with files by place). The writing modes write in one transaction per \
            tenant, and only with --yes (without it they exit 2 and change nothing; try --dry-run first).
            """
    )

    enum Mode: String, EnumerableFlag {
        case status, markMissing, cleanOrphans, acceptEdits

        static func help(for value: Mode) -> ArgumentHelp? {
            switch value {
            case .status:
                """
                Show, per group of tenants in the same state, migrations on disk not recorded (missing) and recorded \
                rows matching no file (orphans).
                """
            case .markMissing: "Record the missing migrations as applied, without running them."
            case .cleanOrphans: "Delete the orphan rows."
            case .acceptEdits:
                "Record the new hash of applied migrations whose file was edited since, without running them."
            }
        }

        var reportMode: SyncReport.Mode {
            switch self {
            case .status: .status
            case .markMissing: .markMissing
            case .cleanOrphans: .cleanOrphans
            case .acceptEdits: .acceptEdits
            }
        }
    }

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions

    @Flag var mode: Mode

    @Flag(help: "Read and report, change nothing.")
    var dryRun = false

    @Flag(
        help: "Confirm the changes (--mark-missing, --clean-orphans and --accept-edits change nothing without it).")
    var yes = false

    @Option(
        help: ArgumentHelp(
            "With --mark-missing: record every missing migration up to and including this one (folder order).",
            valueName: "name"))
    var upTo: String?

    @Flag(help: "With --mark-missing: record every missing migration, new ones that never ran included.")
    var all = false

    @Option(
        name: .customLong("migration"),
        help: ArgumentHelp(
            "With --accept-edits: only this migration (repeatable). Needed for the hash format, whose rows are "
                + "paired with files by place.", valueName: "name"))
    var migrations: [String] = []

    func validate() throws {
        if upTo != nil || all, mode != .markMissing {
            throw ValidationError("--up-to and --all go with --mark-missing")
        }
        if upTo != nil, all { throw ValidationError("--up-to and --all: choose one") }
        if !migrations.isEmpty, mode != .acceptEdits { throw ValidationError("--migration goes with --accept-edits") }
    }

    var scope: MarkScope {
        if all { return .all }
        return upTo.map(MarkScope.upTo) ?? .gaps
    }

    @Flag(help: "Print the report as JSON.")
    var json = false

    mutating func run() async throws {
        let options = RunOptions(command: "sync", dryRun: dryRun, filter: selection.filter)
        let (confirmed, mode, scope) = (yes, self.mode.reportMode, self.scope)
        let accept: EditScope = migrations.isEmpty ? .certain : .named(Set(migrations))
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options
        ) {
            runner, _ in try await runner.sync(mode, scope: scope, accept: accept, confirm: { _ in confirmed })
        }
        if json { try Console.json(report) } else { Console.out(SyncText.text(report)) }
        throw ExitCode(report.exitCode)
    }
}
