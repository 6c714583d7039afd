/// Expands `${VAR}` and `${VAR:-default}` from an environment; `$` elsewhere stays literal.
public struct EnvironmentExpander: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    public struct Result: Sendable, Equatable {
        public var value: String
        /// Variables that were referenced without a default and are not set.
        public var unset: [String]
    }

    public func expand(_ text: String) -> Result {
        var output = ""
        var unset: [String] = []
        var rest = text[...]
        while let start = rest.range(of: "${") {
            output += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else {
                output += rest[start.lowerBound...]
                rest = ""
                break
            }
            let body = afterOpen[..<close]
            let name: Substring
            let fallback: Substring?
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                unset.append(String(name))
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        output += rest
        return Result(value: output, unset: unset)
    }
}
