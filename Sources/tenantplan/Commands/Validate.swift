import ArgumentParser
import Foundation
import TenantPlanKit
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
        let result: Result<Plan, PlanError>
        do {
            result = .success(try PlanCompiler.compile(path: path, options: CompileOptions(unsetVariablesAreErrors: false)))
        } catch {
            result = .failure(error)
        }
        let diagnostics: [Diagnostic]
        var summary: String?
        switch result {
        case .success(let plan):
            diagnostics = plan.warnings
            summary = Self.summary(plan)
        case .failure(let error):
            diagnostics = error.diagnostics
        }
        switch format {
        case .text:
            for diagnostic in diagnostics { Console.error(diagnostic.description) }
            if let summary { Console.out(summary) }
        case .json:
            try JSONOutput.print(Output(plan: path, valid: summary != nil, diagnostics: diagnostics, summary: summary))
        }
        if summary == nil { throw ExitCode(2) }
    }

    static func summary(_ plan: Plan) -> String {
        let graph = ExecutionGraph(plan: plan)
        let shared = plan.actions.filter { $0.scope.isShared }.count
        let migrations = plan.actions.reduce(0) { $0 + $1.migrations.count }
        let discovery: String
        switch plan.tenants.discover {
        case .sql: discovery = "sql"
        case .list(let ids): discovery = "list of \(ids.count)"
        case .schemaLike(let pattern): discovery = "schemaLike '\(pattern)'"
        }
        return "\(plan.path): valid: \(plan.actions.count) action\(plan.actions.count == 1 ? "" : "s") (\(shared) shared, \(plan.actions.count - shared) per tenant) in \(graph.stages.count) stage\(graph.stages.count == 1 ? "" : "s"), \(migrations) migration\(migrations == 1 ? "" : "s"); tenants by \(discovery); concurrency \(plan.concurrency)"
    }
}
