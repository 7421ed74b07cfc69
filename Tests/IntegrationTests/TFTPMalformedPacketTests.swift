import Foundation
import ProvisionerTesting
import Testing

/// Garbage on the listening port is answered with an ERROR packet and never
/// stops the server; stray transfer packets (ACK, DATA, ERROR, OACK) get no
/// answer at all (answering could start a loop between two servers).
@Suite("TFTP: malformed and stray packets", .serialized, .timeLimit(.minutes(2)))
struct TFTPMalformedPacketTests {
    struct Malformed: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let code: UInt16
        var testDescription: String { "\(name) → error \(code)" }
    }

    static let request = TFTPWire.readRequest("file.bin")

    static let malformed: [Malformed] = [
        Malformed(name: "an empty datagram", bytes: [], code: 4),
        Malformed(name: "one byte", bytes: [0], code: 4),
        Malformed(name: "opcode 99", bytes: [0, 99] + TFTPWire.cString("file.bin") + TFTPWire.cString("octet"), code: 4),
        Malformed(name: "opcode 0", bytes: [0, 0] + TFTPWire.cString("file.bin") + TFTPWire.cString("octet"), code: 4),
        Malformed(name: "opcode 0x0101", bytes: [1, 1] + TFTPWire.cString("file.bin") + TFTPWire.cString("octet"), code: 4),
        Malformed(name: "RRQ without its final NUL", bytes: Array(request.dropLast()), code: 4),
        Malformed(name: "RRQ without a mode", bytes: [0, 1] + TFTPWire.cString("file.bin"), code: 4),
        Malformed(name: "RRQ with an option but no value", bytes: request + TFTPWire.cString("blksize"), code: 4),
        Malformed(name: "RRQ in mode mail", bytes: TFTPWire.readRequest("file.bin", mode: "mail"), code: 4),
        Malformed(name: "RRQ with an empty name", bytes: [0, 1, 0] + TFTPWire.cString("octet"), code: 4),
        Malformed(name: "RRQ with a name that is not UTF-8", bytes: [0, 1, 0xff, 0xfe, 0] + TFTPWire.cString("octet"), code: 4),
        Malformed(name: "RRQ with a control character in the name", bytes: TFTPWire.readRequest("file\u{1}.bin"), code: 2),
    ]

    @Test("malformed requests are answered with an ERROR", arguments: malformed)
    func malformedRequest(_ packet: Malformed) async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 1000)
        try await fixture.withServer { server in
            let socket = try UDPTestSocket()
            try socket.send(packet.bytes, toPort: server.port)
            let reply = try #require(try await socket.receive(timeout: .seconds(5)),
                                     "no answer to \(packet.name):\n\(server.log)")
            #expect(reply.port == server.port, "the ERROR should come from the listening port")
            guard case .error(let code, let message) = reply.packet else {
                Issue.record("expected an ERROR, got \(reply.packet)\n\(server.log)")
                return
            }
            #expect(code == packet.code, "ERROR \(code) '\(message)'")
            #expect(!message.isEmpty, "the ERROR should say why")
            try await server.waitForLog("from 127.0.0.1:\(socket.localPort): ")
            #expect(try await socket.receive(timeout: .milliseconds(300)) == nil, "one answer only")
            try await fixture.expectStillServes(server)
        }
    }

    /// Transfer packets sent to the listening port are ignored. Each is
    /// followed by an empty datagram (always answered, and handled after the
    /// stray one): exactly one answer means the stray one got none.
    @Test("stray ACK, DATA, ERROR and OACK get no answer",
          arguments: [("ACK", TFTPWire.acknowledgement(1)), ("ACK 0", TFTPWire.acknowledgement(0)),
                      ("DATA", TFTPWire.data(1, Array(repeating: 7, count: 512))), ("ERROR", TFTPWire.error(0, "stray")),
                      ("OACK", TFTPWire.optionAcknowledgement([("blksize", "1468")]))])
    func strayPackets(kind: String, bytes: [UInt8]) async throws {
        let fixture = try TFTPFixture()
        try await fixture.withServer { server in
            let socket = try UDPTestSocket()
            try socket.send(bytes, toPort: server.port)
            try socket.send([], toPort: server.port)
            let answers = try await socket.receiveAll(for: .milliseconds(1500))
            #expect(answers.count == 1, "a stray \(kind) was answered: \(answers.map(\.packet))\n\(server.log)")
            #expect(answers.first.map { TFTPRefusalTests.isError($0.packet, code: 4) } == true)
            try await fixture.expectStillServes(server)
        }
    }

    /// A burst of every kind of garbage at once, then a real client.
    @Test("a burst of garbage does not stop the server")
    func burst() async throws {
        let fixture = try TFTPFixture()
        try fixture.serve("file.bin", size: 1000)
        try await fixture.withServer { server in
            let socket = try UDPTestSocket()
            for _ in 0..<20 {
                for packet in Self.malformed { try socket.send(packet.bytes, toPort: server.port) }
                try socket.send(Array(repeating: 0xff, count: 1400), toPort: server.port)
                try socket.send(Array(repeating: 0, count: 65000), toPort: server.port)
            }
            let answers = try await socket.receiveAll(for: .seconds(2))
            #expect(answers.count >= Self.malformed.count, "answers: \(answers.count)")
            try await fixture.expectStillServes(server)
        }
    }
}
