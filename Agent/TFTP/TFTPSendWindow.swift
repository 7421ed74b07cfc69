/// The sender's side of a transfer as a state machine over absolute block
/// numbers (1, 2, … past 65535), independent of sockets and files.
///
/// The sender transmits a window of up to `windowSize` blocks, then waits.
/// An acknowledgement of block n means the client holds every block up to n:
/// the window slides to n + 1 and the next window starts there (RFC 7440: an
/// acknowledgement inside the window reports a gap, so the rest is sent
/// again). An acknowledgement of the block before the window is a duplicate
/// and changes nothing: answering duplicates would be the Sorcerer's
/// Apprentice bug, where every block ends up sent twice. Only a timeout
/// sends a window again.
public struct TFTPSendWindow: Sendable {
    public enum Event: Equatable, Sendable {
        /// The window slid by this many blocks.
        case advanced(by: Int)
        /// The acknowledgement of the final block arrived: the transfer is done.
        case completed
        /// A duplicate, or a block number outside the window: ignored.
        case ignored
    }

    public let windowSize: Int
    /// The first block the client has not acknowledged.
    public private(set) var base: UInt64 = 1
    /// The next block to send (between `base` and `base + windowSize`).
    public private(set) var next: UInt64 = 1
    /// The number of the final block (shorter than the block size, maybe
    /// empty), once the source has reached its end.
    public private(set) var finalBlock: UInt64?

    public init(windowSize: Int) {
        precondition(windowSize >= 1)
        self.windowSize = windowSize
    }

    /// The blocks to transmit now: from `next` to the end of the window, or
    /// to the final block. Empty while the whole window awaits its answer.
    public var pending: Range<UInt64> {
        var end = base + UInt64(windowSize)
        if let finalBlock { end = min(end, finalBlock + 1) }
        return next..<max(next, end)
    }

    /// Records that the blocks in `pending` went out.
    public mutating func sent(through block: UInt64) {
        next = max(next, block + 1)
    }

    /// Records where the data ends: `block` is the last one.
    public mutating func reachedEnd(at block: UInt64) {
        finalBlock = block
    }

    /// The retransmission timer fired: send the whole window again.
    public mutating func timedOut() {
        next = base
    }

    /// An ACK with the 16-bit block number `wire` arrived.
    public mutating func acknowledge(_ wire: UInt16) -> Event {
        // The one absolute block in [base, next - 1] whose low 16 bits match.
        guard next > base else { return .ignored }
        let highest = next - 1
        let distance = UInt64(UInt16(truncatingIfNeeded: highest) &- wire)
        guard distance <= highest - base else { return .ignored }  // duplicate or stray
        let block = highest - distance
        let slide = Int(block + 1 - base)
        base = block + 1
        if let finalBlock, block == finalBlock { return .completed }
        next = base  // an ACK before the window's end reports a gap: resend from there
        return .advanced(by: slide)
    }

    /// The 16-bit number of an absolute block: 65535 is followed by 0, as
    /// tftp-hpa, atftp, curl and U-Boot expect.
    public static func wireNumber(_ block: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: block) }
}
