import Foundation
import TenantPlanCluster
import TenantPlanKit

/// The built `tenantplan` executable, next to the test bundle.
enum Executable {
    static var path: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "tenantplan"
            ).path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("tenantplan").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/tenantplan").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[2]
    }
}

/// A child process with its output in a file; waited for without blocking Swift's thread pool.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let outputPath: String

    /// Standard error's own file, when asked for apart from standard output.
    let errorPath: String?

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], separateStderr: Bool = false)
        throws
    {
        outputPath = NSTemporaryDirectory() + "tenantplan-child-\(UUID().uuidString).log"
        errorPath = separateStderr ? outputPath + ".stderr" : nil
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        pid = try Spawn.start(executable, arguments, outputPath: outputPath, errorPath: errorPath, environment: merged)
    }

    /// Standard error (with `separateStderr`).
    var errors: String { errorPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }

    func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for the exit code (polling, so no thread blocks).
    func wait(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if clock.now > deadline {
                kill(pid, SIGKILL)
                throw TestFailure("process \(pid) did not finish in \(timeout); output: \(output)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if (status & 0x7f) == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// The output files go with the object: a suite run leaves nothing in the temporary folder.
    deinit {
        try? FileManager.default.removeItem(atPath: outputPath)
        if let errorPath { try? FileManager.default.removeItem(atPath: errorPath) }
    }
}
