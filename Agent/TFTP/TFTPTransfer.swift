#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystemSupport
import SystemSupport

/// How a transfer ended.
public enum TFTPTransferOutcome: Sendable, Equatable {
    case completed(bytes: Int, retransmissions: Int)
    /// The client sent an ERROR packet (e.g. it refused our OACK).
    case abortedByClient(code: UInt16, message: String)
    case failed(String)
}

/// One read transfer on its own connected socket (the server's transfer ID),
/// sending windows of blocks with sendmmsg and waiting for acknowledgements.
/// Runs on its own thread; blocks in recv.
struct TFTPTransfer {
    let socket: UDPSocket
    let negotiation: TFTPNegotiation
    let maxRetransmissions: Int

    func run<Source: TFTPSource>(source: inout Source) -> TFTPTransferOutcome {
        do {
            try socket.setReceiveTimeout(microseconds: negotiation.timeoutMicroseconds)
            if !negotiation.acknowledged.isEmpty {
                if let refused = try sendOptionAcknowledgement() { return refused }
            }
            return try sendData(from: &source)
        } catch let error as SystemError where error.code == ECONNREFUSED {
            return .failed("the client went away (port unreachable)")
        } catch {
            return .failed("\(error)")
        }
    }

    /// Sends the OACK until the client acknowledges block 0; returns the
    /// outcome only when the transfer ends here.
    private func sendOptionAcknowledgement() throws -> TFTPTransferOutcome? {
        let packet = TFTPPacket.optionAcknowledgement(negotiation.acknowledged)
        var reply = [UInt8](repeating: 0, count: 516)
        for _ in 0...maxRetransmissions {
            try packet.withUnsafeBytes { try socket.send($0) }
            let deadline = monotonicSeconds() + Double(negotiation.timeoutMicroseconds) / 1e6
            while monotonicSeconds() < deadline {
                guard let n = try reply.withUnsafeMutableBytes({ try socket.receive(into: $0) }) else { break }
                switch reply.withUnsafeBytes({ TFTPPacket.parseReply(UnsafeRawBufferPointer(rebasing: $0[..<n])) }) {
                case .acknowledgement(block: 0): return nil
                case .error(let code, let message): return .abortedByClient(code: code, message: message)
                default: continue
                }
            }
        }
        return .failed("no acknowledgement of the option negotiation")
    }

    private func sendData<Source: TFTPSource>(from source: inout Source) throws -> TFTPTransferOutcome {
        let blockSize = negotiation.blockSize
        let windowSize = negotiation.windowSize
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize * windowSize, alignment: 4096)
        let headers = UnsafeMutablePointer<UInt8>.allocate(capacity: 4 * windowSize)
        let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: 2 * windowSize)
        let datagrams = UnsafeMutablePointer<CSystemSupport_datagram>.allocate(capacity: windowSize)
        var reply = [UInt8](repeating: 0, count: 516)
        defer {
            data.deallocate()
            headers.deallocate()
            vectors.deallocate()
            datagrams.deallocate()
        }

        var window = TFTPSendWindow(windowSize: windowSize)
        var buffered = 0  // blocks in `data`, starting at window.base
        var finalLength = 0
        var bytesSent = 0
        var retransmissions = 0
        var timeouts = 0
        var deadline = 0.0
        let timeout = Double(negotiation.timeoutMicroseconds) / 1e6

        while true {
            while buffered < windowSize && window.finalBlock == nil {
                let slot = UnsafeMutableRawBufferPointer(rebasing: data[buffered * blockSize..<(buffered + 1) * blockSize])
                let n = try source.read(into: slot)
                buffered += 1
                if n < blockSize {
                    window.reachedEnd(at: window.base + UInt64(buffered - 1))
                    finalLength = n
                }
            }

            let pending = window.pending
            if !pending.isEmpty {
                var count = 0
                for block in pending {
                    let slot = Int(block - window.base)
                    let length = block == window.finalBlock ? finalLength : blockSize
                    let wire = TFTPSendWindow.wireNumber(block)
                    let header = headers + 4 * count
                    header[0] = 0; header[1] = 3; header[2] = UInt8(wire >> 8); header[3] = UInt8(wire & 0xff)
                    vectors[2 * count] = iovec(iov_base: UnsafeMutableRawPointer(header), iov_len: 4)
                    vectors[2 * count + 1] = iovec(iov_base: data.baseAddress! + slot * blockSize, iov_len: length)
                    datagrams[count] = CSystemSupport_datagram(iov: vectors + 2 * count, iov_count: 2)
                    count += 1
                    if block >= window.next { bytesSent += length }
                }
                var sent = 0
                while sent < count { sent += try socket.send(datagrams: datagrams + sent, count: count - sent) }
                window.sent(through: pending.upperBound - 1)
                deadline = monotonicSeconds() + timeout
            }

            if let n = try reply.withUnsafeMutableBytes({ try socket.receive(into: $0) }) {
                switch reply.withUnsafeBytes({ TFTPPacket.parseReply(UnsafeRawBufferPointer(rebasing: $0[..<n])) }) {
                case .acknowledgement(let wire):
                    switch window.acknowledge(wire) {
                    case .completed:
                        return .completed(bytes: bytesSent, retransmissions: retransmissions)
                    case .advanced(let slide):
                        timeouts = 0
                        if slide < buffered {
                            let keep = (buffered - slide) * blockSize
                            data.baseAddress!.copyMemory(from: data.baseAddress! + slide * blockSize, byteCount: keep)
                        }
                        buffered -= min(slide, buffered)
                        continue
                    case .ignored:
                        break
                    }
                case .error(let code, let message):
                    return .abortedByClient(code: code, message: message)
                case .other:
                    break
                }
                // A duplicate or stray packet: keep waiting until the deadline.
                if monotonicSeconds() < deadline { continue }
            }
            timeouts += 1
            if timeouts > maxRetransmissions {
                return .failed(window.finalBlock == window.base
                    ? "no acknowledgement of the final block" : "timed out waiting for block \(window.base)")
            }
            retransmissions += Int(window.next - window.base)
            window.timedOut()
        }
    }
}
