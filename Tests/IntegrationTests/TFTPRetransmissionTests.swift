import Foundation
import ProvisionerTesting
import Testing

/// The sender's timer and window, driven by hand: a client that goes silent,
/// one that acknowledges everything twice, one that loses a block, one that
/// reports a gap inside a window, and a stranger on the transfer's port.
@Suite("TFTP: retransmission, duplicates and silence", .timeLimit(.minutes(2)))
struct TFTPRetransmissionTests {
    /// The server retransmits the unacknowledged window after each timeout
    /// (the client asked for 1 s), a bounded number of times, then gives up
    /// and says so. About 7 s.
    @Test("a client that stops acknowledging: bounded retransmission, then the server gives up",
          arguments: [1, 4])
    func silentClient(windowSize: Int) async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 512 * 20 + 3)
        try await fixture.withServer { server in
            let client = try HandDrivenClient(server)
            var options: [(name: String, value: String)] = [("timeout", "1")]
            if windowSize > 1 { options.append(("windowsize", String(windowSize))) }
            let answer = try await client.request("file.bin", options: options)
            var expectedOACK = ["timeout": "1"]
            if windowSize > 1 { expectedOACK["windowsize"] = String(windowSize) }
            #expect(answer == .optionAcknowledgement(expectedOACK))
            try client.acknowledge(0)
            // Never acknowledge a block: collect until 2.5 s pass in silence.
            let packets = try await client.receiveUntilQuiet(silence: .milliseconds(2500), limit: .seconds(30))
            var sends: [UInt16: [ContinuousClock.Instant]] = [:]
            for (at, packet) in packets {
                guard case .data(let block, let payload) = packet, payload.count == 512 else {
                    Issue.record("unexpected \(packet)")
                    continue
                }
                sends[block, default: []].append(at)
            }
            #expect(Set(sends.keys) == Set((1...windowSize).map(UInt16.init)), "blocks sent: \(sends.keys.sorted())")
            for (block, times) in sends.sorted(by: { $0.key < $1.key }) {
                // The first send and at least one retransmission, but not forever (TFTPLimits: 6).
                #expect((2...8).contains(times.count), "block \(block) sent \(times.count) times")
                // The client's timeout (1 s) is honoured: no burst of retransmissions.
                for (earlier, later) in zip(times, times.dropFirst()) {
                    #expect(later - earlier > .milliseconds(600), "block \(block) resent after \(later - earlier)")
                }
            }
            let line = try await server.waitForLog("'file.bin' to 127.0.0.1:\(client.socket.localPort) failed")
            #expect(line.contains("timed out waiting for block 1"), "\(line)")
            #expect(server.isRunning)
            try await fixture.expectStillServes(server)
        }
    }

    /// A client that never acknowledges the OACK: the OACK is what is resent.
    @Test("a client that never acknowledges the option negotiation")
    func silentBeforeData() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 5000)
        try await fixture.withServer { server in
            let client = try HandDrivenClient(server)
            let first = try await client.request("file.bin", options: [("timeout", "1"), ("blksize", "1024")])
            #expect(first == .optionAcknowledgement(["timeout": "1", "blksize": "1024"]))
            let again = try await client.receiveUntilQuiet(silence: .milliseconds(2500), limit: .seconds(30))
            #expect((1...7).contains(again.count), "OACK resent \(again.count) times")
            #expect(again.allSatisfy { $0.packet == first }, "\(again.map(\.packet))")
            let line = try await server.waitForLog("'file.bin' to 127.0.0.1:\(client.socket.localPort) failed")
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
            let client = try HandDrivenClient(server)
            // A long timeout: any extra DATA is an answer to a duplicate, never a timer.
            var options: [(name: String, value: String)] = [("timeout", "10")]
            if windowSize > 1 { options.append(("windowsize", String(windowSize))) }
            let answer = try await client.request("file.bin", options: options)
            guard case .optionAcknowledgement = answer else {
                Issue.record("expected an OACK, got \(answer)")
                return
            }
            try client.acknowledge(0, times: 2)
            var received = Data()
            var dataPackets = 0
            var nextBlock: UInt16 = 1
            var finished = false
            while !finished {
                var last: UInt16 = 0
                for _ in 0..<windowSize {
                    let packet = try #require(try await client.receive(timeout: .seconds(5)),
                                              "block \(nextBlock) did not come:\n\(server.log)")
                    guard case .data(let block, let payload) = packet else {
                        Issue.record("unexpected \(packet)")
                        return
                    }
                    dataPackets += 1
                    #expect(block == nextBlock, "got block \(block), expected \(nextBlock)")
                    if block == nextBlock {
                        received.append(contentsOf: payload)
                        nextBlock &+= 1
                    }
                    last = block
                    if payload.count < 512 {
                        finished = true
                        break
                    }
                }
                try client.acknowledge(last, times: 2)
            }
            let extra = try await client.receiveUntilQuiet(silence: .milliseconds(1500), limit: .seconds(5))
            #expect(dataPackets + extra.count == blocks,
                    "\(dataPackets + extra.count) DATA packets for \(blocks) blocks; after the end: \(extra.map(\.packet))")
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
            let client = try HandDrivenClient(server)
            #expect(try await client.request("file.bin", options: [("timeout", "1")]) == .optionAcknowledgement(["timeout": "1"]))
            try client.acknowledge(0)
            var received = Data()
            var lost = false
            var block: UInt16 = 1
            while true {
                let packet = try #require(try await client.receive(timeout: .seconds(5)), "block \(block) did not come")
                guard case .data(let number, let payload) = packet, number == block else {
                    Issue.record("expected block \(block), got \(packet)")
                    return
                }
                if number == 3 && !lost {
                    lost = true
                    continue  // as if it never arrived: the server's timer must bring it again
                }
                received.append(contentsOf: payload)
                try client.acknowledge(number)
                if payload.count < 512 { break }
                block += 1
            }
            #expect(ByteComparison.difference(expected: expected, actual: received) == nil)
            let line = try await server.waitForLog("sent 'file.bin'")
            #expect(line.contains(", 1 blocks sent again"), "\(line)")
        }
    }

    /// RFC 7440: an ACK inside the window reports where the client's data
    /// stops; the server goes on from the block after it.
    @Test("an ACK inside a window makes the server resend from there")
    func gapInsideWindow() async throws {
        let fixture = try TFTPFixture()
        let expected = try fixture.serve("file.bin", size: 512 * 10 + 1)
        try await fixture.withServer { server in
            let client = try HandDrivenClient(server)
            let answer = try await client.request("file.bin", options: [("windowsize", "4"), ("timeout", "10")])
            #expect(answer == .optionAcknowledgement(["windowsize": "4", "timeout": "10"]))
            try client.acknowledge(0)
            var first: [UInt16] = []
            for _ in 0..<4 {
                if case .data(let block, _)? = try await client.receive() { first.append(block) }
            }
            #expect(first == [1, 2, 3, 4])
            try client.acknowledge(2)  // 3 and 4 "lost"
            var next: [UInt16] = []
            var payloads: [UInt16: [UInt8]] = [:]
            for _ in 0..<4 {
                if case .data(let block, let payload)? = try await client.receive() {
                    next.append(block)
                    payloads[block] = payload
                }
            }
            #expect(next == [3, 4, 5, 6], "after ACK 2 the server sent \(next)")
            let offset = 2 * 512
            #expect(payloads[3].map { Data($0) } == expected[offset..<(offset + 512)])
            try client.send(TFTPWire.error(0, "enough"))
            try await server.waitForLog("ended by the client")
        }
    }

    /// A client that ends the transfer with an ERROR: the server stops at once.
    @Test("a client's ERROR ends the transfer")
    func clientAborts() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 512 * 10)
        try await fixture.withServer { server in
            let client = try HandDrivenClient(server)
            #expect(try await client.request("file.bin", options: [("timeout", "1")]) == .optionAcknowledgement(["timeout": "1"]))
            try client.acknowledge(0)
            guard case .data(1, _)? = try await client.receive() else {
                Issue.record("no block 1")
                return
            }
            try client.send(TFTPWire.error(0, "cancelled by the user"))
            let line = try await server.waitForLog("ended by the client")
            #expect(line.contains("cancelled by the user"), "\(line)")
            let after = try await client.receiveUntilQuiet(silence: .milliseconds(2500), limit: .seconds(5))
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
            let client = try HandDrivenClient(server)
            #expect(try await client.request("file.bin", options: [("timeout", "10")]) == .optionAcknowledgement(["timeout": "10"]))
            try client.acknowledge(0)
            guard case .data(1, let payload)? = try await client.receive() else {
                Issue.record("no block 1")
                return
            }
            let stranger = try UDPTestSocket()
            try stranger.send(TFTPWire.acknowledgement(1), toPort: try #require(client.transferPort))
            #expect(try await client.receive(timeout: .milliseconds(700)) == nil, "the stranger's ACK moved the transfer")
            try client.acknowledge(1)
            guard case .data(2, _)? = try await client.receive() else {
                Issue.record("no block 2 after the real ACK")
                return
            }
            #expect(Data(payload) == expected[0..<512])
            try client.send(TFTPWire.error(0, "enough"))
        }
    }
}
