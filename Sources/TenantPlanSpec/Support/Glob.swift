#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A shell-style glob over tenant ids, matched by the C library's `fnmatch(3)`: `*` any run of
/// characters (`/` and a leading `.` included), `?` one character, `[abc]` / `[a-z]` / `[!a-z]`
/// a character class, `\` escapes the next character. Ids are matched as UTF-8 in a UTF-8
/// locale, so `?` is one character, not one byte.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String

    public init(_ pattern: String) {
        self.pattern = pattern
    }

    public func matches(_ text: String) -> Bool {
        Self.utf8Locale.map { locale in
            let previous = uselocale(locale)
            defer { uselocale(previous) }
            return fnmatch(pattern, text, 0) == 0
        } ?? (fnmatch(pattern, text, 0) == 0)
    }

    /// A UTF-8 locale for this thread's `fnmatch` calls (the process locale is left alone).
    private nonisolated(unsafe) static let utf8Locale: locale_t? = {
        newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)
    }()

    public var description: String { pattern }
}
