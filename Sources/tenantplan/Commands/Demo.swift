import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput

/// `tenantplan demo`: the whole workflow on a throwaway local PostgreSQL, from any folder.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Start a throwaway PostgreSQL, apply the built-in demo plan to a few dozen tenants, apply it again, show \
            the status, and clean up.
            """,
        discussion: """
            The demo plan and its migrations ship inside tenantplan and are written to a temporary folder for the \
            run (the plan's path is printed). With --plan, another plan runs instead, seeded by its ephemeral.seed.
            """
    )

    @Option(help: "Run this plan instead of the built-in demo plan.", completion: .file(extensions: ["yaml"]))
    var plan: String?

    @Option(help: "How many tenants the demo seed creates (every 12th is inactive).")
    var tenants = 36

    @Option(help: "Write the first run's JSON report to this file.")
    var report: String?

    func validate() throws {
        if tenants < 1 || tenants > 100_000 { throw ValidationError("--tenants must be between 1 and 100000") }
    }

    mutating func run() async throws {
        let project = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: project) }
        let planPath = try plan.map(CommandRun.absolute) ?? DemoProject.layOut(in: project)
        Console.out("plan: \(planPath)\(plan == nil ? " (the built-in demo, written there with its migrations)" : "")")
        // Installed first: a second Ctrl-C, even while the cluster starts, removes it and the demo's files.
        let control = RunControl()
        let interrupts = InterruptHandler(
            control: control,
            second: {
                EphemeralDatabase.stopAll()
                try? FileManager.default.removeItem(atPath: project)
                Console.error("\ninterrupted twice: stopped and removed the throwaway cluster")
            })
        defer { interrupts.cancel() }
        Console.out("starting a throwaway PostgreSQL cluster...")
        let setup = try await RunSetup.prepare(
            path: planPath, ephemeral: true, settings: ["tenantplan.demo_tenants": String(tenants)])
        guard let database = setup.ephemeral else { return }
        defer {
            database.stop()
            Console.out("stopped and removed the cluster at \(database.cluster.directory)")
        }
        Console.out(
            "cluster at \(database.cluster.directory), seeded with \(setup.plan.ephemeral.seed.count) file(s)\n")
        try await applyTwice(setup, control: control)
        try await showStatus(setup, control: control)
    }

    /// The first run applies everything; the second must find nothing pending.
    private func applyTwice(_ setup: RunSetup, control: RunControl) async throws {
        for (round, title) in ["first run: everything is pending", "second run: nothing should be pending"].enumerated()
        {
            Console.out("== \(title)")
            let printer = ProgressPrinter(toStderr: false)
            let result = try await setup.runner(RunOptions(command: "apply"), control: control, events: printer.handle)
                .apply()
            printer.finish()
            Console.out(RunText.fatal(result) ?? RunText.summary(result))
            if control.isInterrupted { throw ExitCode(130) }
            if round == 0, let path = report {
                try result.json().write(to: URL(fileURLWithPath: path))
                Console.out("report written to \(path)")
            }
            if result.exitCode != 0 { throw ExitCode(result.exitCode) }
            if round == 1, result.summary.migrationsApplied != 0 {
                throw TenantPlanError.failed(
                    "the second run applied \(result.summary.migrationsApplied) migrations; expected none")
            }
            Console.out("")
        }
    }

    private func showStatus(_ setup: RunSetup, control: RunControl) async throws {
        Console.out("== status")
        let status = try await setup.runner(RunOptions(command: "status"), control: control).status()
        let lines = StatusText.table(status).split(separator: "\n")
        Console.out(lines.prefix(6).joined(separator: "\n"))
        Console.out("... (\(Plural.count(status.tenants.count, "tenant")))")
        Console.out(String(lines.last ?? ""))
        if control.isInterrupted { throw ExitCode(130) }
    }

    static func temporaryFolder() throws -> String {
        var template = Array((NSTemporaryDirectory() + "tenantplan-demo-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TenantPlanError.failed("cannot create a temporary folder") }
        return String(cString: made)
    }
}
