import Foundation
import Yams

/// A node of a parsed config file that knows where it stands (file, line,
/// and its path such as `boards[0].serial.baud`), so that every error it
/// throws names the place to fix.
public struct ConfigValue {
    public let node: Node
    public let file: String
    public let path: String

    public var line: Int { node.mark?.line ?? 1 }

    /// Parses YAML text. Syntax errors and duplicate keys come back located.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> ConfigValue {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: 1, "the file is empty")
            }
            return ConfigValue(node: node, file: file, path: "")
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw locate(error, file: file, text: text)
        } catch {
            throw ConfigError(file: file, line: 1, "\(error)")
        }
    }

    /// Reads and parses a file; an unreadable file is `FILE:0: …`.
    public static func load(file: String) throws(ConfigError) -> ConfigValue {
        guard let data = FileManager.default.contents(atPath: file) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory)
            let reason = !exists ? "no such file" : isDirectory.boolValue ? "it is a directory" : "permission denied"
            throw ConfigError(file: file, line: 0, "cannot read the config: \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, line: 0, "the config is not UTF-8 text")
        }
        return try parse(text, file: file)
    }

    private static func locate(_ error: YamlError, file: String, text: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, "YAML syntax: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? "?"
            let line = context.mark.line
            return ConfigError(file: file, line: line, "duplicate key '\(key)'")
        case .reader(let problem, _, _, _):
            return ConfigError(file: file, line: 1, "YAML: \(problem)")
        default:
            return ConfigError(file: file, line: 1, "YAML: \(error)")
        }
    }

    /// An error at this node.
    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, path.isEmpty ? message : "\(path): \(message)")
    }

    private var kind: String {
        switch node {
        case .scalar(let scalar):
            if scalar.tag == .implicit && scalar.string.isEmpty { return "nothing" }
            // A quoted "80" or "true" is a string in YAML: say so, or the error reads "expected a number, got '80'".
            return scalar.style == .plain ? "'\(scalar.string)'" : "\"\(scalar.string)\" (quoted, so a string)"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public func mapping() throws(ConfigError) -> ConfigMapping {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping of keys, got \(kind)") }
        return ConfigMapping(mapping, file: file, path: path)
    }

    public func list() throws(ConfigError) -> [ConfigValue] {
        guard case .sequence(let sequence) = node else { throw error("expected a list, got \(kind)") }
        return sequence.enumerated().map { ConfigValue(node: $1, file: file, path: "\(path)[\($0)]") }
    }

    public func string() throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node, !(scalar.style == .plain && ["~", "null", ""].contains(scalar.string))
        else { throw error("expected a string, got \(kind)") }
        return scalar.string
    }

    /// A non-empty string.
    public func word() throws(ConfigError) -> String {
        let text = try string()
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw error("must not be empty") }
        return text
    }

    public func int(in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Int(scalar.string) else {
            throw error("expected a whole number, got \(kind)")
        }
        guard range.contains(value) else { throw error("\(value) is out of range (\(range.lowerBound)–\(range.upperBound))") }
        return value
    }

    public func bool() throws(ConfigError) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { throw error("expected true or false, got \(kind)") }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, got \(kind)")
        }
    }

    /// A duration such as `500ms`, `30s`, `5m`, `2h` or `1d`, in seconds.
    public func duration() throws(ConfigError) -> Double {
        let text = try word()
        guard let seconds = parseDuration(text) else {
            throw error("'\(text)' is not a duration (use e.g. 500ms, 30s, 5m, 2h)")
        }
        return seconds
    }

    /// A size such as `500M` or `10G` (powers of 1024); nil for `none`.
    public func byteCount() throws(ConfigError) -> UInt64? {
        let text = try word()
        guard let bytes = parseByteCount(text) else {
            throw error("'\(text)' is not a size (use e.g. 500M, 10G, or none)")
        }
        return bytes == .max ? nil : bytes
    }

    /// A file path; a relative one is taken from the config file's folder.
    public func filePath() throws(ConfigError) -> String {
        let text = try word()
        if text.hasPrefix("/") { return text }
        let folder = (file as NSString).deletingLastPathComponent
        let base = folder.isEmpty ? FileManager.default.currentDirectoryPath : folder
        let absoluteBase = base.hasPrefix("/") ? base : FileManager.default.currentDirectoryPath + "/" + base
        // Lexically: a symbolic link is kept as it is named (Foundation's
        // standardizingPath follows it, and a virtual board's serial link,
        // left from an earlier run, became the pty it pointed at).
        var parts: [Substring] = []
        for part in (absoluteBase + "/" + text).split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// One of the listed words.
    public func choice(_ allowed: [String]) throws(ConfigError) -> String {
        let text = try string()
        guard allowed.contains(text) else {
            throw error("'\(text)' is not one of: \(allowed.joined(separator: ", "))")
        }
        return text
    }

    /// A list of strings; a single string counts as a list of one.
    public func strings() throws(ConfigError) -> [String] {
        if case .scalar = node { return [try string()] }
        var result: [String] = []
        for item in try list() { result.append(try item.string()) }
        return result
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `1d` (a bare number is seconds).
public func parseDuration(_ text: String) -> Double? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        if let value = Double(number), value >= 0, (value * scale).isFinite, !number.hasPrefix("+") { return value * scale }
    }
    if let value = Double(text), value >= 0, value.isFinite { return value }
    return nil
}

