/// Counted nouns and shortened lists for human output.
public enum Plural {
    /// "1 tenant", "2 tenants".
    public static func count(_ value: Int, _ noun: String) -> String {
        "\(value) \(noun)\(value == 1 ? "" : "s")"
    }

    /// Names, shortened for long lists: `a, b, c` or `a, b ... z (12)`.
    public static func list(_ names: [String]) -> String {
        guard names.count > 4 else { return names.joined(separator: ", ") }
        return "\(names[0]), \(names[1]) ... \(names[names.count - 1]) (\(names.count))"
    }

    /// Tenant ids of a group: all of them when there are few, else the first three and how many more.
    public static func tenants(_ ids: [String], total: Int) -> String {
        let noun = count(total, "tenant")
        if total <= 5, ids.count == total { return "\(noun) (\(ids.joined(separator: ", ")))" }
        return "\(noun) (\(ids.prefix(3).joined(separator: ", ")), ...)"
    }
}
