@testable import Boards
import Foundation
import ProvisionerTesting
import Synchronization
import Testing

/// A QMP peer on a unix socket, playing QEMU for one connection: it sends
/// `greeting`, then answers each command with the lines `answers` gives
/// for it (`{"return": {}}` when none), and keeps the lines it got.
final class FakeQMP: Sendable {
    let path: String
    private let listener: Int32
    private let received = Mutex<[String]>([])

    init(in folder: TemporaryDirectory, greeting: String = #"{"QMP": {"version": {"qemu": {"major": 9}}, "capabilities": ["oob"]}}"#,
         answers: [String: [String]]) throws {
        path = folder.path("q.qmp")
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else { throw TestSetupError("fake QMP: cannot listen at \(path)") }
        let thread = Thread { [self] in serve(greeting: greeting, answers: answers) }
        thread.start()
    }

    deinit { close(listener) }

    /// The lines the client sent, in order.
    var lines: [String] { received.withLock { $0 } }

    private func serve(greeting: String, answers: [String: [String]]) {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        func write(_ line: String) { _ = Array((line + "\n").utf8).withUnsafeBytes { send(connection, $0.baseAddress, $0.count, 0) } }
        write(greeting)
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(connection, &chunk, chunk.count, 0)
            guard count > 0 else { return }
            pending += chunk[..<count]
            while let newline = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                received.withLock { $0.append(line) }
                let request = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? NSDictionary
                let command = request?["execute"] as? String ?? ""
                for answer in answers[command] ?? [#"{"return": {}}"#] { write(answer) }
            }
        }
    }
}

struct QMPClientTests {
    @Test func answersAreReadPastEventsAndFieldsQEMUAdded() throws {
        let folder = try TemporaryDirectory(prefix: "qmp")
        let fake = try FakeQMP(in: folder, answers: [
            "query-status": [#"{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}"#,
                             #"{"return": {"status": "running", "singlestep": false, "running": true, "added": [1]}}"#],
            "query-chardev": [#"{"return": [{"frontend-open": true, "filename": "unix:/x", "label": "qmp"},"#
                              + #" {"frontend-open": true, "filename": "pty:/dev/pts/7", "label": "s0"}, {"label": "bare"}]}"#],
        ])
        let client = try QMPClient(path: fake.path, timeout: 2)
        #expect(try client.execute("query-status", returning: QMPStatus.self).running)
        let devices = try client.execute("query-chardev", returning: [QMPChardev].self)
        #expect(devices.map(\.label) == ["qmp", "s0", "bare"] && devices[1].filename == "pty:/dev/pts/7" && devices[2].filename == nil)
        try client.execute("cont")
        #expect(fake.lines == [#"{"execute":"qmp_capabilities"}"#, #"{"execute":"query-status"}"#,
                               #"{"execute":"query-chardev"}"#, #"{"execute":"cont"}"#], "no arguments key without arguments")
    }

    @Test func argumentsAreSentAsTheCommandsOwnType() throws {
        struct HumanMonitorCommand: Encodable {
            var commandLine: String
            enum CodingKeys: String, CodingKey { case commandLine = "command-line" }
        }
        let folder = try TemporaryDirectory(prefix: "qmp")
        let fake = try FakeQMP(in: folder, answers: ["human-monitor-command": [#"{"return": "VM status: running\r\n"}"#]])
        let client = try QMPClient(path: fake.path, timeout: 2)
        let text = try client.execute("human-monitor-command", arguments: HumanMonitorCommand(commandLine: "info status"),
                                      returning: String.self)
        #expect(text == "VM status: running\r\n")
        let sent = try #require(try JSONSerialization.jsonObject(with: Data(fake.lines[1].utf8)) as? NSDictionary)
        #expect(sent == ["execute": "human-monitor-command", "arguments": ["command-line": "info status"]] as NSDictionary)
    }

    @Test func anErrorObjectThrowsItsDescription() throws {
        let folder = try TemporaryDirectory(prefix: "qmp")
        let fake = try FakeQMP(in: folder, answers: [
            "frobnicate": [#"{"error": {"class": "CommandNotFound", "desc": "The command frobnicate has not been found"}}"#],
            "system_reset": [#"{"error": {"class": "GenericError"}}"#],
        ])
        let client = try QMPClient(path: fake.path, timeout: 2)
        #expect(throws: BoardError("QMP frobnicate: The command frobnicate has not been found")) { try client.execute("frobnicate") }
        #expect(throws: BoardError("QMP system_reset: GenericError")) { try client.execute("system_reset") }
        try client.execute("cont")  // the connection is still usable
    }

    @Test func aMalformedAnswerIsOneLine() throws {
        let folder = try TemporaryDirectory(prefix: "qmp")
        let fake = try FakeQMP(in: folder, answers: [
            "query-status": [#"{"return": {"status": "running"}}"#],
            "query-chardev": [#"{"return": {"label": "s0"}}"#],
            "cont": ["[1, 2]"],
        ])
        let client = try QMPClient(path: fake.path, timeout: 2)
        #expect(throws: BoardError(#"QMP query-status: unexpected answer (return.running is missing): {"return": {"status": "running"}}"#)) {
            try client.execute("query-status", returning: QMPStatus.self)
        }
        #expect(throws: BoardError(#"QMP query-chardev: unexpected answer (return is not an array): {"return": {"label": "s0"}}"#)) {
            try client.execute("query-chardev", returning: [QMPChardev].self)
        }
        #expect(throws: BoardError("QMP \(fake.path): not a JSON object: [1, 2]")) { try client.execute("cont") }
    }

    @Test func aPeerThatDoesNotGreetIsRefused() throws {
        let folder = try TemporaryDirectory(prefix: "qmp")
        let fake = try FakeQMP(in: folder, greeting: #"{"return": {}}"#, answers: [:])
        #expect(throws: BoardError("QMP \(fake.path): no greeting")) { try QMPClient(path: fake.path, timeout: 2) }
    }
}
