import Foundation

/// Times for human output.
enum ISOTime {
    /// Milliseconds since the epoch as an ISO 8601 UTC time with milliseconds.
    static func utc(milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
