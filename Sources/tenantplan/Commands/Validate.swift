import ArgumentParser
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

    private struct Output: Encodable {
        var plan: String
        var valid: Bool
        var diagnostics: [Diagnostic]
        var summary: String?
    }

    mutating func run() async throws {
        let path = planArgument.plan
        let diagnostics: [Diagnostic]
        var summary: String?
        do {
            let plan = try PlanCompiler.compile(path: path, options: CompileOptions(unsetVariablesAreErrors: false))
            diagnostics = plan.warnings
            summary = ValidateText.summary(plan)
        } catch {
            diagnostics = error.diagnostics
        }
        switch format {
        case .text:
            for diagnostic in diagnostics { Console.error(diagnostic.description) }
            if let summary { Console.out(summary) }
        case .json:
            try Console.json(Output(plan: path, valid: summary != nil, diagnostics: diagnostics, summary: summary))
        }
        if summary == nil { throw ExitCode(2) }
    }
}
