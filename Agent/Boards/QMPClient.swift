#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SystemSupport

/// A minimal QEMU Machine Protocol client: a unix socket, one JSON object
/// per line, the `qmp_capabilities` handshake, then commands answered by
/// `return` or `error` (asynchronous events in between are skipped).
final class QMPClient {
    let path: String
    private let descriptor: Int32
    private var buffered: [UInt8] = []

    /// Connects, reads the greeting and leaves negotiation mode. Every read
    /// and write waits at most `timeout` seconds.
    init(path: String, timeout: Double = 5) throws {
        self.path = path
        descriptor = try systemCall("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                throw BoardError("QMP socket path too long (\(bytes.count) bytes): \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    _ = try systemCall("connect \(path)") {
                        connect(descriptor, generic, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
            guard try readMessage(answering: nil, returning: QMPIgnored.self).isGreeting else {
                throw BoardError("QMP \(path): no greeting")
            }
            try execute("qmp_capabilities")
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Runs `command` with `arguments` (nil: none sent) and returns its
    /// `return` value read as `Reply`; a QMP `error` throws, and so does a
    /// `return` that is not a `Reply`.
    func execute<Arguments: Encodable, Reply: Decodable>(_ command: String, arguments: Arguments?,
                                                         returning: Reply.Type) throws -> Reply {
        var data = try JSONEncoder().encode(QMPRequest(execute: command, arguments: arguments))
        data.append(0x0a)
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                offset += try systemCall("QMP \(path): send") {
                    send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                }
            }
        }
        while true {
            let message = try readMessage(answering: command, returning: Reply.self)
            if let reply = message.reply { return reply }
            if let error = message.error { throw BoardError("QMP \(command): \(error.desc ?? error.class ?? "unknown error")") }
            // An event ({"event": …}): not ours.
        }
    }

    /// Runs `command` without arguments and returns its `return` value.
    func execute<Reply: Decodable>(_ command: String, returning: Reply.Type) throws -> Reply {
        try execute(command, arguments: QMPNoArguments?.none, returning: Reply.self)
    }

    /// Runs `command` without arguments; its `return` value is not read.
    func execute(_ command: String) throws {
        _ = try execute(command, arguments: QMPNoArguments?.none, returning: QMPIgnored.self)
    }

    /// The next JSON object from the socket, read as an answer to `command`
    /// (nil: the greeting).
    private func readMessage<Reply: Decodable>(answering command: String?, returning: Reply.Type) throws -> QMPMessage<Reply> {
        while true {
            if let newline = buffered.firstIndex(of: 0x0a) {
                let line = Data(buffered[..<newline])
                buffered.removeSubrange(...newline)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
                do {
                    return try JSONDecoder().decode(QMPMessage<Reply>.self, from: line)
                } catch {
                    let text = String(decoding: line, as: UTF8.self)
                    guard let problem = (error as? DecodingError)?.fieldProblem else {
                        throw BoardError("QMP \(path): not a JSON object: \(text)")
                    }
                    throw BoardError("QMP \(command ?? path): unexpected answer (\(problem)): \(text)")
                }
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = try systemCall("QMP \(path): receive") { recv(descriptor, &chunk, chunk.count, 0) }
            guard count > 0 else { throw BoardError("QMP \(path): QEMU closed the connection") }
            buffered += chunk[..<count]
        }
    }
}
