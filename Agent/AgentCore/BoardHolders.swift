import Synchronization

/// Who holds each board and until when, as the coordinator last said
/// (DESIGN.md, "Holders and TFTP"): the agent keeps no reservations of its
/// own. A holding past its end counts as none. Standing alone (nobody ever
/// told it), every board is free to every key the agent accepts.
public final class BoardHolders: Sendable {
    public struct Holding: Sendable, Equatable {
        public var user: String
        /// Unix time.
        public var until: Double
        /// Users who may use the board too in this slot (the coordinator's
        /// guests: accepted attendees of a calendar event). TFTP still
        /// serves the holder's space.
        public var guests: [String]

        /// `until` in whole seconds, bounded (never a trap on conversion).
        public var untilSeconds: Int64 { until.isFinite ? Int64(max(0, min(until, 9e15))) : 0 }

        public init(user: String, until: Double, guests: [String] = []) {
            self.user = user
            self.until = until
            self.guests = guests
        }
    }

    private let holdings = Mutex<[String: Holding]>([:])
    private let clock: @Sendable () -> Double

    public init(clock: @escaping @Sendable () -> Double) {
        self.clock = clock
    }

    public func set(_ board: String, to holding: Holding?) {
        holdings.withLock { $0[board] = holding }
    }

    /// The current holder of `board`, if any.
    public func holding(of board: String) -> Holding? {
        let now = clock()
        return holdings.withLock { $0[board] }.flatMap { $0.until > now ? $0 : nil }
    }

    /// Whether `user` may change `board` (type, power, boot, flash): yes
    /// when nobody holds it here, or when `user` does or is a guest.
    public func allows(_ user: String, on board: String) -> Bool {
        guard let holding = holding(of: board) else { return true }
        return holding.user == user || holding.guests.contains(user)
    }
}
