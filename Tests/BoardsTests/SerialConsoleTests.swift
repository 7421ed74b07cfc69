import AgentCore
@testable import Boards
import Foundation
import ProvisionerTesting
import Testing

@Suite("SerialConsole against socat ptys", .enabled(if: Tools.isInstalled("socat"), "needs socat"))
struct SerialConsoleTests {
    @Test func fansOutToTwoSessionsAndTakesInputFromReadWriteOnly() async throws {
        let folder = try TemporaryDirectory(prefix: "console-fanout")
        let socat = try await SocatPair(consoleSide: folder.path("console"), boardSide: folder.path("board"))
        let console = try makeConsole(socat, folder: folder)
        defer { console.stop() }
        #expect(await waitUntilOpen(console))
        let board = try socat.openBoard()

        let writer = Collector()
        let watcher = Collector()
        let typing = console.attach(readOnly: false, deliver: writer.deliver)
        let watching = console.attach(readOnly: true, deliver: watcher.deliver)
        let sent = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try board.write(sent)
        #expect(await writer.wait { $0.bytes.count >= sent.count })
        #expect(await watcher.wait { $0.bytes.count >= sent.count })
        #expect(writer.received.withLock { $0.bytes } == sent)
        #expect(watcher.received.withLock { $0.bytes } == sent)

        try typing.write(Array("printenv\r".utf8))
        #expect(board.read(count: 9) == Array("printenv\r".utf8))
        #expect(throws: BoardError.self) { try watching.write([0x20]) }
        do {
            try watching.write([0x20])
        } catch {
            #expect("\(error)".contains("read-only"), "\(error)")
        }
        try typing.sendBreak()

        watching.detach()
        #expect(console.sessionCount == 1)
        try board.write(Array("after".utf8))
        #expect(await writer.waitForText("after"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(!watcher.text.contains("after"))
        typing.detach()
        #expect(console.sessionCount == 0)
        await socat.stop()
    }

    @Test func replaysTheScrollbackOnAttach() async throws {
        let folder = try TemporaryDirectory(prefix: "console-scrollback")
        let socat = try await SocatPair(consoleSide: folder.path("console"), boardSide: folder.path("board"))
        let console = try makeConsole(socat, folder: folder, scrollback: 1000)
        defer { console.stop() }
        #expect(await waitUntilOpen(console))
        let board = try socat.openBoard()
        let early = Collector()
        let session = console.attach(readOnly: true, deliver: early.deliver)
        let history = (0..<1500).map { _ in UInt8.random(in: 0x20...0x7e) }
        try board.write(history)
        #expect(await early.wait { $0.bytes.count >= history.count })

        let late = Collector()
        let lateSession = console.attach(readOnly: true, deliver: late.deliver)
        #expect(await late.wait { !$0.chunks.isEmpty })
        // The first chunk is the replay: the last 1000 bytes (the buffer's size).
        #expect(late.received.withLock { $0.chunks.first } == .output(Array(history.suffix(1000))))
        try board.write(Array("new".utf8))
        #expect(await late.waitForText("new"))
        #expect(late.received.withLock { $0.bytes } == Array(history.suffix(1000)) + Array("new".utf8))
        session.detach()
        lateSession.detach()
        await socat.stop()
    }

