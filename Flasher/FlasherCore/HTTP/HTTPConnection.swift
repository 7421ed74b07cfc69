#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// The status line and headers of an HTTP/1.1 response.
public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var reason: String
    /// Names lowercased, in order.
    public var headers: [(name: String, value: String)]

    /// The first header called `name` (any case).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name == lowered }?.value
    }
}

/// One HTTP/1.1 exchange over a TCP socket: send a request, read the head,
/// then the body framed by Content-Length, chunked transfer coding, or the
/// end of the connection. Every request says `Connection: close`, so one
/// connection serves one request. Reads and writes time out (`timeout`).
public final class HTTPConnection {
    private let descriptor: Int32
    public let url: HTTPURL
    /// Bytes read from the socket but not yet consumed.
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    /// What `fill` receives into before it joins `buffer`.
    private var scratch = [UInt8](repeating: 0, count: 16384)
    private var framing = Framing.untilClose
    private var finished = false

    private enum Framing {
        case length(remaining: Int64)
        /// `remaining` bytes of the current chunk; nil before a chunk-size line.
        case chunked(remaining: Int64?)
        case untilClose
    }

    /// Connects to the URL's host and port.
    public init(url: HTTPURL, timeout: Double) throws(FlasherError) {
        self.url = url
        let address: SocketAddress
        do {
            address = try SocketAddress(host: url.host, port: url.port)
        } catch {
            throw FlasherError(.network, "\(url.host): \(error.description)")
        }
        let domain = address.family == .inet ? AF_INET : AF_INET6
        let fd = socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FlasherError(.network, "socket", code: errno) }
        descriptor = fd
        do {
            try connect(to: address, timeout: timeout)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var size: Int32 = 4 << 20
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            let micros = Int(timeout * 1_000_000)
            var tv = timeval(tv_sec: micros / 1_000_000, tv_usec: micros % 1_000_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        } catch {
            close(fd)
            throw error
        }
    }

    /// Takes over a connected stream socket (the fuzz target reads responses
    /// from one end of a socket pair); closes it when done.
    public init(adopting descriptor: Int32, url: HTTPURL) {
        self.descriptor = descriptor
        self.url = url
    }

    deinit { close(descriptor) }

    private func connect(to address: SocketAddress, timeout: Double) throws(FlasherError) {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        let result = address.withSockAddr { Glibc.connect(descriptor, $0, $1) }
        if result != 0 {
            guard errno == EINPROGRESS || errno == EINTR else {
                throw FlasherError(.network, "connect to \(address)", code: errno)
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let deadline = monotonicSeconds() + timeout
            while true {
                let left = Int32(max(0, (deadline - monotonicSeconds()) * 1000))
                let ready = poll(&poller, 1, left)
                if ready < 0 && errno == EINTR { continue }
                guard ready > 0 else {
                    throw FlasherError(.network, "connect to \(address): no answer within \(Int(timeout)) s", code: ETIMEDOUT)
                }
                break
            }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length)
            guard failure == 0 else { throw FlasherError(.network, "connect to \(address)", code: failure) }
        }
        _ = fcntl(descriptor, F_SETFL, flags)
    }

