import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanSpec

/// `tenantplan apply PLAN`: run every action on every tenant.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the plan: run pending migrations and scripts on every tenant.",
        discussion: "Discovers tenants, reads their tracking tables in batches, then runs the execution graph with bounded concurrency. Writes a JSON report with --report or --json."
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var run: RunFlags

    @Flag(help: "Connect and read, write nothing: print what would run on each tenant.")
    var dryRun = false

    @Flag(help: "Record pending migrations as applied without running them (for schemas changed by hand or another tool).")
    var markApplied = false

    @Option(help: ArgumentHelp("With --mark-applied: mark up to and including this migration in the action that holds it, and nothing in the actions after it.", valueName: "name"))
    var upTo: String?

    func validate() throws {
        if upTo != nil, !markApplied { throw ValidationError("--up-to needs --mark-applied") }
    }

    mutating func run() async throws {
        let report = try await run.execute(plan: planArgument.plan, selection: selection, command: "apply", dryRun: dryRun,
                                           markApplied: markApplied, upTo: upTo)
        throw ExitCode(report.exitCode)
    }
}

/// `tenantplan plan PLAN`: the dry run, for reviews.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what `apply` would do (a dry run: connects and reads, writes nothing)."
    )

    @OptionGroup var planArgument: PlanArgument
    @OptionGroup var selection: TenantSelection
    @OptionGroup var run: RunFlags

    @Flag(help: "Exit 3 when changes are pending (0 when none, 1 on failure).")
    var detailedExitcode = false

    mutating func run() async throws {
        let report = try await run.execute(plan: planArgument.plan, selection: selection, command: "plan", dryRun: true)
        var code = report.exitCode
        if code == 0, detailedExitcode, report.hasPendingChanges {
            code = 3
        }
        throw ExitCode(code)
    }
}

/// Flags shared by `apply` and `plan`.
struct RunFlags: ParsableArguments {
    @Option(help: "Tenants in flight at once (overrides the plan; at most database.maxConnections).")
    var concurrency: Int?

    @Option(help: "continue: other tenants go on after a failure; abort: start nothing new (overrides the plan).")
    var onError: OnError?

    @Option(help: "With continue: stop starting tenants once this many failed (0 = no limit; overrides the plan).")
    var maxFailures: Int?

    @Option(help: "Write the JSON report to this file.", completion: .file())
    var report: String?

    @Flag(help: "Print the JSON report to stdout (human output goes to stderr).")
    var json = false

    func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let maxFailures, maxFailures < 0 { throw ValidationError("--max-failures must be 0 or more") }
    }

    func execute(plan path: String, selection: TenantSelection, command: String, dryRun: Bool,
                 markApplied: Bool = false, upTo: String? = nil) async throws -> Report {
        let printer = ProgressPrinter(toStderr: json, dryRun: dryRun)
        let connected = try ConnectedCommand(
            planPath: path, options: RunOptions(command: command, dryRun: dryRun, filter: selection.filter, markApplied: markApplied, upTo: upTo),
            concurrency: concurrency,
            adjust: { plan in
                if let onError { plan.onError = onError }
                if let maxFailures { plan.maxFailures = maxFailures }
            },
            events: { printer.handle($0) })
        let report = try await connected.run { try await $0.apply() }
        printer.finish()
        if dryRun { Self.printDryRun(report, json: json) }
        let summary = ProgressPrinter.summary(report)
        if json {
            Console.error(summary)
            FileHandle.standardOutput.write(try report.json())
            Console.out("")
        } else {
            Console.out(summary)
        }
        if let path = self.report {
            do {
                try report.json().write(to: URL(fileURLWithPath: path))
            } catch {
                Console.error("error: cannot write report to \(path): \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        return report
    }

    /// Per tenant, what would run (shared actions were printed as they were read); then the same grouped, so 1,000 identical tenants read as one line.
    static func printDryRun(_ report: Report, json: Bool) {
        let write: (String) -> Void = json ? { Console.error($0) } : { Console.out($0) }
        var groups: [String: Int] = [:]
        var order: [String] = []
        for tenant in report.tenants where !tenant.unchanged {
            write(ProgressPrinter.describe(tenant: tenant, dryRun: true))
            var parts = tenant.actions.filter { $0.status != .unchanged }.map { "\($0.name): " + ProgressPrinter.describe(action: $0) }
            if tenant.createdSchema == true { parts.append("would create the schema") }
            if let to = tenant.convertedTo { parts.append("would convert tracking \(tenant.format?.rawValue ?? "?") -> \(to.rawValue)") }
            if let error = tenant.error { parts.append(ProgressPrinter.describe(error: error)) }
            let key = parts.joined(separator: "; ")
            if groups[key] == nil { order.append(key) }
            groups[key, default: 0] += 1
        }
        if order.count > 0, report.tenants.count > 1 {
            write("grouped:")
            for key in order { write("  \(groups[key]!) tenant\(groups[key]! == 1 ? "" : "s"): \(key)") }
        }
    }
}

extension OnError: ExpressibleByArgument {}