    @Test func logsTimestampedLinesAndReadsThemBack() async throws {
        let folder = try TemporaryDirectory(prefix: "console-log")
        let socat = try await SocatPair(consoleSide: folder.path("console"), boardSide: folder.path("board"))
        let console = try makeConsole(socat, folder: folder)
        defer { console.stop() }
        #expect(await waitUntilOpen(console))
        let board = try socat.openBoard()
        let started = Date().timeIntervalSince1970
        let collector = Collector()
        let session = console.attach(readOnly: true, deliver: collector.deliver)
        try board.write(Array("U-Boot 2023.01\r\nHit any key to stop autoboot:  2 \r\n=> part".utf8))
        #expect(await collector.waitForText("=> part"))
        try await Task.sleep(for: .milliseconds(100))

        let lines = try console.logLines(since: nil)
        #expect(lines.count == 3, "\(lines)")
        let pattern = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (.*)$/#
        #expect(lines.compactMap { try? pattern.wholeMatch(in: $0).map { String($0.1) } }
            == ["U-Boot 2023.01", "Hit any key to stop autoboot:  2 ", "=> part"])
        let stamp = try #require(lines.first.flatMap { ConsoleLog.parseTimestamp(Substring($0).utf8) })
        #expect(abs(stamp - started) < 5, "\(stamp) vs \(started)")
        #expect(try console.logLines(since: started + 3600).isEmpty)
        #expect(try console.logLines(since: started - 60).count == 3)
        session.detach()
        await socat.stop()
    }

    @Test func burstOf50MBReachesTheLogAndTwoReadersByteForByte() async throws {
        let folder = try TemporaryDirectory(prefix: "console-burst")
        let socat = try await SocatPair(consoleSide: folder.path("console"), boardSide: folder.path("board"))
        // Rotated on the way: the log's files together must still hold every byte.
        let console = try makeConsole(socat, folder: folder, logMaxSize: 8 << 20, logKeep: 20)
        defer { console.stop() }
        #expect(await waitUntilOpen(console))
        let board = try socat.openBoard()
        let size = 50_000_000
        let data = [UInt8](try RandomBytes.make(count: size))
        let first = Collector(keepChunks: false, reserve: size)
        let second = Collector(keepChunks: false, reserve: size)
        let sessions = [console.attach(readOnly: true, deliver: first.deliver),
                        console.attach(readOnly: true, deliver: second.deliver)]
        let started = Date()
        try await DedicatedThread.run(named: "board-writer") {
            var offset = 0
            while offset < data.count {
                let end = min(offset + (1 << 16), data.count)
                try board.write(Array(data[offset..<end]), timeout: 60)
                offset = end
            }
        }
        #expect(await first.wait(timeout: .seconds(120)) { $0.bytes.count >= size })
        #expect(await second.wait(timeout: .seconds(60)) { $0.bytes.count >= size })
        let seconds = Date().timeIntervalSince(started)
        print("50 MB through the pty to two readers in \(seconds) s")
        for collector in [first, second] {
            let received = collector.received.withLock { $0 }
            #expect(received.dropped == 0)
            #expect(ByteComparison.difference(expected: Data(data), actual: Data(received.bytes), name: "a reader") == nil)
        }
        try await Task.sleep(for: .milliseconds(200))
        let logged = try outputInLog(console.logPath, keep: 20)
        #expect(ByteComparison.difference(expected: Data(data), actual: Data(logged), name: "the log") == nil)
        #expect(FileManager.default.fileExists(atPath: console.logPath + ".1"), "the log was rotated")
        for session in sessions { session.detach() }
        await socat.stop()
    }

    @Test func slowSessionDropsItsBacklogWhileOthersAndTheLogLoseNothing() async throws {
        let folder = try TemporaryDirectory(prefix: "console-slow")
        let socat = try await SocatPair(consoleSide: folder.path("console"), boardSide: folder.path("board"))
        // The default backlog (4 MiB): the fast session keeps up even on a
        // loaded machine; the slow one, asleep in every delivery, cannot.
        let console = try makeConsole(socat, folder: folder, sessionBacklog: 4 << 20)
        defer { console.stop() }
        #expect(await waitUntilOpen(console))
        let board = try socat.openBoard()
        let slow = Collector(delay: 0.2)
        let fast = Collector()
        let sessions = [console.attach(readOnly: true, deliver: slow.deliver),
                        console.attach(readOnly: true, deliver: fast.deliver)]
        let data = [UInt8](try RandomBytes.make(count: 16 << 20))
        try await DedicatedThread.run { try board.write(data, timeout: 30) }
        #expect(await fast.wait(timeout: .seconds(60)) { $0.bytes.count >= data.count })
        #expect(ByteComparison.difference(expected: Data(data), actual: Data(fast.received.withLock { $0.bytes }), name: "the fast session") == nil)
        #expect(fast.received.withLock { $0.dropped } == 0)
        // Every byte is either delivered or counted as dropped, in order.
        #expect(await slow.wait(timeout: .seconds(60)) { $0.bytes.count + $0.dropped == data.count })
        let slowReceived = slow.received.withLock { $0 }
        #expect(slowReceived.dropped > 0)
        #expect(slowReceived.chunks.contains { if case .dropped = $0 { true } else { false } })
        try await Task.sleep(for: .milliseconds(200))
        #expect(ByteComparison.difference(expected: Data(data), actual: Data(try outputInLog(console.logPath, keep: 5)), name: "the log") == nil)
        for session in sessions { session.detach() }
        await socat.stop()
    }

    @Test func deviceGoneAndBackKeepsSessionsAttached() async throws {
        let folder = try TemporaryDirectory(prefix: "console-reconnect")
        let consoleSide = folder.path("console")
        let boardSide = folder.path("board")
        var socat = try await SocatPair(consoleSide: consoleSide, boardSide: boardSide)
        let console = try makeConsole(socat, folder: folder)
        defer { console.stop() }
        #expect(await waitUntilOpen(console))
        let first = Collector()
        let second = Collector()
        let sessions = [console.attach(readOnly: false, deliver: first.deliver),
                        console.attach(readOnly: true, deliver: second.deliver)]
        try socat.openBoard().write(Array("before\r\n".utf8))
        #expect(await first.waitForText("before"))

        await socat.stop()
        #expect(await first.waitForNotice(containing: "is gone"), "\(first.notices)")
        #expect(await second.waitForNotice(containing: "is gone"), "\(second.notices)")
        #expect(throws: BoardError.self) { try sessions[0].write([0x20]) }

        socat = try await SocatPair(consoleSide: consoleSide, boardSide: boardSide)
        #expect(await first.waitForNotice(containing: "is back"), "\(first.notices)")
        #expect(await second.waitForNotice(containing: "is back"), "\(second.notices)")
        #expect(console.sessionCount == 2)
        let board = try socat.openBoard()
        try board.write(Array("after\r\n".utf8))
        #expect(await first.waitForText("after"))
        #expect(await second.waitForText("after"))
        try sessions[0].write(Array("typed".utf8))
        #expect(board.read(count: 5) == Array("typed".utf8))
        let logged = try console.logLines(since: nil).joined(separator: "\n")
        #expect(logged.contains("-- provisioner: serial device \(consoleSide) is gone"), "\(logged)")
        #expect(logged.contains("is back"))
        for session in sessions { session.detach() }
        await socat.stop()
    }
}
