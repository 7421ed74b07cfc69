import Foundation

/// A value of an event's own fields: text, a whole number or a flag.
public enum EventValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)

    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let flag = try? value.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? value.decode(Int64.self) {
            self = .int(number)
        } else {
            self = .string(try value.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .string(let text): try value.encode(text)
        case .int(let number): try value.encode(number)
        case .bool(let flag): try value.encode(flag)
        }
    }

    public var description: String {
        switch self {
        case .string(let text): text
        case .int(let number): "\(number)"
        case .bool(let flag): flag ? "yes" : "no"
        }
    }
}

/// One event as `events --json` prints it (docs/json.md, DESIGN.md
/// "Events"): `id` (increasing; `--since ID` resumes after it), `time`
/// (UTC, milliseconds), `type`, `board` and `user` (null where none),
/// `agent` (whose board), and the type's own fields beside them.
public struct LabEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var time: String
    public var type: String
    public var board: String?
    public var user: String?
    public var agent: String?
    public var fields: [String: EventValue]

    public init(id: Int64, time: String, type: String, board: String?, user: String?, agent: String?, fields: [String: EventValue]) {
        self.id = id
        self.time = time
        self.type = type
        self.board = board
        self.user = user
        self.agent = agent
        self.fields = fields
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The keys every event has; a field of the same name is not written.
    static let reserved: Set<String> = ["v", "id", "time", "type", "board", "user", "agent"]

    public init(from decoder: any Decoder) throws {
        let row = try decoder.container(keyedBy: Key.self)
        if let version = try row.decodeIfPresent(Int.self, forKey: Key("v")), version > Wire.version {
            throw WireError.newer(version)
        }
        id = try row.decode(Int64.self, forKey: Key("id"))
        time = try row.decode(String.self, forKey: Key("time"))
        type = try row.decode(String.self, forKey: Key("type"))
        board = try row.decodeIfPresent(String.self, forKey: Key("board"))
        user = try row.decodeIfPresent(String.self, forKey: Key("user"))
        agent = try row.decodeIfPresent(String.self, forKey: Key("agent"))
        var fields: [String: EventValue] = [:]
        for key in row.allKeys where !Self.reserved.contains(key.stringValue) {
            if let value = try? row.decode(EventValue.self, forKey: key) { fields[key.stringValue] = value }
        }
        self.fields = fields
    }

    public func encode(to encoder: any Encoder) throws {
        var row = encoder.container(keyedBy: Key.self)
        try row.encode(Wire.version, forKey: Key("v"))
        try row.encode(id, forKey: Key("id"))
        try row.encode(time, forKey: Key("time"))
        try row.encode(type, forKey: Key("type"))
        try row.encode(board, forKey: Key("board"))
        try row.encode(user, forKey: Key("user"))
        try row.encode(agent, forKey: Key("agent"))
        for (key, value) in fields where !Self.reserved.contains(key) { try row.encode(value, forKey: Key(key)) }
    }

    /// One line for a person: time, id, type, board and user (`-` for
    /// none), then the fields.
    public var text: String {
        var line = "\(time)  #\(id)  \(type)  \(board ?? "-")  \(user ?? "-")"
        for key in fields.keys.sorted() { line += "  \(key)=\(fields[key]!)" }
        return line
    }
}
