import Foundation
import Testing

@testable import TenantPlanSpec

/// Each invalid plan under Fixtures/invalid has the exact diagnostics it must produce in
/// Fixtures/invalid/NAME.expected. Run with TENANTPLAN_UPDATE_GOLDEN=1 to rewrite them
/// (then review the diff).
@Suite struct CompilerGoldenTests {
    @Test("every invalid fixture plan is refused with its golden diagnostics", arguments: Fixtures.invalidPlans())
    func invalidPlanDiagnostics(name: String) throws {
        let (plan, text) = Fixtures.diagnostics("invalid/\(name).yaml")
        #expect(plan == nil, "\(name).yaml compiled but must be refused")
        #expect(text.contains(": error: "), "no error diagnostic for \(name)")
        let goldenPath = Fixtures.sourceDirectory + "/invalid/\(name).expected"
        if ProcessInfo.processInfo.environment["TENANTPLAN_UPDATE_GOLDEN"] == "1" {
            try (text + "\n").write(toFile: goldenPath, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: goldenPath, encoding: .utf8)
        #expect(text + "\n" == expected)
    }

    @Test("every diagnostic names the fixture file with a line and a column")
    func diagnosticsAreLocated() {
        for name in Fixtures.invalidPlans() {
            let (_, text) = Fixtures.diagnostics("invalid/\(name).yaml")
            for line in text.split(separator: "\n") {
                let pattern = #/^[^:]+:\d+:\d+: (error|warning): .+/#
                #expect(line.wholeMatch(of: pattern) != nil, "\(name): unlocated diagnostic '\(line)'")
            }
        }
    }
}
