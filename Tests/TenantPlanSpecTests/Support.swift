import Foundation

@testable import TenantPlanSpec

/// Locations of the test fixtures (copied into the test bundle) and of their sources (for goldens).
enum Fixtures {
    static let bundleDirectory = Bundle.module.resourceURL!.appendingPathComponent("Fixtures").path
    /// The fixture folder in the source tree, where golden files live and are updated.
    static let sourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures"
    ).path

    static func path(_ relative: String) -> String { bundleDirectory + "/" + relative }

    static func invalidPlans() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: bundleDirectory + "/invalid")) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Compiles a fixture and renders its diagnostics with fixture-relative paths.
    static func diagnostics(_ relative: String, environment: [String: String] = [:], unsetIsError: Bool = false) -> (
        plan: Plan?, text: String
    ) {
        let options = CompileOptions(environment: environment, unsetVariablesAreErrors: unsetIsError)
        do {
            let plan = try PlanCompiler.compile(path: path(relative), options: options)
            return (plan, render(plan.warnings))
        } catch {
            return (nil, render(error.diagnostics))
        }
    }

    static func render(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map { $0.description.replacingOccurrences(of: bundleDirectory + "/", with: "") }.joined(
            separator: "\n")
    }
}
