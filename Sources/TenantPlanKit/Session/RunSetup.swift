import Foundation
import TenantPlanPostgres
import TenantPlanSpec

/// A plan made ready for a command that connects: compiled with the command line's overrides,
/// and the connection string to use: `database.url` expanded and checked, or, with `ephemeral`,
/// a throwaway database loaded with the plan's `ephemeral.seed`.
public struct RunSetup: Sendable {
    public let plan: Plan
    public let conninfo: String
    /// The throwaway database of an `--ephemeral` run; the caller stops it.
    public let ephemeral: EphemeralDatabase?

    /// Compiles `path`; throws `.invalidPlan` with every diagnostic, or `.invalidConnectionString`.
    public static func compile(
        path: String, overrides: RunOverrides = RunOverrides(),
        environment: [String: String] = ProcessInfo.processInfo.environment, ephemeral: Bool = false
    ) throws(TenantPlanError) -> Plan {
        let options = CompileOptions(
            environment: environment, unsetVariablesAreErrors: !ephemeral, overrides: overrides)
        do {
            return try PlanCompiler.compile(path: path, options: options)
        } catch {
            throw .invalidPlan(error.diagnostics)
        }
    }

    /// `database.url` with `${VAR}` expanded, checked by libpq's parser (never echoing a password).
    public static func conninfo(
        for plan: Plan, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(TenantPlanError) -> String {
        let expanded = EnvironmentExpander(environment: environment).expand(plan.database.url).value
        if case .failure(let error) = ConnInfo.parse(expanded) {
            throw .invalidConnectionString(plan.database.urlLocation, error.message)
        }
        return expanded
    }

    /// Compiles the plan and finds what to connect to; with `ephemeral`, starts the throwaway
    /// database (the plan's seed, then `seed`), and `database.url` is not used.
    public static func prepare(
        path: String, overrides: RunOverrides = RunOverrides(), ephemeral: Bool = false, seed: [String] = [],
        settings: [String: String] = [:], environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(TenantPlanError) -> RunSetup {
        var plan = try compile(path: path, overrides: overrides, environment: environment, ephemeral: ephemeral)
        guard ephemeral else {
            return RunSetup(plan: plan, conninfo: try conninfo(for: plan, environment: environment), ephemeral: nil)
        }
        let database = try await EphemeralDatabase.start(seed: plan.ephemeral.seed + seed, settings: settings)
        plan.database.pooler = .none  // the throwaway server is reached directly
        return RunSetup(plan: plan, conninfo: database.conninfo, ephemeral: database)
    }

    /// The runner for this setup.
    public func runner(
        _ options: RunOptions, control: RunControl, events: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) -> PlanRunner {
        PlanRunner(plan: plan, conninfo: conninfo, options: options, control: control, events: events)
    }
}
