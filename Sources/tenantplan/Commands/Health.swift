import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

extension PlanDuration: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

/// `tenantplan health PLAN`: is every tenant reachable, readable and up to date?
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Check the shared database and every tenant: schema, tracking table, pending migrations, response time.",
        discussion: """
            Read only. A tenant with pending migrations (or orphaned rows, or edited applied migrations) is degraded; \
            one whose schema is missing, whose tracking table cannot be read or that does not answer within \
            --timeout is unhealthy. Exit 0 when every tenant is ok, 1 otherwise. --json prints the report \
            (docs/schemas/health-v1.json).
            """
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions
    @OptionGroup var probe: ProbeTimeout

    @Flag(help: "Print the health report as JSON.")
    var json = false

    mutating func run() async throws {
        let options = RunOptions(command: "health", filter: selection.filter)
        let timeout = probe.timeout
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options,
            { runner, _ in try await runner.health(timeout: timeout) })
        if json {
            FileHandle.standardOutput.write(try report.json())
        } else {
            Console.out(HealthText.text(report))
        }
        throw ExitCode(report.exitCode)
    }
}
