import Foundation

/// The JSON every document of tenantplan is written as: pretty, keys sorted, slashes as they
/// are, a final newline; the same value gives the same bytes.
public enum StableJSON {
    public static func data<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }
}
