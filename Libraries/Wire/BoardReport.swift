/// One board as `boards --json` shows it: each row an agent reports to
/// its coordinator every health check, and each row of the coordinator's
/// own `boards --json` (docs/json.md).
public struct BoardReport: Codable, Sendable, Equatable {
    public var name: String
    public var agent: String
    /// The power switch answered.
    public var online: Bool
    /// `on`, `off` or `unknown`.
    public var power: String
    /// `off`, `u-boot`, `linux`, `flashing`, `netboot` or `unknown`.
    public var state: String
    /// Who holds the board (nil: nobody).
    public var holder: String?
    /// ISO time the holding ends (nil with `holder`).
    public var until: String?
    /// Who may use the board beside the holder.
    public var guests: [String]
    /// Why nobody may change the board now (a stale calendar, a holder who
    /// is no user, an agent waiting for its coordinator's first `hold`);
    /// nil when it is free or held. Added in version 1; older agents lack it.
    public var locked: String?
    /// The board's tags (agent.yaml `tags`), for `reserve --tag` and
    /// `boards --tag`. Added in version 1; older agents lack it.
    public var tags: [String]

    public init(name: String, agent: String, online: Bool, power: String, state: String,
                holder: String? = nil, until: String? = nil, guests: [String] = [], locked: String? = nil, tags: [String] = []) {
        self.name = name
        self.agent = agent
        self.online = online
        self.power = power
        self.state = state
        self.holder = holder
        self.until = until
        self.guests = guests
        self.locked = locked
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case version = "v", name, agent, online, power, state, holder, until, guests, locked, tags
    }

    /// Reads what an agent of this version or the one before wrote: only
    /// `name` is needed; what is missing takes its default.
    public init(from decoder: any Decoder) throws {
        let row = try decoder.container(keyedBy: CodingKeys.self)
        _ = try row.wireVersion(.version)
        name = try row.decode(String.self, forKey: .name)
        agent = try row.decodeIfPresent(String.self, forKey: .agent) ?? ""
        online = try row.decodeIfPresent(Bool.self, forKey: .online) ?? false
        power = try row.decodeIfPresent(String.self, forKey: .power) ?? "unknown"
        state = try row.decodeIfPresent(String.self, forKey: .state) ?? "unknown"
        holder = try row.decodeIfPresent(String.self, forKey: .holder)
        until = try row.decodeIfPresent(String.self, forKey: .until)
        guests = try row.decodeIfPresent([String].self, forKey: .guests) ?? []
        locked = try row.decodeIfPresent(String.self, forKey: .locked)
        tags = try row.decodeIfPresent([String].self, forKey: .tags) ?? []
    }

    /// Every key, `null` where there is no value (scripts read them by key).
    public func encode(to encoder: any Encoder) throws {
        var row = encoder.container(keyedBy: CodingKeys.self)
        try row.encode(Wire.version, forKey: .version)
        try row.encode(name, forKey: .name)
        try row.encode(agent, forKey: .agent)
        try row.encode(online, forKey: .online)
        try row.encode(power, forKey: .power)
        try row.encode(state, forKey: .state)
        try row.encode(holder, forKey: .holder)
        try row.encode(until, forKey: .until)
        try row.encode(guests, forKey: .guests)
        try row.encode(locked, forKey: .locked)
        try row.encode(tags, forKey: .tags)
    }
}
