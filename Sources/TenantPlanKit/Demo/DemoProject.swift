import Foundation

/// The built-in demo: plans/demo.yaml, its seed and its migrations, shipped inside the binary
/// and laid out in a folder for a run, so the demo works from any folder.
public enum DemoProject {
    /// The demo plan's path relative to the folder it is laid out in.
    public static let planPath = "plans/demo.yaml"

    /// Writes the demo's files under `directory` (as they are in the repository) and returns the plan's path.
    public static func layOut(in directory: String) throws -> String {
        let fileManager = FileManager.default
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file.path)
            try fileManager.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(file.text.utf8).write(to: URL(fileURLWithPath: path))
        }
        return (directory as NSString).appendingPathComponent(planPath)
    }

    /// The embedded text of a file, by its path relative to the repository root.
    public static func text(of path: String) -> String? {
        files.first { $0.path == path }?.text
    }

    /// Every embedded file's path.
    public static var paths: [String] { files.map(\.path) }
}
