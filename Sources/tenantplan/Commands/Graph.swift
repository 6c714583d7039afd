import ArgumentParser
import Foundation
import TenantPlanKit
import TenantPlanOutput
import TenantPlanSpec

/// `tenantplan graph PLAN`: the execution graph, offline.
struct Graph: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the execution graph the compiler built (offline): mermaid, dot or json.",
        discussion: """
            Actions with their scope, kind, migration count and transaction mode, their `after` edges, grouped \
            in the stages the scheduler runs. Mermaid renders in GitHub markdown; dot is for Graphviz.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case mermaid, dot, json
    }

    @OptionGroup var planArgument: PlanArgument

    @Option(help: ArgumentHelp("mermaid, dot or json.", valueName: "mermaid|dot|json"))
    var format: Format = .mermaid

    mutating func run() async throws {
        let path = planArgument.plan
        let plan: Plan
        do {
            plan = try PlanCompiler.compile(path: path, options: CompileOptions(unsetVariablesAreErrors: false))
        } catch {
            for diagnostic in error.diagnostics { Console.error(diagnostic.description) }
            throw ExitCode(2)
        }
        let document = GraphDocument(plan: plan, planPath: path)
        switch format {
        case .mermaid: FileHandle.standardOutput.write(Data(document.mermaid().utf8))
        case .dot: FileHandle.standardOutput.write(Data(document.dot().utf8))
        case .json: FileHandle.standardOutput.write(try document.json())
        }
    }
}
