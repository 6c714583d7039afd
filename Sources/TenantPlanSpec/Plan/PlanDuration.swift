/// A duration written in a plan: `0` (off) or an integer with `ms`, `s`, `m` or `h`.
public struct PlanDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public static func milliseconds(_ value: Int64) -> PlanDuration { PlanDuration(milliseconds: value) }
    public static let zero = PlanDuration(milliseconds: 0)

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Parses `0`, `250ms`, `10s`, `5m`, `1h`. Returns nil for anything else, and for durations
    /// PostgreSQL cannot take (above 2147483647 ms, about 24 days).
    public init?(parsing text: String) {
        if text == "0" {
            self.milliseconds = 0
            return
        }
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                let value = Int64(digits), value <= Int64(Int32.max) / factor
            else { continue }
            self.milliseconds = value * factor
            return
        }
        return nil
    }

    public static func < (lhs: PlanDuration, rhs: PlanDuration) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public var description: String {
        if milliseconds == 0 { return "0" }
        if milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}
