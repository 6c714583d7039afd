/// A shell-style glob over tenant ids: `*` any run of characters, `?` one character,
/// `[abc]` / `[a-z]` / `[!a-z]` a character class, `\` escapes the next character.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let tokens: [Token]

    private enum Token: Sendable, Hashable {
        case literal(Character)
        case any
        case anyRun
        case set([ClosedRange<Character>], negated: Bool)
    }

    public init(_ pattern: String) {
        self.pattern = pattern
        var tokens: [Token] = []
        var chars = Array(pattern)[...]
        while let c = chars.popFirst() {
            switch c {
            case "*":
                if tokens.last != .anyRun { tokens.append(.anyRun) }
            case "?":
                tokens.append(.any)
            case "\\":
                tokens.append(.literal(chars.popFirst() ?? "\\"))
            case "[":
                if let (set, rest) = Glob.parseSet(chars) {
                    tokens.append(set)
                    chars = rest
                } else {
                    tokens.append(.literal("["))
                }
            default:
                tokens.append(.literal(c))
            }
        }
        self.tokens = tokens
    }

    private static func parseSet(_ input: ArraySlice<Character>) -> (Token, ArraySlice<Character>)? {
        var chars = input
        var negated = false
        if chars.first == "!" || chars.first == "^" {
            negated = true
            chars.removeFirst()
        }
        var ranges: [ClosedRange<Character>] = []
        var first = true
        while let c = chars.popFirst() {
            if c == "]" && !first { return (.set(ranges, negated: negated), chars) }
            first = false
            if chars.count >= 2, chars.first == "-", chars.dropFirst().first != "]" {
                chars.removeFirst()
                let upper = chars.removeFirst()
                if c <= upper { ranges.append(c...upper) }
            } else {
                ranges.append(c...c)
            }
        }
        return nil
    }

    public func matches(_ text: String) -> Bool {
        Glob.match(tokens[...], Array(text)[...])
    }

    private static func match(_ tokens: ArraySlice<Token>, _ text: ArraySlice<Character>) -> Bool {
        // Iterative matcher with single backtrack point for `*` (linear in practice).
        var t = tokens.startIndex, s = text.startIndex
        var starToken: Int?, starText = text.startIndex
        while s < text.endIndex {
            if t < tokens.endIndex {
                switch tokens[t] {
                case .anyRun:
                    starToken = t
                    starText = s
                    t += 1
                    continue
                case .any:
                    t += 1; s += 1
                    continue
                case .literal(let c) where c == text[s]:
                    t += 1; s += 1
                    continue
                case .set(let ranges, let negated) where ranges.contains(where: { $0.contains(text[s]) }) != negated:
                    t += 1; s += 1
                    continue
                default:
                    break
                }
            }
            guard let star = starToken else { return false }
            t = star + 1
            starText += 1
            s = starText
        }
        while t < tokens.endIndex, tokens[t] == .anyRun { t += 1 }
        return t == tokens.endIndex
    }

    public var description: String { pattern }
}
