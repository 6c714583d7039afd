import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanSpec

/// What every command that connects does around its work: prepare the plan (compile with the
/// overrides, print its warnings, find or start the database), install the one signal handler,
/// run, and remove a throwaway database on the way out.
enum CommandRun {
    static func with<T>(
        plan path: String, overrides: RunOverrides = RunOverrides(), ephemeral: Bool = false, seed: [String] = [],
        options: RunOptions, events: @escaping @Sendable (RunEvent) -> Void = { _ in },
        _ body: (PlanRunner, RunSetup) async throws -> T
    ) async throws -> T {
        // Installed first: a second Ctrl-C while a throwaway cluster starts still removes it.
        let control = RunControl()
        let interrupts = InterruptHandler(control: control, second: { EphemeralDatabase.stopAll() })
        defer { interrupts.cancel() }
        if ephemeral { Console.error("starting a throwaway PostgreSQL cluster...") }
        let setup = try await RunSetup.prepare(
            path: path, overrides: overrides, ephemeral: ephemeral, seed: seed.map(absolute))
        for warning in setup.plan.warnings { Console.error(warning.description) }
        let database = setup.ephemeral
        defer {
            if let database {
                database.stop()
                Console.error("removed the throwaway cluster at \(database.cluster.directory)")
            }
        }
        do {
            return try await body(setup.runner(options, control: control, events: events), setup)
        } catch  where control.isInterrupted {
            // What failed was the interrupt's doing (a canceled statement): say so, exit 130.
            Console.error("interrupted: \(error)")
            throw ExitCode(130)
        }
    }

    /// A path as the working directory names it, made absolute.
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
