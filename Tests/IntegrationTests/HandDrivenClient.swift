import ProvisionerTesting
import Testing

/// A TFTP client driven by the test, packet by packet, from a plain UDP
/// socket: to send what no real client sends (duplicate ACKs, no ACK at all,
/// packets from another port) and to count what the server sends back.
final class HandDrivenClient {
    let socket: UDPTestSocket
    let server: TFTPServerProcess
    /// The server's transfer ID (its port for this transfer), from its first answer.
    private(set) var transferPort: UInt16?

    init(_ server: TFTPServerProcess) throws {
        socket = try UDPTestSocket()
        self.server = server
    }

    /// Sends a read request to the server's listening port and returns its first answer.
    func request(_ name: String, mode: String = "octet", options: [(name: String, value: String)] = [],
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> TFTPWire.Packet {
        try socket.send(TFTPWire.readRequest(name, mode: mode, options: options), toPort: server.port)
        let reply = try #require(try await socket.receive(timeout: .seconds(5)),
                                 "no answer to the request for '\(name)':\n\(server.log)", sourceLocation: sourceLocation)
        transferPort = reply.port
        return reply.packet
    }

    /// Sends to the transfer's port.
    func send(_ bytes: [UInt8]) throws {
        guard let transferPort else { throw TestSetupError("no transfer under way") }
        try socket.send(bytes, toPort: transferPort)
    }

    func acknowledge(_ block: UInt16, times: Int = 1) throws {
        for _ in 0..<times { try send(TFTPWire.acknowledgement(block)) }
    }

    /// The next packet of the transfer, or nil after `timeout` without one.
    /// A packet from any other port is a test failure.
    func receive(timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation) async throws -> TFTPWire.Packet? {
        guard let datagram = try await socket.receive(timeout: timeout) else { return nil }
        #expect(datagram.port == transferPort, "a packet from port \(datagram.port), the transfer is on \(String(describing: transferPort))",
                sourceLocation: sourceLocation)
        return datagram.packet
    }

    /// Every packet until `silence` passes without one (or `limit` in all).
    func receiveUntilQuiet(silence: Duration, limit: Duration) async throws -> [(at: ContinuousClock.Instant, packet: TFTPWire.Packet)] {
        let end = ContinuousClock.now + limit
        var packets: [(at: ContinuousClock.Instant, packet: TFTPWire.Packet)] = []
        while ContinuousClock.now < end {
            guard let packet = try await receive(timeout: min(silence, end - ContinuousClock.now)) else { break }
            packets.append((ContinuousClock.now, packet))
        }
        return packets
    }
}
