import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

/// `tenantplan warmup PLAN`: open the connections and touch every tenant once.
struct Warmup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the pool's connections and touch every tenant's schema and tracking table once.",
        discussion: """
            Read only. Prints each tenant's time (or why it could not be touched) and the total. Exit 1 when a \
            tenant could not be touched.
            """
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var ephemeral: EphemeralOptions
    @OptionGroup var probe: ProbeTimeout

    @Flag(help: "Print the result as JSON.")
    var json = false

    mutating func run() async throws {
        let options = RunOptions(command: "warmup", filter: selection.filter)
        let timeout = probe.timeout
        let report = try await CommandRun.with(
            plan: planArgument.plan, ephemeral: ephemeral.ephemeral, seed: ephemeral.seed, options: options,
            { runner, _ in try await runner.warmup(timeout: timeout) })
        if json {
            try Console.json(report)
        } else {
            for tenant in report.tenants {
                Console.out(
                    "\(tenant.id) (\(tenant.schema)): "
                        + (tenant.error.map { "FAILED \($0)" } ?? "\(tenant.milliseconds ?? 0) ms"))
            }
            let failed = report.tenants.filter { $0.error != nil }.count
            Console.out(
                "warmed \(PlanText.number(report.tenants.count - failed)) of \(PlanText.number(report.tenants.count)) "
                    + "tenants on \(report.connections) connections in \(report.durationMs) ms")
        }
        if report.tenants.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}
