import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain UDP socket on 127.0.0.1 for driving a server by hand: raw
/// requests, malformed packets, acknowledgements sent twice or never.
public final class UDPTestSocket: Sendable {
    public let descriptor: Int32
    /// The port the kernel gave this socket (the client's transfer ID).
    public let localPort: UInt16

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(String(cString: strerror(errno)))") }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                guard bind(fd, sa, length) == 0 else { return -1 }
                return getsockname(fd, sa, &length)
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TestSetupError("bind 127.0.0.1:0: \(reason)")
        }
        descriptor = fd
        localPort = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }

    /// Sends one datagram (maybe empty) to 127.0.0.1:`port`.
    public func send(_ bytes: [UInt8], toPort port: UInt16) throws {
        var address = Self.loopback(port: port)
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == bytes.count else {
            throw TestSetupError("sendto 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    /// One datagram received: its bytes and the port it came from.
    public struct Datagram: Sendable, CustomStringConvertible {
        public let bytes: [UInt8]
        public let port: UInt16
        /// When it was read.
        public let at: ContinuousClock.Instant
        public var packet: TFTPWire.Packet { TFTPWire.parse(bytes) }
        public var description: String { "\(packet) from port \(port)" }
    }

    /// The next datagram, or nil when none came within `timeout`. Never
    /// blocks the thread: it polls and sleeps, so tests on the (small)
    /// cooperative pool keep running. Datagrams already queued are returned
    /// even when `timeout` is zero or has passed.
    public func receive(timeout: Duration) async throws -> Datagram? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let datagram = try receiveNow() { return datagram }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Every datagram that arrives within `duration` (and all that were queued).
    public func receiveAll(for duration: Duration) async throws -> [Datagram] {
        let deadline = ContinuousClock.now + duration
        var received: [Datagram] = []
        while let datagram = try await receive(timeout: max(.zero, deadline - ContinuousClock.now)) {
            received.append(datagram)
        }
        return received
    }

    /// Blocks the calling thread in poll(2) until a datagram arrives or
    /// `timeout` passes: for scenarios run on a thread of their own
    /// (`DedicatedThread`), where answering on time matters.
    public func receiveBlocking(timeout: Duration) throws -> Datagram? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let datagram = try receiveNow() { return datagram }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var fds = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&fds, 1, milliseconds)
        }
    }

    /// One queued datagram, or nil when none is waiting.
    private func receiveNow() throws -> Datagram? {
        var buffer = [UInt8](repeating: 0, count: 65536 + 4)
        while true {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, &length)
                    }
                }
            }
            if count >= 0 {
                return Datagram(bytes: Array(buffer[..<count]), port: UInt16(bigEndian: address.sin_port),
                                at: ContinuousClock.now)
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw TestSetupError("recvfrom: \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}
