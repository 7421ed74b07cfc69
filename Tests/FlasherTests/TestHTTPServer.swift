import Foundation
import Testing

/// A local HTTP server for the flasher's tests: python3 serving a folder on
/// 127.0.0.1 with Range support (python's own http.server has none), started
/// and stopped by its PID. `dieAfter` makes it exit abruptly once it has sent
/// that many body bytes, as a server killed mid-download.
final class TestHTTPServer {
    let process: Process
    let port: Int
    let root: URL

    static let script = #"""
import http.server, os, re, sys, socketserver
root, port_file, port, die_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sent = [0]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/").split("?")[0])
        if not os.path.isfile(path):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        size = os.path.getsize(path)
        with open(os.path.join(root, "requests.log"), "a") as f: f.write("GET %s %s\n" % (self.path, self.headers.get("Range", "")))
        interim = re.search(r"interim=(\d+)", self.path)
        if interim:
            try:
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * int(interim.group(1)))
            except OSError:
                return
        start, status = 0, 200
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if m:
            start, status = int(m.group(1)), 206
        if self.path.endswith("?chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with open(path, "rb") as f:
                n = 1
                while True:
                    block = f.read(n)
                    if not block: break
                    self.wfile.write(b"%x;ext=1\r\n" % len(block) + block + b"\r\n")
                    n = n * 3 + 1 if n < 300000 else 1
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
            return
        self.send_response(status)
        self.send_header("Content-Length", str(size - start))
        self.send_header("ETag", '"%d"' % size)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            while True:
                block = f.read(65536)
                if not block: break
                if die_after and sent[0] + len(block) > die_after:
                    self.wfile.write(block[: die_after - sent[0]]); self.wfile.flush()
                    os._exit(1)
                self.wfile.write(block)
                sent[0] += len(block)
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with open(os.path.join(root, "events.log"), "ab") as f: f.write(body + b"\n")
        with open(os.path.join(root, "events.auth"), "a") as f: f.write(self.headers.get("Authorization", "-") + "\n")
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True
server = Server(("127.0.0.1", port), Handler)
with open(port_file + ".tmp", "w") as f: f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#

    init(root: URL, port: Int = 0, dieAfter: Int = 0) throws {
        self.root = root
        let portFile = root.appendingPathComponent(".port-\(UUID().uuidString)")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.script, root.path, portFile.path, String(port), String(dieAfter)]
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: portFile.path) {
            guard Date() < deadline, process.isRunning else { throw TestFailure("the test HTTP server did not start") }
            usleep(20_000)
        }
        self.port = Int(try String(contentsOf: portFile, encoding: .utf8))!
        try? FileManager.default.removeItem(at: portFile)
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }

    /// Waits for the server to end by itself (dieAfter), up to `seconds`.
    func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh folder under /tmp, removed with its contents at deinit.
final class TemporaryFolder {
    let url: URL
    /// A new folder in `parent` (the temporary directory by default).
    init(in parent: String = NSTemporaryDirectory()) throws {
        url = URL(fileURLWithPath: parent).appendingPathComponent("flasher-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Runs a tool and returns its status; stdout to `output` if given.
@discardableResult
func runTool(_ path: String, _ arguments: [String], output: String? = nil) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let output {
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output)
    }
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// A test image: `megabytes` MiB, every third MiB random, the rest zeros
/// left as holes (a sparse file, as bmaptool wants).
func makeImage(at path: String, megabytes: Int, seed: UInt64 = 1) throws -> Data {
    var generator = SplitMix(seed: seed)
    var data = Data(count: megabytes << 20)
    data.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for mib in stride(from: 0, to: megabytes, by: 3) {
            for index in (mib << 17)..<((mib + 1) << 17) { words[index] = generator.next() }
        }
    }
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    for mib in stride(from: 0, to: megabytes, by: 3) {
        try handle.seek(toOffset: UInt64(mib << 20))
        handle.write(data.subdata(in: (mib << 20)..<((mib + 1) << 20)))
    }
    try handle.truncate(atOffset: UInt64(megabytes << 20))
    try handle.close()
    return data
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
