import Foundation
import Yams

/// Reads plan text into a Yams node tree, refusing input that could make the
/// recursive composer crash or hang: too large, too deeply nested, not UTF-8.
enum YAMLLoader {
    /// Plans larger than this are refused before parsing.
    static let maxBytes = 4 * 1024 * 1024
    /// Deepest flow nesting (`[[[...`) accepted.
    static let maxFlowDepth = 64
    /// Widest indentation (block nesting) accepted, in columns.
    static let maxIndentColumns = 128

    static func load(bytes: [UInt8], file: String, into sink: inout DiagnosticSink) -> Node? {
        let start = SourceLocation(file: file, line: 1, column: 1)
        guard bytes.count <= maxBytes else {
            sink.error(
                start, "plan file is \(bytes.count) bytes; plans are limited to \(maxBytes) bytes",
                fix: "is this the right file?")
            return nil
        }
        guard let text = String(validatingUTF8Bytes: bytes) else {
            sink.error(
                invalidUTF8Location(bytes, file: file), "plan file is not UTF-8 text",
                fix: "save it as UTF-8")
            return nil
        }
        if let problem = structuralProblem(text, file: file) {
            sink.diagnostics.append(problem)
            return nil
        }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                sink.error(start, "plan file is empty", fix: "start it with `version: 1`")
                return nil
            }
            return node
        } catch let error as YamlError {
            sink.diagnostics.append(diagnostic(for: error, file: file, text: text))
            return nil
        } catch {
            sink.error(start, "cannot parse YAML: \(error)")
            return nil
        }
    }

    private static func invalidUTF8Location(_ bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var lineStart = 0
        var index = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        loop: while true {
            let before = offset
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
                if scalar == "\n" {
                    line += 1
                    lineStart = offset
                }
            case .emptyInput:
                break loop
            case .error:
                index = before
                break loop
            }
        }
        let column = String(decoding: bytes[lineStart..<max(lineStart, index)], as: UTF8.self).unicodeScalars.count + 1
        return SourceLocation(file: file, line: line, column: column)
    }

    /// Finds NUL bytes, excessive flow nesting and excessive indentation without parsing.
    static func structuralProblem(_ text: String, file: String) -> Diagnostic? {
        var line = 1
        var column = 0
        var flowDepth = 0
        var quote: Character?
        var inComment = false
        var atLineStart = true
        var indent = 0
        for scalar in text.unicodeScalars {
            column += 1
            if scalar == "\0" {
                return Diagnostic(
                    at: SourceLocation(file: file, line: line, column: column),
                    "plan file contains a NUL byte (is it a binary file?)", fix: "remove it")
            }
            if scalar == "\n" {
                line += 1
                column = 0
                inComment = false
                atLineStart = true
                indent = 0
                continue
            }
            if atLineStart {
                if scalar == " " || scalar == "\t" || scalar == "-" {
                    indent += 1
                    if indent > maxIndentColumns {
                        return Diagnostic(
                            at: SourceLocation(file: file, line: line, column: column),
                            "plan nests deeper than \(maxIndentColumns) columns of indentation",
                            fix: "plans are shallow; is this the right file?")
                    }
                    continue
                }
                atLineStart = false
            }
            if inComment { continue }
            let c = Character(scalar)
            if let open = quote {
                if c == open { quote = nil }
                continue
            }
            switch c {
            case "#": inComment = true
            case "\"", "'": quote = c
            case "[", "{":
                flowDepth += 1
                if flowDepth > maxFlowDepth {
                    return Diagnostic(
                        at: SourceLocation(file: file, line: line, column: column),
                        "plan nests brackets deeper than \(maxFlowDepth) levels",
                        fix: "plans are shallow; is this the right file?")
                }
            case "]", "}":
                flowDepth = max(0, flowDepth - 1)
            default: break
            }
        }
        return nil
    }

    private static func diagnostic(for error: YamlError, file: String, text: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var detail = context.map { "\(problem) \($0.text)" } ?? problem
            if let context, context.mark.line != mark.line || context.mark.column != mark.column {
                detail += " (started at \(context.mark.line):\(context.mark.column))"
            }
            var fix = fixFor(problem)
            let line =
                text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(max(0, mark.line - 1)).first
                ?? ""
            if line.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") { fix = "indent with spaces, not tabs" }
            if problem.contains("end of stream"), detail.contains("quoted scalar") { fix = "close the quote" }
            return Diagnostic(at: at(mark), "invalid YAML: \(detail)", fix: fix)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                at: at(context.mark),
                "duplicate key\(duplicates.count > 1 ? "s" : "") "
                    + "\(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping",
                fix: "keep one of them")
        case .reader(let problem, let offset, _, let yaml):
            let prefix = offset.map { String(yaml.utf8.prefix($0)) ?? "" } ?? ""
            let lines = prefix.split(separator: "\n", omittingEmptySubsequences: false)
            let location = SourceLocation(
                file: file, line: lines.count, column: (lines.last?.unicodeScalars.count ?? 0) + 1)
            return Diagnostic(at: location, "invalid YAML: \(problem)")
        default:
            return Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(error)")
        }
    }

    private static func fixFor(_ problem: String) -> String? {
        if problem.contains("tab") { return "indent with spaces, not tabs" }
        if problem.contains("could not find expected ':'") { return "a mapping entry needs `key: value`" }
        if problem.contains("did not find expected") { return "check indentation and closing brackets/quotes" }
        return nil
    }
}

extension String {
    /// Decodes UTF-8, returning nil (instead of repairing) when the bytes are not valid UTF-8.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        self = text
    }
}
