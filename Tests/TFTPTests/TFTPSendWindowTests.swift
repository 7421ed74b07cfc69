import Testing
import TFTP

extension TFTPSendWindow {
    /// Sends what is pending, as the transfer does, and returns those blocks.
    fileprivate mutating func sendPending() -> Range<UInt64> {
        let blocks = pending
        if !blocks.isEmpty { sent(through: blocks.upperBound - 1) }
        return blocks
    }

    /// Moves the window to start at `block` with nothing sent, by whole windows.
    fileprivate mutating func advance(to block: UInt64) {
        while base < block {
            let blocks = sendPending()
            let last = min(blocks.upperBound - 1, block - 1)
            _ = acknowledge(TFTPSendWindow.wireNumber(last))
        }
    }
}

/// A receiver as RFC 1350 and 7440 describe it: it only knows 16-bit block
/// numbers, keeps the blocks that arrive in order, drops the rest, and
/// acknowledges the last block it holds.
private struct Receiver {
    var expected: UInt16 = 1
    var received: UInt64 = 0

    mutating func receive(_ wire: UInt16) {
        guard wire == expected else { return }
        received += 1
        expected &+= 1
    }

    var acknowledgement: UInt16 { expected &- 1 }
}

/// Runs a whole transfer of `blocks` blocks through the window, losing each
/// block in `lost` the first time it is sent; returns the blocks sent.
private func simulate(blocks: UInt64, windowSize: Int, lost: Set<UInt64> = []) -> (sent: UInt64, receiver: Receiver) {
    var window = TFTPSendWindow(windowSize: windowSize)
    window.reachedEnd(at: blocks)
    var receiver = Receiver()
    var dropped: Set<UInt64> = []
    var sent: UInt64 = 0
    while sent <= 4 * blocks {
        for block in window.sendPending() {
            sent += 1
            if lost.contains(block), dropped.insert(block).inserted { continue }
            receiver.receive(TFTPSendWindow.wireNumber(block))
        }
        switch window.acknowledge(receiver.acknowledgement) {
        case .completed:
            return (sent, receiver)
        case .advanced:
            continue
        case .ignored:
            window.timedOut()  // nothing new arrived: the timer resends the window
        }
    }
    Issue.record("the transfer does not end: \(sent) blocks sent for \(blocks)")
    return (sent, receiver)
}

@Suite("TFTPSendWindow")
struct TFTPSendWindowTests {
    @Test func windowOfOneSendsOneBlockAtATime() {
        var window = TFTPSendWindow(windowSize: 1)
        #expect(window.pending == 1..<2)
        window.sent(through: 1)
        #expect(window.pending.isEmpty)
        #expect(window.acknowledge(1) == .advanced(by: 1))
        #expect(window.base == 2)
        #expect(window.pending == 2..<3)
    }

    @Test func windowOfSixteenSendsSixteenBlocks() {
        var window = TFTPSendWindow(windowSize: 16)
        #expect(window.pending == 1..<17)
        window.sent(through: 16)
        #expect(window.pending.isEmpty)
        #expect(window.next == 17)
    }

    @Test func acknowledgementAtTheWindowEndAdvancesByAWindow() {
        var window = TFTPSendWindow(windowSize: 16)
        _ = window.sendPending()
        #expect(window.acknowledge(16) == .advanced(by: 16))
        #expect(window.base == 17)
        #expect(window.pending == 17..<33)
    }

    @Test func duplicateAcknowledgementIsIgnoredAndSendsNothing() {
        // The Sorcerer's Apprentice bug: answering the duplicate ACK of the
        // previous window would send every following block twice.
        var window = TFTPSendWindow(windowSize: 16)
        _ = window.sendPending()
        #expect(window.acknowledge(16) == .advanced(by: 16))
        #expect(window.sendPending() == 17..<33)
        #expect(window.acknowledge(16) == .ignored)
        #expect(window.pending.isEmpty)
        #expect(window.base == 17)
        #expect(window.next == 33)
    }

    @Test func duplicateAcknowledgementInLockstepIsIgnored() {
        var window = TFTPSendWindow(windowSize: 1)
        _ = window.sendPending()
        #expect(window.acknowledge(1) == .advanced(by: 1))
        #expect(window.sendPending() == 2..<3)
        #expect(window.acknowledge(1) == .ignored)
        #expect(window.pending.isEmpty)
    }

    @Test func acknowledgementInsideTheWindowSlidesAndResendsTheRest() {
        var window = TFTPSendWindow(windowSize: 16)
        _ = window.sendPending()
        #expect(window.acknowledge(5) == .advanced(by: 5))
        #expect(window.base == 6)
        #expect(window.pending == 6..<22)
    }

