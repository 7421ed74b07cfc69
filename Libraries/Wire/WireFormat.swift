import Foundation

/// The JSON the agent and the coordinator exchange, and that scripts read
/// from `--json` (docs/json.md): `Codable` types with a version, `"v"`.
///
/// The compatibility rule: fields are only added, never removed, renamed
/// or given another meaning, so adding one keeps the version. A reader
/// reads its own version and the one before it (an agent one version
/// older still works); an object without `"v"` is from before the number
/// was written and is read as version 1. A reader refuses a newer version
/// with one line: its fields may mean something else.
public enum Wire {
    /// The version this build writes.
    public static let version = 1
    /// The oldest version this build reads.
    public static let oldestReadable = 1

    /// `value` as one line of JSON, keys sorted (no newline).
    public static func line<Value: Encodable>(_ value: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Our types hold strings, bools and bounded integers: encoding cannot fail.
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads `bytes` as a `Value`, or a one-line reason.
    public static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws(WireError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as WireError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            throw .malformed(context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription)
        } catch let DecodingError.keyNotFound(key, context) {
            throw .malformed("\(Self.path(context.codingPath + [key])) is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw .malformed("\(Self.path(context.codingPath)): \(context.debugDescription)")
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// Checks the `"v"` of an object being read (absent: 1).
    public static func checkVersion(_ version: Int?) throws(WireError) {
        let version = version ?? 1
        guard version >= oldestReadable else { throw .unsupported(version) }
        guard version <= Self.version else { throw .newer(version) }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the value" : keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
    }
}

/// Why JSON from a peer was not read.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    /// Written by a newer peer, whose fields may mean something else.
    case newer(Int)
    /// Written by a peer too old to be read.
    case unsupported(Int)

    public var description: String {
        switch self {
        case .malformed(let why): "not the expected JSON: \(why)"
        case .newer(let version): "written in wire version \(version), this program reads up to \(Wire.version): upgrade it"
        case .unsupported(let version): "written in wire version \(version), this program reads \(Wire.oldestReadable) to \(Wire.version)"
        }
    }
}

extension KeyedDecodingContainer {
    /// The version of the object this container reads, checked.
    func wireVersion(_ key: Key) throws -> Int {
        let version = try decodeIfPresent(Int.self, forKey: key)
        try Wire.checkVersion(version)
        return version ?? 1
    }
}
