import ProvisionerTesting

/// A TFTP client driven by the test, packet by packet, from a plain UDP
/// socket: to send what no real client sends (duplicate ACKs, no ACK at all,
/// packets from another port) and to see exactly what the server sends back.
///
/// It blocks: use it inside `DedicatedThread.run`, so it answers the server
/// on time however busy the test pool is, and check the results afterwards.
final class HandDrivenClient {
    let socket: UDPTestSocket
    let serverPort: UInt16
    /// The server's transfer ID (its port for this transfer), from its first answer.
    private(set) var transferPort: UInt16?
    /// Datagrams that came from any other port than the transfer's.
    private(set) var strangers: [UDPTestSocket.Datagram] = []

    init(serverPort: UInt16) throws {
        socket = try UDPTestSocket()
        self.serverPort = serverPort
    }

    /// Sends a read request to the listening port; returns the first answer.
    func request(_ name: String, mode: String = "octet", options: [(name: String, value: String)] = []) throws -> TFTPWire.Packet {
        try socket.send(TFTPWire.readRequest(name, mode: mode, options: options), toPort: serverPort)
        guard let reply = try socket.receiveBlocking(timeout: .seconds(5)) else {
            throw ScenarioError("no answer within 5 s to the request for '\(name)'")
        }
        transferPort = reply.port
        return reply.packet
    }

    /// Sends to the transfer's port.
    func send(_ bytes: [UInt8]) throws {
        guard let transferPort else { throw ScenarioError("no transfer under way") }
        try socket.send(bytes, toPort: transferPort)
    }

    func acknowledge(_ block: UInt16, times: Int = 1) throws {
        for _ in 0..<times { try send(TFTPWire.acknowledgement(block)) }
    }

    /// The next datagram of the transfer, or nil after `timeout` without one.
    func receive(timeout: Duration = .seconds(5)) throws -> UDPTestSocket.Datagram? {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let datagram = try socket.receiveBlocking(timeout: max(.zero, deadline - ContinuousClock.now)) else {
                return nil
            }
            if datagram.port == transferPort { return datagram }
            strangers.append(datagram)
        }
    }

    /// The next packet, which must be DATA; throws saying what came instead.
    func receiveData(timeout: Duration = .seconds(5)) throws -> (block: UInt16, payload: [UInt8]) {
        guard let datagram = try receive(timeout: timeout) else { throw ScenarioError("no DATA within \(timeout)") }
        guard case .data(let block, let payload) = datagram.packet else {
            throw ScenarioError("expected DATA, got \(datagram.packet)")
        }
        return (block, payload)
    }

    /// Every datagram of the transfer until `silence` passes without one (or `limit` in all).
    func receiveUntilQuiet(silence: Duration, limit: Duration) throws -> [UDPTestSocket.Datagram] {
        let end = ContinuousClock.now + limit
        var received: [UDPTestSocket.Datagram] = []
        while ContinuousClock.now < end, let datagram = try receive(timeout: min(silence, end - ContinuousClock.now)) {
            received.append(datagram)
        }
        return received
    }
}

/// A hand-driven scenario could not go on: says what happened instead.
struct ScenarioError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