/// `1024`, `500K`, `500M`, `10G`, `1T` (powers of 1024), or `none` (UInt64.max).
public func parseByteCount(_ text: String) -> UInt64? {
    let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
    if trimmed == "NONE" { return .max }
    let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    var digits = trimmed.hasSuffix("B") || trimmed.hasSuffix("IB") ? String(trimmed.dropLast(trimmed.hasSuffix("IB") ? 2 : 1)) : trimmed
    var factor: UInt64 = 1
    if let last = digits.last, let unit = units[last] {
        factor = unit
        digits.removeLast()
    }
    guard let value = UInt64(digits) else { return nil }
    let (product, overflow) = value.multipliedReportingOverflow(by: factor)
    return overflow ? nil : product
}

/// A mapping whose keys are read one by one; `finish()` then refuses every
/// key nobody asked for, so a typo is an error and not silently ignored.
public final class ConfigMapping {
    private let pairs: [(key: String, keyNode: Node, value: Node)]
    public let file: String
    public let path: String
    private let mark: Int
    private var consumed: Set<String> = []

    init(_ mapping: Node.Mapping, file: String, path: String) {
        pairs = mapping.map { (key: $0.key.string ?? "\($0.key)", keyNode: $0.key, value: $0.value) }
        self.file = file
        self.path = path
        mark = mapping.mark?.line ?? 1
    }

    private func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: mark, path.isEmpty ? message : "\(path): \(message)")
    }

    public func optional(_ key: String) -> ConfigValue? {
        consumed.insert(key)
        guard let pair = pairs.first(where: { $0.key == key }) else { return nil }
        if case .scalar(let scalar) = pair.value, scalar.style == .plain, ["~", "null", ""].contains(scalar.string) {
            return nil  // `key:` with no value is the same as leaving it out
        }
        return ConfigValue(node: pair.value, file: file, path: child(key))
    }

    public func required(_ key: String) throws(ConfigError) -> ConfigValue {
        guard let value = optional(key) else { throw error("missing required key '\(key)'") }
        return value
    }

    /// Refuses the keys that were never read, at the line of the first.
    public func finish() throws(ConfigError) {
        for pair in pairs where !consumed.contains(pair.key) {
            let expected = consumed.sorted().joined(separator: ", ")
            let place = path.isEmpty ? "" : " in \(path)"
            throw ConfigError(file: file, line: pair.keyNode.mark?.line ?? mark,
                              "unknown key '\(pair.key)'\(place) (known: \(expected))")
        }
    }
}
