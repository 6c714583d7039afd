import ArgumentParser
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

/// `tenantplan convert-tracking PLAN --to FORMAT`: rewrite tracking tables in another format.
struct ConvertTracking: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert-tracking",
        abstract: """
            Convert each tenant's tracking table to another format (name, hash, drizzle-kit, tenantplan), \
            keeping every applied migration and its time.
            """,
        discussion: """
            Rows are matched to the plan's migrations by name or hash; a tenant with a row that matches no file \
            fails with the rows listed, and nothing changes for it. One transaction per tenant, under the tenant's \
            advisory lock.
            """
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions

    @Option(help: "Target format: name, hash, drizzle-kit or tenantplan.")
    var to: TrackingFormat

    @Option(help: "Convert only tables found in this format.")
    var from: TrackingFormat?

    @Flag(help: "Read and report, change nothing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    mutating func run() async throws {
        let options = RunOptions(command: "convert-tracking", dryRun: dryRun, filter: selection.filter)
        let (to, from) = (self.to, self.from)
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options
        ) {
            runner, _ in try await runner.convertTracking(to: to, from: from)
        }
        if json { try Console.json(report) } else { Console.out(ConvertText.text(report)) }
        throw ExitCode(report.exitCode)
    }
}
