import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput

/// `tenantplan drift PLAN`: tenants at the same applied state whose schemas differ.
struct Drift: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find tenants whose schema differs from others at the same applied state (read only).",
        discussion: """
            Groups tenants by the migrations they have applied, then by a fingerprint of their schema (tables, \
            columns and types, indexes, constraints, views, sequences, functions; the schema's own name taken \
            out), and says for each minority what differs from its state's majority. Exit 0, or with \
            --detailed-exitcode 3 when some tenant drifted; 1 on errors.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions

    @Option(help: ArgumentHelp("text or json.", valueName: "text|json"))
    var format: Format = .text

    @Flag(help: "Exit 3 when some tenant drifted (0 when none).")
    var detailedExitcode = false

    mutating func run() async throws {
        let options = RunOptions(command: "drift", filter: selection.filter)
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options,
            { runner, _ in try await runner.drift() })
        switch format {
        case .text: FileHandle.standardOutput.write(Data(DriftText.text(report).utf8))
        case .json: FileHandle.standardOutput.write(try report.json())
        }
        if detailedExitcode, report.hasDrift { throw ExitCode(3) }
    }
}
