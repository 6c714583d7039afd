import Yams

/// Typed, located access to Yams nodes, recording a diagnostic for each mismatch.
struct NodeReader {
    let file: String

    func location(_ node: Node?) -> SourceLocation {
        guard let mark = node?.mark else { return SourceLocation(file: file, line: 1, column: 1) }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    func kindName(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.string.isEmpty || node.null != nil { return "null" }
            return "'\(scalar.string.prefix(40))'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The entries of a mapping, with unknown keys reported (with a did-you-mean).
    func mapping(_ node: Node, path: String, known: [String], into sink: inout DiagnosticSink) -> [(
        key: String, keyNode: Node, value: Node
    )]? {
        guard case .mapping(let mapping) = node else {
            sink.error(location(node), "'\(path)' must be a mapping, found \(kindName(node))")
            return nil
        }
        var entries: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                sink.error(location(keyNode), "keys in '\(path)' must be plain words, found \(kindName(keyNode))")
                continue
            }
            if !known.contains(key.string) {
                let qualified = path.isEmpty ? key.string : "\(path).\(key.string)"
                sink.error(
                    location(keyNode), "unknown key '\(qualified)'",
                    fix: Suggestion.didYouMean(key.string, in: known) ?? "known keys: \(known.joined(separator: ", "))")
                continue
            }
            entries.append((key.string, keyNode, value))
        }
        return entries
    }

    func string(_ node: Node, path: String, into sink: inout DiagnosticSink) -> String? {
        guard case .scalar(let scalar) = node, node.null == nil || scalar.style != .plain else {
            sink.error(location(node), "'\(path)' must be a string, found \(kindName(node))")
            return nil
        }
        return scalar.string
    }

    func nonEmptyString(_ node: Node, path: String, into sink: inout DiagnosticSink) -> String? {
        guard let value = string(node, path: path, into: &sink) else { return nil }
        guard !value.isEmpty else {
            sink.error(location(node), "'\(path)' must not be empty")
            return nil
        }
        return value
    }

    func int(_ node: Node, path: String, range: ClosedRange<Int>, into sink: inout DiagnosticSink) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Int(scalar.string) else {
            sink.error(location(node), "'\(path)' must be an integer, found \(kindName(node))")
            return nil
        }
        guard range.contains(value) else {
            let bound =
                range.upperBound == Int.max
                ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            sink.error(location(node), "'\(path)' must be \(bound), found \(value)")
            return nil
        }
        return value
    }

    func double(_ node: Node, path: String, into sink: inout DiagnosticSink) -> Double? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Double(scalar.string), value.isFinite
        else {
            sink.error(location(node), "'\(path)' must be a number, found \(kindName(node))")
            return nil
        }
        return value
    }

    /// Only `true` and `false`: `yes`, `on`, `1` are refused, since a typo would change meaning.
    func bool(_ node: Node, path: String, into sink: inout DiagnosticSink) -> Bool? {
        if case .scalar(let scalar) = node, scalar.style == .plain {
            if scalar.string == "true" { return true }
            if scalar.string == "false" { return false }
        }
        sink.error(location(node), "'\(path)' must be true or false, found \(kindName(node))")
        return nil
    }

    func duration(_ node: Node, path: String, into sink: inout DiagnosticSink) -> PlanDuration? {
        guard case .scalar(let scalar) = node, let value = PlanDuration(parsing: scalar.string) else {
            sink.error(
                location(node), "'\(path)' is not a duration: \(kindName(node))",
                fix: "write 0 (off) or a whole number with a unit: 250ms, 10s, 5m, 1h; at most 596h")
            return nil
        }
        return value
    }

    func stringList(_ node: Node, path: String, into sink: inout DiagnosticSink) -> [(String, Node)]? {
        guard case .sequence(let sequence) = node else {
            sink.error(
                location(node), "'\(path)' must be a list, found \(kindName(node))",
                fix: "write it as [a, b] or as lines starting with '- '")
            return nil
        }
        var values: [(String, Node)] = []
        var ok = true
        for item in sequence {
            guard let value = string(item, path: "\(path)[]", into: &sink) else {
                ok = false
                continue
            }
            values.append((value, item))
        }
        return ok ? values : nil
    }

    func oneOf<T>(_ node: Node, path: String, choices: [String: T], into sink: inout DiagnosticSink) -> T? {
        guard let text = string(node, path: path, into: &sink) else { return nil }
        if let value = choices[text] { return value }
        let names = choices.keys.sorted()
        sink.error(
            location(node), "'\(path)' must be one of \(names.joined(separator: ", ")), found '\(text)'",
            fix: Suggestion.didYouMean(text, in: names))
        return nil
    }
}
