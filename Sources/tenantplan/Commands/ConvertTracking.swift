import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan convert-tracking PLAN --to FORMAT`: rewrite tracking tables in another format.
struct ConvertTracking: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert-tracking",
        abstract: "Convert each tenant's tracking table to another format (name, hash, drizzle-kit), keeping every applied migration and its time.",
        discussion: "Rows are matched to the plan's migrations by name or hash; a tenant with a row that matches no file fails with the rows listed, and nothing changes for it. One transaction per tenant, under the tenant's advisory lock."
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection

    @Option(help: "Target format: name, hash or drizzle-kit.")
    var to: TrackingFormat

    @Option(help: "Convert only tables found in this format.")
    var from: TrackingFormat?

    @Flag(help: "Read and report, change nothing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    mutating func run() async throws {
        let connected = try ConnectedCommand(planPath: planArgument.plan, options: RunOptions(command: "convert-tracking", dryRun: dryRun, filter: selection.filter))
        let report = try await connected.run { [to, from] in try await $0.convertTracking(to: to, from: from) }
        if json {
            try JSONOutput.print(report)
        } else {
            for tenant in report.tenants where tenant.status != .alreadyInTarget && tenant.status != .withoutTable && tenant.status != .otherFormat {
                let rows = tenant.conversions.reduce(0) { $0 + $1.rows.count }
                let tables = tenant.conversions.map { "\($0.table) \($0.from.rawValue) -> \($0.to.rawValue)" }.joined(separator: ", ")
                var line = "\(tenant.status.rawValue) \(tenant.id) (\(tenant.schema)): \(tables) \(rows) rows"
                if let error = tenant.error { line = "failed \(tenant.id) (\(tenant.schema)): " + ProgressPrinter.describe(error: error) }
                Console.out(line)
            }
            let s = report.summary
            Console.out("\(dryRun ? "dry run: " : "")\(Plural.count(s.tenants, "tenant")): \(s.converted) \(dryRun ? "to convert" : "converted") (\(s.rowsConverted) rows), \(s.alreadyInTarget) already \(to.rawValue), \(s.withoutTable) without a table, \(s.otherFormat) in another format, \(s.failed) failed, \(s.skipped) skipped")
        }
        throw ExitCode(report.exitCode)
    }
}

extension TrackingFormat: ExpressibleByArgument {}

/// Pretty, sorted JSON on stdout.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(value))
        Console.out("")
    }
}
