import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

/// `tenantplan lint PLAN`: the migration lint over every migration of the plan, offline.
struct Lint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lint every migration of the plan (offline): locks, rewrites, destructive and unsafe statements.",
        discussion: """
            Each finding names its rule, the file, line and column, the lock it takes, why it matters and the fix. \
            Rules are set per plan (lint.rules: {ID: error|warning|off}) and waived per statement with a comment \
            before it: -- tenantplan:lint-ignore ID reason. Exit 2 when a finding is an error (or the plan is \
            invalid), 0 otherwise. Rule ids: \\(LintRule.allCases.map(\\.rawValue).joined(separator: ", ")).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var planArgument: PlanArgument

    @Option(help: ArgumentHelp("text or json.", valueName: "text|json"))
    var format: Format = .text

    mutating func run() async throws {
        let plan: Plan
        do {
            plan = try PlanCompiler.compile(
                path: planArgument.plan, options: CompileOptions(unsetVariablesAreErrors: false))
        } catch {
            for diagnostic in error.diagnostics { Console.error(diagnostic.description) }
            throw ExitCode(2)
        }
        let findings = Linter.lint(plan)
        switch format {
        case .text:
            for finding in findings { Console.out(finding.description) }
            Console.out(LintText.summary(findings))
        case .json:
            try Console.json(findings)
        }
        if findings.contains(where: { $0.severity == .error }) { throw ExitCode(2) }
    }
}
