import Foundation

/// A fresh folder made by mkdtemp(3) for the length of `body`, then removed.
public func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let folder = try TemporaryDirectory(prefix: "provisioner-test")
    return try withExtendedLifetime(folder) { try body(folder.path) }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public let description: String
}

/// Runs a program to its end and returns what it printed on stdout; throws
/// `CommandFailed` when it exits non-zero.
@discardableResult
public func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe.closedOnExec()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try RunningProcess.withSignalsUnblocked { try process.run() }
    try? output.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
}

/// Sends `request` on a plain TCP connection to 127.0.0.1:`port` and reads
/// the answer until the server closes the connection or `timeout` seconds pass.
public func rawTCPExchange(port: UInt16, _ request: String, timeout seconds: Int = 5) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
    address.sin_port = port.bigEndian
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw TestSetupError("connect: \(String(cString: strerror(errno)))") }
    let bytes = Array(request.utf8)
    guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
        throw TestSetupError("send: \(String(cString: strerror(errno)))")
    }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK {
            throw TestSetupError("recv: \(String(cString: strerror(errno)))")
        }
        if n <= 0 { break }
        response += buffer[..<n]
    }
    return String(decoding: response, as: UTF8.self)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// Polls an async `condition` (an ssh command, say) every 100 ms until it
/// holds or `timeout` passes; a throw counts as not yet.
public func eventuallyAsync(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return (try? await condition()) == true
}