    /// Sends a request; `headers` go after Host and Connection.
    public func send(method: String, headers: [(String, String)] = [], body: [UInt8] = []) throws(FlasherError) {
        var text = "\(method) \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nConnection: close\r\n"
        text += "User-Agent: provisioner-flasher/\(Provisioner.version)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        let bytes = Array(text.utf8) + body
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FlasherError(.network, "send to \(url.hostHeader)", code: errno)
            }
            sent += n
        }
    }

    /// Reads up to `count` bytes from the socket into `pointer`; 0 at its end.
    private func receive(_ pointer: UnsafeMutableRawPointer, _ count: Int) throws(FlasherError) -> Int {
        while true {
            let n = recv(descriptor, pointer, count, 0)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw FlasherError(.network, "\(url.hostHeader) sent nothing for too long", code: ETIMEDOUT)
            default: throw FlasherError(.network, "receive from \(url.hostHeader)", code: errno)
            }
        }
    }

    /// Reads more into `buffer`; false at the end of the connection.
    private func fill() throws(FlasherError) -> Bool {
        if bufferStart > 0 {
            buffer.removeFirst(bufferStart)
            bufferStart = 0
        }
        let n = try scratch.withUnsafeMutableBytes { raw in
            Result { () throws(FlasherError) -> Int in try receive(raw.baseAddress!, raw.count) }
        }.get()
        buffer.append(contentsOf: scratch[..<n])
        return n > 0
    }

    /// One CRLF-terminated line (without the CRLF); at most `limit` bytes.
    private func readLine(limit: Int = 8192) throws(FlasherError) -> String {
        while true {
            if let newline = buffer[bufferStart...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > bufferStart && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[bufferStart..<end], as: UTF8.self)
                bufferStart = newline + 1
                return line
            }
            guard buffer.count - bufferStart <= limit else {
                throw FlasherError(.network, "\(url.hostHeader) sent a header line longer than \(limit) bytes")
            }
            guard try fill() else {
                throw FlasherError(.network, "\(url.hostHeader) closed the connection in the middle of a response", code: ECONNRESET)
            }
        }
    }

    /// Reads the status line and headers, and learns how the body is framed.
    /// Interim (1xx) responses are skipped, at most 10: a server that sends
    /// them without end is refused, never followed down the stack of PID 1.
    public func readHead(method: String = "GET") throws(FlasherError) -> HTTPResponseHead {
        for _ in 0..<10 {
            let head = try readOneHead()
            if head.status >= 200 {
                try frame(head, method: method)
                return head
            }
        }
        throw FlasherError(.network, "\(url.hostHeader) sent more than 10 interim (1xx) responses")
    }

    private func readOneHead() throws(FlasherError) -> HTTPResponseHead {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...999).contains(status) else {
            throw FlasherError(.network, "\(url.hostHeader) did not answer with HTTP/1.x: '\(statusLine.prefix(80))'")
        }
        var head = HTTPResponseHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: [])
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard head.headers.count < 100 else { throw FlasherError(.network, "\(url.hostHeader) sent more than 100 headers") }
            guard let colon = line.firstIndex(of: ":") else {
                throw FlasherError(.network, "\(url.hostHeader) sent a malformed header '\(line.prefix(80))'")
            }
            head.headers.append((String(line[..<colon]).lowercased(), String(line[line.index(after: colon)...]).trimmed))
        }
        return head
    }

    /// Learns from `head` how its body is framed.
    private func frame(_ head: HTTPResponseHead, method: String) throws(FlasherError) {
        let status = head.status
        if method == "HEAD" || status == 204 || status == 304 {
            framing = .length(remaining: 0)
        } else if let coding = head.header("transfer-encoding") {
            guard coding.lowercased() == "chunked" else {
                throw FlasherError(.network, "\(url.hostHeader) used the transfer coding '\(coding.prefix(40))' (only chunked is known)")
            }
            framing = .chunked(remaining: nil)
        } else if let lengthText = head.header("content-length") {
            guard let length = Int64(lengthText), length >= 0 else {
                throw FlasherError(.network, "\(url.hostHeader) sent Content-Length '\(lengthText.prefix(40))'")
            }
            framing = .length(remaining: length)
        } else {
            framing = .untilClose
        }
    }

    /// Reads body bytes into `destination`; 0 once the body is complete.
    /// A connection that ends before the framing says is an error.
    public func readBody(into destination: UnsafeMutableRawBufferPointer) throws(FlasherError) -> Int {
        guard !finished, !destination.isEmpty else { return 0 }
        switch framing {
        case .length(let remaining):
            if remaining == 0 { finished = true; return 0 }
            let n = try readRaw(into: destination, limit: remaining)
            guard n > 0 else {
                throw FlasherError(.network, "\(url.hostHeader) closed the connection \(remaining) bytes before the end of the body", code: ECONNRESET)
            }
            framing = .length(remaining: remaining - Int64(n))
            return n
        case .untilClose:
            let n = try readRaw(into: destination, limit: Int64.max)
            if n == 0 { finished = true }
            return n
        case .chunked(let remaining):
            if let remaining, remaining > 0 {
                let n = try readRaw(into: destination, limit: remaining)
                guard n > 0 else {
                    throw FlasherError(.network, "\(url.hostHeader) closed the connection inside a chunk", code: ECONNRESET)
                }
                framing = .chunked(remaining: remaining - Int64(n))
                return n
            }
            if remaining == 0 {
                guard try readLine().isEmpty else { throw FlasherError(.network, "\(url.hostHeader) sent a chunk without its CRLF") }
            }
            let sizeLine = try readLine()
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map { $0.trimmed } ?? ""
            guard let size = Int64(sizeText, radix: 16), size >= 0, sizeText.count <= 15 else {
                throw FlasherError(.network, "\(url.hostHeader) sent a bad chunk size '\(sizeLine.prefix(40))'")
            }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailers
                finished = true
                return 0
            }
            framing = .chunked(remaining: size)
            return try readBody(into: destination)
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    public func readWholeBody(limit: Int) throws(FlasherError) -> [UInt8] {
        var body: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try piece.withUnsafeMutableBytes { raw in
                Result { () throws(FlasherError) -> Int in try readBody(into: raw) }
            }.get()
            if n == 0 { return body }
            body.append(contentsOf: piece[..<n])
            guard body.count <= limit else { throw FlasherError(.download, "\(url) is larger than \(limit) bytes") }
        }
    }

    /// Buffered bytes first, then straight from the socket into `destination`.
    private func readRaw(into destination: UnsafeMutableRawBufferPointer, limit: Int64) throws(FlasherError) -> Int {
        let wanted = Int(min(Int64(destination.count), limit))
        let buffered = buffer.count - bufferStart
        if buffered > 0 {
            let n = min(wanted, buffered)
            buffer.withUnsafeBytes { destination.baseAddress!.copyMemory(from: $0.baseAddress! + bufferStart, byteCount: n) }
            bufferStart += n
            return n
        }
        return try receive(destination.baseAddress!, wanted)
    }
}
