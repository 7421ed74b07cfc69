import Foundation
import ProvisionerTesting
import Testing

/// The sender's timer and window, driven by hand: a client that goes silent,
/// one that acknowledges everything twice, one that loses a block, one that
/// reports a gap inside a window, and a stranger on the transfer's port.
/// Each scenario runs on its own thread (it must answer within the server's
/// timeout); what it saw is checked afterwards.
@Suite("TFTP: retransmission, duplicates and silence", .timeLimit(.minutes(2)))
struct TFTPRetransmissionTests {
    /// The server retransmits the unacknowledged window after each timeout
    /// (the client asked for 1 s), a bounded number of times, then gives up
    /// and says so. About 8 s.
    @Test("a client that stops acknowledging: bounded retransmission, then the server gives up",
          arguments: [1, 4])
    func silentClient(windowSize: Int) async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 512 * 20 + 3)
        try await fixture.withServer { server in
            var options: [(name: String, value: String)] = [("timeout", "1")]
            var expectedOACK = ["timeout": "1"]
            if windowSize > 1 {
                options.append(("windowsize", String(windowSize)))
                expectedOACK["windowsize"] = String(windowSize)
            }
            let port = server.port
            let sentOptions = options
            let (answer, clientPort, packets) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                let answer = try client.request("file.bin", options: sentOptions)
                try client.acknowledge(0)
                // Never acknowledge a block: collect until 2.5 s pass in silence.
                return (answer, client.socket.localPort, try client.receiveUntilQuiet(silence: .milliseconds(2500), limit: .seconds(30)))
            }
            #expect(answer == .optionAcknowledgement(expectedOACK))
            var sends: [UInt16: [ContinuousClock.Instant]] = [:]
            for datagram in packets {
                guard case .data(let block, let payload) = datagram.packet, payload.count == 512 else {
                    Issue.record("unexpected \(datagram.packet)")
                    continue
                }
                sends[block, default: []].append(datagram.at)
            }
            #expect(Set(sends.keys) == Set((1...windowSize).map(UInt16.init)), "blocks sent: \(sends.keys.sorted())")
            for (block, times) in sends.sorted(by: { $0.key < $1.key }) {
                // The first send and at least one retransmission, but not forever (TFTPLimits: 6).
                #expect((2...8).contains(times.count), "block \(block) sent \(times.count) times")
                // The client's timeout (1 s) is honoured: no burst of retransmissions.
                for (earlier, later) in zip(times, times.dropFirst()) {
                    #expect(later - earlier > .milliseconds(700), "block \(block) sent again after \(later - earlier)")
                }
            }
            let line = try await server.waitForLog("'file.bin' to 127.0.0.1:\(clientPort) failed")
            #expect(line.contains("timed out waiting for block 1"), "\(line)")
            try await fixture.expectStillServes(server)
        }
    }

    /// A client that never acknowledges the OACK: the OACK is what is resent.
    @Test("a client that never acknowledges the option negotiation")
    func silentBeforeData() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 5000)
        try await fixture.withServer { server in
            let port = server.port
            let (first, clientPort, again) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                let first = try client.request("file.bin", options: [("timeout", "1"), ("blksize", "1024")])
                return (first, client.socket.localPort, try client.receiveUntilQuiet(silence: .milliseconds(2500), limit: .seconds(30)))
            }
            #expect(first == .optionAcknowledgement(["timeout": "1", "blksize": "1024"]))
            #expect((1...7).contains(again.count), "OACK sent again \(again.count) times")
            #expect(again.allSatisfy { $0.packet == first }, "\(again.map(\.packet))")
            let line = try await server.waitForLog("'file.bin' to 127.0.0.1:\(clientPort) failed")
            #expect(line.contains("no acknowledgement"), "\(line)")
            try await fixture.expectStillServes(server)
        }
    }

    /// Every ACK arrives twice. A server that answered the duplicate would
    /// send each block twice (the Sorcerer's Apprentice bug, RFC 1123
    /// 4.2.3.1): exactly one DATA per block must arrive.
    @Test("duplicate ACKs do not cause duplicate DATA (Sorcerer's Apprentice)", arguments: [1, 4])
    func duplicateAcknowledgements(windowSize: Int) async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("file.bin", size: 512 * 40 + 100)
        let blocks = expected.count / 512 + 1
        try await fixture.withServer { server in
            let port = server.port
            let (answer, data, extra) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                // A long timeout: any extra DATA answers a duplicate, never the timer.
                var options: [(name: String, value: String)] = [("timeout", "10")]
                if windowSize > 1 { options.append(("windowsize", String(windowSize))) }
                let answer = try client.request("file.bin", options: options)
                try client.acknowledge(0, times: 2)
                var data: [(block: UInt16, payload: [UInt8])] = []
                var finished = false
                while !finished {
                    for _ in 0..<windowSize {
                        data.append(try client.receiveData())
                        if data.last!.payload.count < 512 {
                            finished = true
                            break
                        }
                    }
                    try client.acknowledge(data.last!.block, times: 2)
                }
                return (answer, data, try client.receiveUntilQuiet(silence: .milliseconds(1500), limit: .seconds(5)))
            }
            guard case .optionAcknowledgement = answer else {
                Issue.record("expected an OACK, got \(answer)")
                return
            }
            let arrived = data.map(\.block)
            #expect(arrived == (1...blocks).map { UInt16($0) }, "DATA blocks in order of arrival")
            let afterTheEnd = extra.map(\.description)
            #expect(afterTheEnd.isEmpty, "DATA after the last ACK")
            let received = Data(data.flatMap(\.payload))
            #expect(ByteComparison.difference(expected: expected, actual: received) == nil)
            let line = try await server.waitForLog("sent 'file.bin'")
            #expect(line.contains(", 0 blocks sent again"), "\(line)")
        }
    }

    /// The first copy of block 3 is "lost" (never acknowledged): the server
    /// sends it again after its timeout and the transfer completes intact.
    @Test("a lost block is sent again after the timeout")
    func lostBlock() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("file.bin", size: 512 * 6 + 10)
        try await fixture.withServer { server in
            let port = server.port
            let (answer, blocks, received) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                let answer = try client.request("file.bin", options: [("timeout", "1")])
                try client.acknowledge(0)
                var blocks: [UInt16] = []
                var received = Data()
                var lost = false
                while true {
                    let (block, payload) = try client.receiveData()
                    blocks.append(block)
                    if block == 3 && !lost {
                        lost = true
                        continue  // as if it never arrived: the server's timer must bring it again
                    }
                    received.append(contentsOf: payload)
                    try client.acknowledge(block)
                    if payload.count < 512 { return (answer, blocks, received) }
                }
            }
            #expect(answer == .optionAcknowledgement(["timeout": "1"]))
            #expect(blocks == [1, 2, 3, 3, 4, 5, 6, 7])
            #expect(ByteComparison.difference(expected: expected, actual: received) == nil)
            let line = try await server.waitForLog("sent 'file.bin'")
            #expect(line.contains(", 1 blocks sent again"), "\(line)")
        }
    }

    /// RFC 7440: an ACK inside the window reports where the client's data
    /// stops; the server goes on from the block after it.
    @Test("an ACK inside a window makes the server send from there")
    func gapInsideWindow() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("file.bin", size: 512 * 10 + 1)
        try await fixture.withServer { server in
            let port = server.port
            let (answer, first, next) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                let answer = try client.request("file.bin", options: [("windowsize", "4"), ("timeout", "10")])
                try client.acknowledge(0)
                let first = try (0..<4).map { _ in try client.receiveData() }
                try client.acknowledge(2)  // 3 and 4 "lost"
                let next = try (0..<4).map { _ in try client.receiveData() }
                try client.send(TFTPWire.error(0, "enough"))
                return (answer, first, next)
            }
            #expect(answer == .optionAcknowledgement(["windowsize": "4", "timeout": "10"]))
            #expect(first.map(\.block) == [1, 2, 3, 4])
            #expect(next.map(\.block) == [3, 4, 5, 6], "after ACK 2 the server sent \(next.map(\.block))")
            #expect(next.first.map { Data($0.payload) } == expected[1024..<1536])
            try await server.waitForLog("ended by the client")
        }
    }

    /// A client that ends the transfer with an ERROR: the server stops at once.
    @Test("a client's ERROR ends the transfer")
    func clientAborts() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 512 * 10)
        try await fixture.withServer { server in
            let port = server.port
            let (first, after) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                _ = try client.request("file.bin", options: [("timeout", "1")])
                try client.acknowledge(0)
                let first = try client.receiveData()
                try client.send(TFTPWire.error(0, "cancelled by the user"))
                return (first.block, try client.receiveUntilQuiet(silence: .milliseconds(2500), limit: .seconds(5)))
            }
            #expect(first == 1)
            let line = try await server.waitForLog("ended by the client")
            #expect(line.contains("cancelled by the user"), "\(line)")
            #expect(after.isEmpty, "sent after the client's ERROR: \(after.map(\.packet))")
            try await fixture.expectStillServes(server)
        }
    }

    /// An ACK from another port (another transfer ID) must not move the transfer.
    @Test("an ACK from a stranger's port does not move the transfer")
    func strangerOnTheTransferPort() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("file.bin", size: 512 * 3 + 1)
        try await fixture.withServer { server in
            let port = server.port
            let (first, afterStranger, second) = try await DedicatedThread.run {
                let client = try HandDrivenClient(serverPort: port)
                _ = try client.request("file.bin", options: [("timeout", "10")])
                try client.acknowledge(0)
                let first = try client.receiveData()
                let stranger = try UDPTestSocket()
                try stranger.send(TFTPWire.acknowledgement(1), toPort: client.transferPort!)
                let afterStranger = try client.receive(timeout: .milliseconds(700))
                try client.acknowledge(1)
                let second = try client.receiveData()
                try client.send(TFTPWire.error(0, "enough"))
                return (first, afterStranger?.packet, second.block)
            }
            #expect(first.block == 1)
            #expect(Data(first.payload) == expected[0..<512])
            #expect(afterStranger == nil, "the stranger's ACK moved the transfer: \(String(describing: afterStranger))")
            #expect(second == 2)
        }
    }
}
