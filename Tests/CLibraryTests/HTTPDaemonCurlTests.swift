#if canImport(Glibc)
import Glibc
#endif
import Curl
import Foundation
import HTTPDaemon
import Testing
import ProvisionerTesting

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks; listening
/// when `listening`, else closed again (a port where nobody answers).
private func loopbackSocket(listening: Bool = true) throws -> (descriptor: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try #require(fd >= 0, "socket: \(String(cString: strerror(errno)))")
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
        }
    }
    try #require(bound, "bind 127.0.0.1:0: \(String(cString: strerror(errno)))")
    if listening {
        try #require(listen(fd, 16) == 0)
    } else {
        close(fd)
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// Runs `body` with a daemon on a fresh loopback port that answers every
/// request with `status`, a test header and "METHOD PATH" as its body.
private func withEchoDaemon(status: Int = 200, _ body: (UInt16) throws -> Void) throws {
    let (fd, port) = try loopbackSocket()
    let daemon = try HTTPDaemon(listeningSocket: fd) { request in
        HTTPResponse(status: status, headers: [("X-Provisioner-Test", "yes"), ("Content-Type", "text/plain")],
                     body: Array("\(request.method) \(request.path)".utf8))
    }
    try withExtendedLifetime(daemon) { try body(port) }
}

@Suite("HTTPDaemon (libmicrohttpd) and CurlRequest (libcurl) against each other")
struct HTTPDaemonCurlTests {
    @Test func curlGetReceivesTheHandlersStatusAndBody() throws {
        try withEchoDaemon(status: 201) { port in
            let response = try CurlRequest(url: "http://127.0.0.1:\(port)/u/alice/Image").perform()
            #expect(response.status == 201)
            #expect(response.text == "GET /u/alice/Image")
        }
    }

    @Test(arguments: ["PUT", "DELETE", "PATCH"])
    func curlSendsItsMethod(_ method: String) throws {
        try withEchoDaemon { port in
            var request = CurlRequest(url: "http://127.0.0.1:\(port)/files")
            request.method = method
            let response = try request.perform()
            #expect(response.status == 200)
            #expect(response.text == "\(method) /files")
        }
    }

    @Test func curlPostWithABodyIsAnswered() throws {
        try withEchoDaemon(status: 202) { port in
            var request = CurlRequest(url: "http://127.0.0.1:\(port)/api/v1/jobs/42/events")
            request.method = "POST"
            request.headers = ["Content-Type: application/json"]
            request.body = Array("{\"progress\": 50}".utf8)
            let response = try request.perform()
            #expect(response.status == 202)
            #expect(response.text == "POST /api/v1/jobs/42/events")
        }
    }

    @Test(arguments: [404, 500, 503])
    func errorStatusesAreResponsesNotErrors(_ status: Int) throws {
        try withEchoDaemon(status: status) { port throws in
            #expect(try CurlRequest(url: "http://127.0.0.1:\(port)/missing").perform().status == status)
        }
    }

    @Test func handlerHeadersReachTheClient() throws {
        try withEchoDaemon(status: 201) { port in
            let response = try rawTCPExchange(port: port, "GET /with/headers HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let lines = response.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first == "HTTP/1.1 201 Created")
            #expect(lines.contains("X-Provisioner-Test: yes"))
            #expect(lines.contains("Content-Type: text/plain"))
            #expect(lines.contains("Content-Length: 17"))
            #expect(lines.last == "GET /with/headers")
        }
    }

    @Test func largeBodyArrivesWhole() throws {
        let payload = (0..<(1 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let (fd, port) = try loopbackSocket()
        let daemon = try HTTPDaemon(listeningSocket: fd) { _ in HTTPResponse(status: 200, body: payload) }
        try withExtendedLifetime(daemon) {
            let response = try CurlRequest(url: "http://127.0.0.1:\(port)/big").perform()
            #expect(response.body.count == payload.count)
            #expect(response.body == payload)
        }
    }

    /// Once, a test closed a socket number twice and the second close hit
    /// a parallel test's listening socket: that daemon's workers were no
    /// longer woken by `stop`, which waited forever. They are woken through
    /// their own channel (MHD_USE_ITC), whatever became of the socket.
    @Test func stopReturnsWhenTheListeningSocketsNumberWasTakenOver() throws {
        let (fd, port) = try loopbackSocket()
        let daemon = try HTTPDaemon(listeningSocket: fd) { _ in HTTPResponse(status: 200, body: Array("up".utf8)) }
        #expect(try CurlRequest(url: "http://127.0.0.1:\(port)/").perform().text == "up")
        // Another socket takes the number: the listening socket is closed
        // (and leaves the workers' epoll sets) without the daemon knowing.
        let other = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(other >= 0)
        try #require(dup2(other, fd) == fd)
        close(other)
        let stopped = DispatchSemaphore(value: 0)
        Thread {
            daemon.stop()
            stopped.signal()
        }.start()
        // On failure the stopping thread stays stuck; the test still ends.
        #expect(stopped.wait(timeout: .now() + 20) == .success, "stop did not return within 20 s")
    }

    @Test func unreachablePortThrowsAClearCurlError() throws {
        let (_, port) = try loopbackSocket(listening: false)
        let url = "http://127.0.0.1:\(port)/nothing"
        var request = CurlRequest(url: url)
        request.timeoutSeconds = 5
        do {
            _ = try request.perform()
            Issue.record("a request to a closed port succeeded")
        } catch {
            #expect(error.description.hasPrefix("\(url): "))
            #expect(error.description.contains("port \(port)"), "\(error)")
            #expect(error.description.lowercased().contains("connect"), "\(error)")
        }
    }

    /// One client address holds at most `perAddressConnectionLimit`
    /// connections: the next is closed at once, while another address is
    /// still served, and the first is again once it lets one go.
    @Test func oneAddressCannotTakeEveryConnection() throws {
        var options = HTTPDaemonOptions()
        options.perAddressConnectionLimit = 3
        let (fd, port) = try loopbackSocket()
        let daemon = try HTTPDaemon(listeningSocket: fd, options: options) { request in
            HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("\(request.method) \(request.path)".utf8))
        }
        let idle = try (0..<3).map { _ in try tcpConnection(from: "127.0.0.1", to: port) }
        // idle[0] is closed below, mid-test; closing its number again here
        // would close whatever another test opened under it since (once, a
        // parallel test's listening socket: its daemon's stop then hung).
        defer { idle.dropFirst().forEach { close($0) } }
        let refused = try tcpConnection(from: "127.0.0.1", to: port)
        defer { close(refused) }
        #expect(tcpExchange(refused, "GET /more HTTP/1.0\r\n\r\n") == "", "a 4th connection from 127.0.0.1 was served")
        let other = try tcpConnection(from: "127.0.0.2", to: port)
        defer { close(other) }
        #expect(tcpExchange(other, "GET /other HTTP/1.0\r\n\r\n").hasSuffix("GET /other"), "127.0.0.2 was not served")
        close(idle[0])
        usleep(200_000)
        let again = try tcpConnection(from: "127.0.0.1", to: port)
        defer { close(again) }
        #expect(tcpExchange(again, "GET /again HTTP/1.0\r\n\r\n").hasSuffix("GET /again"))
        withExtendedLifetime(daemon) {}
    }

    @Test func unsupportedSchemeThrowsACurlError() {
        do {
            _ = try CurlRequest(url: "gopherx://127.0.0.1/").perform()
            Issue.record("an unsupported scheme was accepted")
        } catch {
            #expect(error.description.hasPrefix("gopherx://127.0.0.1/: "))
            #expect(error.description.contains("not supported"), "\(error)")
        }
    }
}

