import ArgumentParser
import TenantPlanKit
import TenantPlanSpec

/// The plan file argument, shared by every subcommand that reads a plan.
struct PlanArgument: ParsableArguments {
    @Argument(help: "Path of the plan file (YAML).", completion: .file(extensions: ["yaml", "yml"]))
    var plan: String
}

/// `--tenant` / `--exclude`, shared by the commands that run over tenants.
struct TenantSelection: ParsableArguments {
    @Option(
        name: .customLong("tenant"),
        help: ArgumentHelp("Only this tenant id (repeatable); each must be discovered.", valueName: "id"))
    var tenants: [String] = []

    @Option(
        name: .customLong("exclude"),
        help: ArgumentHelp("Drop tenants whose id matches this glob (repeatable).", valueName: "glob"))
    var excludes: [String] = []

    var filter: TenantFilter { TenantFilter(only: tenants, exclude: excludes) }
}

/// `--ephemeral [--seed FILE ...]`: run against a throwaway PostgreSQL instead of `database.url`.
struct EphemeralOptions: ParsableArguments {
    @Flag(
        help: ArgumentHelp(
            "Run against a throwaway PostgreSQL started for this run (the installed server binaries), loaded "
                + "with the plan's ephemeral.seed files; database.url is not used. The cluster is removed at the end."))
    var ephemeral = false

    @Option(
        help: ArgumentHelp(
            "With --ephemeral: also run this SQL file on the throwaway database before discovery (repeatable).",
            valueName: "file"), completion: .file(extensions: ["sql"]))
    var seed: [String] = []

    func validate() throws {
        if !seed.isEmpty, !ephemeral { throw ValidationError("--seed needs --ephemeral") }
    }
}

extension OnError: ExpressibleByArgument {}
extension OutOfOrder: ExpressibleByArgument {}
extension TrackingFormat: ExpressibleByArgument {}

/// `--timeout`: the bound on each tenant's probe (`health`, `warmup`).
struct ProbeTimeout: ParsableArguments {
    @Option(help: ArgumentHelp("Bound on each tenant's probe, e.g. 2s (0: none).", valueName: "duration"))
    var timeout: PlanDuration = .milliseconds(5000)
}
