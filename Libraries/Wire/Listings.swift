/// One reservation as `reservations --json` shows it, the coordinator's
/// and an agent's (docs/json.md).
public struct ReservationReport: Codable, Sendable, Equatable {
    public var board: String
    public var user: String
    public var guests: [String]
    /// ISO time it begins; absent where it is not known (a coordinator's
    /// agent knows only the end of what it was told).
    public var start: String?
    /// ISO time it ends (exclusive).
    public var end: String
    /// `local`, `calendar` or `coordinator`.
    public var source: String
    /// Its calendar cannot be read now: the last known state.
    public var stale: Bool
    /// Its calendar event's title, as people wrote it (text, never markup).
    public var title: String?

    public init(board: String, user: String, guests: [String], start: String?, end: String, source: String, stale: Bool,
                title: String? = nil) {
        self.title = title
        self.board = board
        self.user = user
        self.guests = guests
        self.start = start
        self.end = end
        self.source = source
        self.stale = stale
    }

    enum CodingKeys: String, CodingKey { case version = "v", board, user, guests, start, end, source, stale, title }

    public init(from decoder: any Decoder) throws {
        let row = try decoder.container(keyedBy: CodingKeys.self)
        _ = try row.wireVersion(.version)
        board = try row.decode(String.self, forKey: .board)
        user = try row.decode(String.self, forKey: .user)
        guests = try row.decodeIfPresent([String].self, forKey: .guests) ?? []
        start = try row.decodeIfPresent(String.self, forKey: .start)
        end = try row.decode(String.self, forKey: .end)
        source = try row.decodeIfPresent(String.self, forKey: .source) ?? "local"
        stale = try row.decodeIfPresent(Bool.self, forKey: .stale) ?? false
        title = try row.decodeIfPresent(String.self, forKey: .title)
    }

    public func encode(to encoder: any Encoder) throws {
        var row = encoder.container(keyedBy: CodingKeys.self)
        try row.encode(Wire.version, forKey: .version)
        try row.encode(board, forKey: .board)
        try row.encode(user, forKey: .user)
        try row.encode(guests, forKey: .guests)
        try row.encodeIfPresent(start, forKey: .start)
        try row.encode(end, forKey: .end)
        try row.encode(source, forKey: .source)
        try row.encode(stale, forKey: .stale)
        try row.encodeIfPresent(title, forKey: .title)
    }
}

/// One line of the audit log as `audit --json` shows it (docs/json.md).
public struct AuditReport: Codable, Sendable, Equatable {
    /// ISO time.
    public var time: String
    public var user: String
    public var action: String
    public var board: String?
    public var detail: String?

    public init(time: String, user: String, action: String, board: String?, detail: String?) {
        self.time = time
        self.user = user
        self.action = action
        self.board = board
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey { case version = "v", time, user, action, board, detail }

    public init(from decoder: any Decoder) throws {
        let row = try decoder.container(keyedBy: CodingKeys.self)
        _ = try row.wireVersion(.version)
        time = try row.decode(String.self, forKey: .time)
        user = try row.decode(String.self, forKey: .user)
        action = try row.decode(String.self, forKey: .action)
        board = try row.decodeIfPresent(String.self, forKey: .board)
        detail = try row.decodeIfPresent(String.self, forKey: .detail)
    }

    /// `board` and `detail` are written `null` when empty.
    public func encode(to encoder: any Encoder) throws {
        var row = encoder.container(keyedBy: CodingKeys.self)
        try row.encode(Wire.version, forKey: .version)
        try row.encode(time, forKey: .time)
        try row.encode(user, forKey: .user)
        try row.encode(action, forKey: .action)
        try row.encode(board, forKey: .board)
        try row.encode(detail, forKey: .detail)
    }
}

/// One request waiting in the queue as `queue --json` shows it (docs/json.md).
public struct QueueReport: Codable, Sendable, Equatable {
    /// 1 is served first.
    public var position: Int
    public var user: String
    /// The board must have every one.
    public var tags: [String]
    /// ISO time it joined.
    public var since: String

    public init(position: Int, user: String, tags: [String], since: String) {
        self.position = position
        self.user = user
        self.tags = tags
        self.since = since
    }

    enum CodingKeys: String, CodingKey { case version = "v", position, user, tags, since }

    public init(from decoder: any Decoder) throws {
        let row = try decoder.container(keyedBy: CodingKeys.self)
        _ = try row.wireVersion(.version)
        position = try row.decode(Int.self, forKey: .position)
        user = try row.decode(String.self, forKey: .user)
        tags = try row.decodeIfPresent([String].self, forKey: .tags) ?? []
        since = try row.decode(String.self, forKey: .since)
    }

    public func encode(to encoder: any Encoder) throws {
        var row = encoder.container(keyedBy: CodingKeys.self)
        try row.encode(Wire.version, forKey: .version)
        try row.encode(position, forKey: .position)
        try row.encode(user, forKey: .user)
        try row.encode(tags, forKey: .tags)
        try row.encode(since, forKey: .since)
    }
}
