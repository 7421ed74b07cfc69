import Commands
import Foundation
import Synchronization
import SystemSupport
import Testing
import Web

/// A stop of the web service waits for the consoles it serves: their
/// threads start on libmicrohttpd's threads, and before they joined the
/// service's thread group the daemon went on stopping (and could exit)
/// while a console was still hanging up on its agent.
struct WebServiceStopTests {
    @Test func aStopWaitsForEveryConsoleToEnd() throws {
        let access = WebAccess()
        let token = try access.token(for: "alice", admin: false)
        let consoleStarted = Atomic<Int>(0), consoleEnded = Atomic<Int>(0)
        // The console command: serves until its input ends (the stop closes
        // it), then takes a moment to hang up, as one through an agent does.
        let server = WebServer(access: access, publicURL: "http://127.0.0.1", boards: { _ in [] }, execute: { words, session in
            guard words.first == "console" else { return 2 }
            consoleStarted.add(1, ordering: .sequentiallyConsistent)
            session.streams.write(Array("console of \(words[1])\r\n".utf8))
            while session.read(timeout: 1) != .end {}
            usleep(300_000)
            consoleEnded.add(1, ordering: .sequentiallyConsistent)
            return 0
        })
        let service = WebService(server: server, listen: try SocketAddress(parsing: "127.0.0.1:0"), tls: nil, log: { _ in })
        let events = Mutex<[String]>([])
        let group = ServiceGroup(services: [service], log: { event in events.withLock { $0.append("\(event)") } })
        try group.start()
        let port = try #require(service.localAddress?.port)

        let webSocket = try WebSocketClient(port: port, path: "/api/v1/boards/b1/console",
                                            headers: ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                                                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Authorization: Bearer \(token)"])
        #expect(webSocket.status == 101, "the handshake: \(webSocket.answer)")
        #expect(webSocket.read(until: "console of b1") != nil)
        let eventStream = try WebSocketClient(port: port, path: "/api/v1/boards/b2/console", headers: ["Authorization: Bearer \(token)"])
        #expect(eventStream.status == 200, "the event stream: \(eventStream.answer)")
        let deadline = monotonicSeconds() + 10
        while consoleStarted.load(ordering: .sequentiallyConsistent) < 2 && monotonicSeconds() < deadline { usleep(10_000) }
        #expect(consoleStarted.load(ordering: .sequentiallyConsistent) == 2, "both consoles started")

        // The browser holds its WebSocket open and does not answer the close
        // frame: it is cut off, and every thread of the service ends in time.
        group.stop()
        #expect(consoleEnded.load(ordering: .sequentiallyConsistent) == 2,
                "the web service's stop returned while a console was still running")
        let log = events.withLock { $0 }
        #expect(log.contains { $0.hasPrefix("stopped web") }, "\(log)")
        #expect(webSocket.closeFrame()?.code == 1000, "the console's close frame")
    }
}
