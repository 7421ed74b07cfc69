import AgentCore
import Foundation
import Jobs
import ProvisionerTesting
import Synchronization
import Testing

/// The expect engine against a fake console: what it matches, what it
/// consumes, and how a failure reads.
struct ConsoleExpectTests {
    /// Emits `chunks` from a thread of its own (the waits block theirs), a
    /// little apart, as a board would.
    func emit(_ hub: FakeConsoleHub, _ chunks: [String]) {
        Thread.detachNewThread {
            for chunk in chunks {
                usleep(20_000)
                hub.emit(Array(chunk.utf8))
            }
        }
    }

    @Test func findsAPatternSplitAcrossChunksAndKeepsWhatCameBefore() throws {
        let hub = FakeConsoleHub()
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        emit(hub, ["U-Boot 2023.01\r\nHit any ", "key to stop autoboot:  2 \r\n"])
        let match = try expect.expect([.literal("Hit any key to stop autoboot")], timeout: 5)
        #expect(match.index == 0)
        #expect(match.matched == "Hit any key to stop autoboot")
        #expect(match.before == "U-Boot 2023.01\r\n")
    }

    @Test func theEarliestOfSeveralPatternsWinsAndOutputIsConsumed() throws {
        let hub = FakeConsoleHub()
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        hub.emit(Array("one\r\n=> two\r\n=> ".utf8))
        let first = try expect.expect([.literal("two"), .literal("=> ")], timeout: 1)
        #expect(first.index == 1 && first.before == "one\r\n")
        let second = try expect.expect([.literal("=> ")], timeout: 1)
        #expect(second.before == "two\r\n")
        #expect(throws: ExpectFailure.self) { try expect.expect([.literal("=> ")], timeout: 0.2) }
    }

    @Test func aRegularExpressionMatches() throws {
        let hub = FakeConsoleHub()
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        hub.emit(Array("Bytes transferred = 987623 (f11e7 hex)\r\n".utf8))
        let match = try expect.expect([try .regex("transferred = [0-9]+")], timeout: 1)
        #expect(match.matched == "transferred = 987623")
    }

    @Test func aBadRegularExpressionIsOneLine() {
        #expect(throws: ExpectPatternError.self) { try ExpectPattern.regex("([unclosed") }
    }

    /// A repetition of a repetition backtracks without end on the right
    /// line, and a match cannot be stopped: refused before it runs.
    @Test(arguments: ["(a+)+b", "(x*y)*", "((ab)+c)+", "(a|b+){2,}", "(?:a+)*", String(repeating: "a", count: 257)])
    func aRegularExpressionThatCanTakeForeverIsRefused(_ pattern: String) {
        #expect(throws: ExpectPatternError.self) { try ExpectPattern.regex(pattern) }
    }

    @Test(arguments: ["Starting (kernel|Linux)", "([0-9]+\\.){3}[0-9]+", "U-Boot [0-9]+", "login: *$", "(ab)+", "[(+]+", "\\(a+\\)+",
                      "(a{2,5})+"])
    func ordinaryRegularExpressionsAreTaken(_ pattern: String) throws {
        _ = try ExpectPattern.regex(pattern)
    }

    @Test func aFailPatternEndsTheWaitAtOnceWithTheBoardsLine() throws {
        let hub = FakeConsoleHub()
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        emit(hub, ["Loading: T T T \r\n", "TFTP error: 'arm1/kernel' not found (1)\r\nNot retrying...\r\n=> "])
        let started = ContinuousClock.now
        do {
            _ = try expect.expect([.literal("Bytes transferred = ")], fail: [.literal("TFTP error")], timeout: 30)
            Issue.record("a fail pattern must end the wait")
        } catch {
            #expect(error.reason == "the board said 'TFTP error: 'arm1/kernel' not found (1)'")
            #expect(error.recentLines.contains("Loading: T T T "))
        }
        #expect(ContinuousClock.now - started < .seconds(10), "not waited out")
    }

    @Test func aFailingLineThatArrivesInPiecesIsQuotedWhole() throws {
        let hub = FakeConsoleHub()
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        hub.emit(Array("   Verifying Hash Integrity ... sha256 error!\r\nBad hash value for '".utf8))
        let rest = Thread {
            usleep(300_000)
            hub.emit(Array("hash-1' hash node in 'ramdisk-1' image node\r\n=> ".utf8))
        }
        rest.start()
        do {
            _ = try expect.expect([.literal("Starting kernel")], fail: [.literal("Bad hash value for")], timeout: 30)
            Issue.record("a fail pattern must end the wait")
        } catch {
            #expect(error.reason == "the board said 'Bad hash value for 'hash-1' hash node in 'ramdisk-1' image node'")
        }
        // A line that never ends is quoted as far as it came, after a second.
        hub.emit(Array("TFTP error: 'x".utf8))
        let started = ContinuousClock.now
        do {
            _ = try expect.expect([.literal("Bytes transferred")], fail: [.literal("TFTP error")], timeout: 30)
            Issue.record("a fail pattern must end the wait")
        } catch {
            #expect(error.reason == "the board said 'TFTP error: 'x'")
        }
        #expect(ContinuousClock.now - started < .seconds(10), "not waited out")
    }

    @Test func aTimeoutSaysWhatWasExpectedWithTheLastLines() throws {
        let hub = FakeConsoleHub()
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        hub.emit(Array("U-Boot 2023.01\r\nDRAM:  512 MiB\r\nboard# ".utf8))
        do {
            _ = try expect.expect([.literal("=> ")], timeout: 0.3)
            Issue.record("no prompt came")
        } catch {
            #expect(error.reason == "'=> ' did not come within 0.3s")
            #expect(error.recentLines == ["U-Boot 2023.01", "DRAM:  512 MiB"])
            #expect(!error.cancelled)
        }
    }

    @Test func cancellingEndsTheWait() throws {
        let hub = FakeConsoleHub()
        let cancelled = Atomic(false)
        let expect = ConsoleExpect(console: hub, isCancelled: { cancelled.load(ordering: .relaxed) })
        Thread.detachNewThread {
            usleep(200_000)
            cancelled.store(true, ordering: .relaxed)
        }
        do {
            _ = try expect.expect([.literal("never")], timeout: 60)
            Issue.record("cancelled waits end")
        } catch {
            #expect(error.cancelled)
        }
    }

    @Test func sendTypesOnTheLineAndOldOutputIsNotReplayed() throws {
        let hub = FakeConsoleHub(scrollback: Array("=> old prompt\r\n".utf8))
        let expect = ConsoleExpect(console: hub, isCancelled: { false })
        #expect(throws: ExpectFailure.self) { try expect.expect([.literal("old prompt")], timeout: 0.2) }
        try expect.sendLine("printenv bootcmd")
        #expect(hub.typed == Array("printenv bootcmd\r".utf8))
        expect.detach()
        #expect(hub.attachedSessions == 0)
    }
}
