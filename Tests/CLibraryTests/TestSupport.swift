import Foundation

/// A fresh folder made by mkdtemp(3) for one test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/clibrary-tests.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

struct CommandFailed: Error, CustomStringConvertible {
    let description: String
}

/// Runs a program to its end and returns what it printed on stdout.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
}

/// Generates a key pair with ssh-keygen in `folder`; returns the public key
/// file's path and its line (`TYPE BASE64 COMMENT`).
func generateKey(_ type: String, comment: String, in folder: String) throws -> (path: String, line: String) {
    let path = "\(folder)/id_\(type)_\(UUID().uuidString.prefix(8))"
    let size = type == "rsa" ? ["-b", "2048"] : []
    try run("/usr/bin/ssh-keygen", ["-q", "-t", type] + size + ["-N", "", "-C", comment, "-f", path])
    let line = try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    return (path + ".pub", line)
}
