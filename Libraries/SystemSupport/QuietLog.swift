import Synchronization

/// At most one line a second of a kind that outsiders can make come by the
/// thousand (connections held back, refused TFTP requests), so that a flood
/// cannot fill the journal: the lines left out are counted in the next.
public final class QuietLog: Sendable {
    private let state = Mutex<(last: Double, suppressed: Int)>((-Double.infinity, 0))
    private let interval: Double

    public init(interval: Double = 1) { self.interval = interval }

    /// `message` to log now, saying how many were left out since the last
    /// one; nil when this one is left out.
    public func admit(_ message: String, now: Double = monotonicSeconds()) -> String? {
        let suppressed = state.withLock { state -> Int? in
            guard now - state.last >= interval else {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return nil }
        return suppressed > 0 ? message + " (and \(suppressed) more like it)" : message
    }
}