    @Test func timeoutMakesTheWholeWindowPending() {
        var window = TFTPSendWindow(windowSize: 16)
        _ = window.sendPending()
        #expect(window.acknowledge(4) == .advanced(by: 4))
        _ = window.sendPending()
        #expect(window.pending.isEmpty)
        window.timedOut()
        #expect(window.pending == 5..<21)
    }

    @Test func theFinalBlockCompletesTheTransfer() {
        var window = TFTPSendWindow(windowSize: 16)
        window.reachedEnd(at: 3)
        #expect(window.sendPending() == 1..<4)
        #expect(window.acknowledge(2) == .advanced(by: 2))
        #expect(window.sendPending() == 3..<4)
        #expect(window.acknowledge(3) == .completed)
    }

    @Test func anEmptyFileIsOneEmptyBlock() {
        var window = TFTPSendWindow(windowSize: 8)
        window.reachedEnd(at: 1)
        #expect(window.sendPending() == 1..<2)
        #expect(window.acknowledge(0) == .ignored)
        #expect(window.acknowledge(1) == .completed)
    }

    @Test func theWindowStopsAtTheFinalBlock() {
        var window = TFTPSendWindow(windowSize: 16)
        _ = window.sendPending()
        _ = window.acknowledge(16)
        window.reachedEnd(at: 20)
        #expect(window.pending == 17..<21)
    }

    @Test func blockNumbersWrapAfter65535() {
        #expect(TFTPSendWindow.wireNumber(1) == 1)
        #expect(TFTPSendWindow.wireNumber(65535) == 65535)
        #expect(TFTPSendWindow.wireNumber(65536) == 0)
        #expect(TFTPSendWindow.wireNumber(65537) == 1)
        #expect(TFTPSendWindow.wireNumber(131_072) == 0)
    }

    @Test func acknowledgementAcrossTheWrapMapsToTheAbsoluteBlock() {
        var window = TFTPSendWindow(windowSize: 16)
        window.advance(to: 65530)
        #expect(window.base == 65530)
        let blocks = window.sendPending()
        #expect(blocks == 65530..<65546)
        #expect(blocks.map(TFTPSendWindow.wireNumber).prefix(8) == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1])
        // Wire 3 after the wrap is block 65539.
        #expect(window.acknowledge(3) == .advanced(by: 10))
        #expect(window.base == 65540)
        #expect(window.sendPending() == 65540..<65556)
        // The duplicate from before the wrap changes nothing.
        #expect(window.acknowledge(3) == .ignored)
        #expect(window.acknowledge(19) == .advanced(by: 16))
        #expect(window.base == 65556)
    }

    @Test func acknowledgementOf65535BeforeTheWrap() {
        var window = TFTPSendWindow(windowSize: 4)
        window.advance(to: 65533)
        #expect(window.sendPending() == 65533..<65537)
        #expect(window.acknowledge(65535) == .advanced(by: 3))
        #expect(window.base == 65536)
        #expect(window.sendPending() == 65536..<65540)
        #expect(window.acknowledge(0) == .advanced(by: 1))
        #expect(window.base == 65537)
    }

    @Test func strayAcknowledgementsAreIgnored() {
        var window = TFTPSendWindow(windowSize: 16)
        #expect(window.acknowledge(1) == .ignored)  // nothing sent yet
        _ = window.sendPending()
        for stray: UInt16 in [17, 100, 40000, 65535, 0] {
            #expect(window.acknowledge(stray) == .ignored, "ACK \(stray)")
        }
        #expect(window.base == 1)
        #expect(window.pending.isEmpty)
        #expect(window.acknowledge(16) == .advanced(by: 16))
    }

    @Test(arguments: [1, 16])
    func longTransferAcrossTheWrap(windowSize: Int) {
        let (sent, receiver) = simulate(blocks: 70_000, windowSize: windowSize)
        #expect(receiver.received == 70_000)
        #expect(sent == 70_000)  // not one block twice
        #expect(receiver.acknowledgement == TFTPSendWindow.wireNumber(70_000))
    }

    @Test(arguments: [1, 16])
    func lossyTransferAcrossTheWrap(windowSize: Int) {
        let lost: Set<UInt64> = [1, 1000, 65534, 65535, 65536, 65537, 69_999, 70_000]
        let (sent, receiver) = simulate(blocks: 70_000, windowSize: windowSize, lost: lost)
        #expect(receiver.received == 70_000)
        #expect(sent > 70_000)
        // A loss costs at most the rest of its window again, never more.
        #expect(sent <= 70_000 + UInt64(lost.count * windowSize))
    }
}
