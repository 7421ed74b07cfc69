/// What a console pattern (`--wait-regex`, a profile's `expect_regex`) may
/// be. Swift's Regex backtracks, and a match cannot be stopped: a pattern
/// that repeats a repetition can take longer than any job on one line of
/// output, holding the job's thread. Such patterns, and very long ones, are
/// refused before they run.
public enum ConsoleRegex {
    /// Longest pattern taken (a console pattern is a few words).
    public static let maxLength = 256

    /// Why `pattern` is refused, or nil.
    public static func problem(_ pattern: String) -> String? {
        if pattern.utf8.count > maxLength { return "longer than \(maxLength) bytes" }
        if let nested = nestedRepetition(in: pattern) {
            return "\(nested) repeats a repetition, which can take forever to match; write the repeated part once (e.g. [a-z0-9.]+)"
        }
        return nil
    }

    /// The first group that holds an unbounded repetition (`+`, `*`, `{n,}`)
    /// and is itself repeated without bound, as `(a+)+` or `(x*y)*`.
    static func nestedRepetition(in pattern: String) -> String? {
        let characters = Array(pattern)
        var groups: [(start: Int, repeats: Bool)] = []
        var inClass = false
        var index = 0
        func unbounded(at position: Int) -> Bool {
            guard position < characters.count else { return false }
            switch characters[position] {
            case "+", "*": return true
            case "{":
                // {n,} or {n,m}: unbounded only without an upper bound.
                guard let close = characters[position...].firstIndex(of: "}") else { return false }
                let inside = String(characters[(position + 1)..<close])
                return inside.hasSuffix(",")
            default: return false
            }
        }
        while index < characters.count {
            let character = characters[index]
            if character == "\\" {
                index += 2
                continue
            }
            if inClass {
                if character == "]" { inClass = false }
            } else if character == "[" {
                inClass = true
            } else if character == "(" {
                groups.append((index, false))
            } else if character == ")" {
                if let group = groups.popLast() {
                    if group.repeats && unbounded(at: index + 1) { return String(characters[group.start...index]) + String(characters[index + 1]) }
                    // A repetition inside counts for the enclosing group too.
                    if group.repeats, !groups.isEmpty { groups[groups.count - 1].repeats = true }
                    if unbounded(at: index + 1), !groups.isEmpty { groups[groups.count - 1].repeats = true }
                }
            } else if unbounded(at: index), !groups.isEmpty {
                groups[groups.count - 1].repeats = true
            }
            index += 1
        }
        return nil
    }
}
