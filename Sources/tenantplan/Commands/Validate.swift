import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

/// `tenantplan validate PLAN`: compile offline and print every problem.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a plan without connecting: every problem at once as FILE:LINE:COL, exit 2 if any."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var planArgument: PlanArgument

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    @Flag(help: "Also lint every migration (as `tenantplan lint`); a lint error makes the plan invalid.")
    var lint = false

    private struct Output: Encodable {
        var plan: String
        var valid: Bool
        var diagnostics: [Diagnostic]
        var summary: String?
        var lint: [LintFinding]?
    }

    /// `database.url` read by libpq's own parser, when every `${VAR}` in it is set (offline).
    static func connectionStringProblems(_ plan: Plan) -> [Diagnostic] {
        let environment = ProcessInfo.processInfo.environment
        guard EnvironmentExpander(environment: environment).expand(plan.database.url).unset.isEmpty else { return [] }
        do {
            _ = try RunSetup.conninfo(for: plan, environment: environment)
            return []
        } catch {
            guard case .invalidConnectionString(let location, let message) = error else { return [] }
            return [Diagnostic(at: location, message, fix: "write a libpq URI or key=value conninfo")]
        }
    }

    mutating func run() async throws {
        let path = planArgument.plan
        let diagnostics: [Diagnostic]
        var summary: String?
        var findings: [LintFinding]?
        do {
            let plan = try PlanCompiler.compile(path: path, options: CompileOptions(unsetVariablesAreErrors: false))
            diagnostics = plan.warnings + Self.connectionStringProblems(plan)
            summary = diagnostics.contains { $0.severity == .error } ? nil : ValidateText.summary(plan)
            if lint { findings = Linter.lint(plan) }
        } catch {
            diagnostics = error.diagnostics
        }
        let lintFailed = findings?.contains { $0.severity == .error } == true
        switch format {
        case .text:
            for diagnostic in diagnostics { Console.error(diagnostic.description) }
            for finding in findings ?? [] { Console.error(finding.description) }
            if let findings { Console.error(LintText.summary(findings)) }
            if let summary, !lintFailed { Console.out(summary) }
        case .json:
            try Console.json(
                Output(
                    plan: path, valid: summary != nil && !lintFailed, diagnostics: diagnostics, summary: summary,
                    lint: findings))
        }
        if summary == nil || lintFailed { throw ExitCode(2) }
    }
}
