import ArgumentParser
import Foundation
import TenantPlanKit

/// The `tenantplan` command: subcommands for validating, planning, applying and inspecting plans.
struct TenantPlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenantplan",
        abstract: "Migrate PostgreSQL databases with one schema per tenant, from a committed YAML plan.",
        discussion: """
            Exit codes: 0 success; 1 a tenant or action failed, or the database or discovery failed; 2 the plan or \
            the command line is invalid (or a lint error); 3 (plan or drift --detailed-exitcode) changes are \
            pending or tenants drifted; 130 interrupted.
            """,
        version: TenantPlanVersion.current,
        subcommands: [
            Validate.self, Lint.self, Apply.self, PlanCommand.self, Graph.self, Drift.self, Health.self, Warmup.self,
            Serve.self,
            Status.self,
            Sync.self,
            ConvertTracking.self,
            Demo.self,
        ]
    )
}

@main
enum Main {
    static func main() async {
        // A reader that goes away (`| head -1`) must not kill the run before its report is written.
        signal(SIGPIPE, SIG_IGN)
        StderrLogHandler.bootstrap()
        var command: ParsableCommand
        do {
            command = try TenantPlanCommand.parseAsRoot()
        } catch {
            // Usage errors: the contract's exit code 2, not ArgumentParser's 64 (help and --version exit 0).
            if TenantPlanCommand.exitCode(for: error) == .success { TenantPlanCommand.exit(withError: error) }
            Console.error(TenantPlanCommand.fullMessage(for: error))
            exit(2)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch let error as TenantPlanError {
            // Diagnostics carry their own `FILE:LINE:COL: error:`; every other error gets `error:`.
            switch error {
            case .invalidPlan, .invalidConnectionString: Console.error(error.description)
            default: Console.error("error: \(error)")
            }
            exit(error.exitCode)
        } catch {
            switch TenantPlanCommand.exitCode(for: error) {
            case .success:
                // `help` and `--help` reach here as errors that print the help and exit 0.
                TenantPlanCommand.exit(withError: error)
            case .validationFailure:
                // Usage errors found while running: exit 2, as the contract says.
                Console.error(TenantPlanCommand.fullMessage(for: error))
                exit(2)
            default:
                // The database or discovery failed: exit 1, as the contract says.
                Console.error("error: \(error)")
                exit(1)
            }
        }
    }
}
