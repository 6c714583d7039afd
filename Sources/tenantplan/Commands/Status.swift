import ArgumentParser
import TenantPlanKit
import TenantPlanOutput

/// `tenantplan status PLAN`: applied, pending and orphaned migrations per tenant.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each tenant's schema, tracking format, applied, pending and orphaned migrations."
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    mutating func run() async throws {
        let options = RunOptions(command: "status", filter: selection.filter)
        var interrupted = false
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options
        ) {
            runner, _ in
            let report = try await runner.status()
            interrupted = runner.isInterrupted
            return report
        }
        if json { try Console.json(report) } else { Console.out(StatusText.table(report)) }
        if interrupted { throw ExitCode(130) }
        if report.summary.errors > 0 { throw ExitCode(1) }
    }
}
