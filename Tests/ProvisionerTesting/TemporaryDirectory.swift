import Foundation

/// A fresh folder made by mkdtemp(3) for one test, removed with everything in
/// it when the last reference goes. Keep it alive for the whole test (a `let`
/// in the test body) and pass `path` to the programs under test.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// - Parameter prefix: names the folder, to tell which test left it.
    public init(prefix: String = "provisioner-test") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw TestSetupError("mkdtemp in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The absolute path of `relative` inside this folder.
    public func path(_ relative: String) -> String {
        relative.isEmpty ? path : path + "/" + relative
    }

    /// Creates `relative` and its parents.
    @discardableResult
    public func createDirectory(_ relative: String) throws -> String {
        let full = path(relative)
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    /// Writes `contents` to `relative`, creating its parent folders.
    @discardableResult
    public func createFile(_ relative: String, contents: Data) throws -> String {
        let full = path(relative)
        let parent = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try contents.write(to: URL(fileURLWithPath: full))
        return full
    }

    @discardableResult
    public func createFile(_ relative: String, text: String) throws -> String {
        try createFile(relative, contents: Data(text.utf8))
    }

    /// Writes `size` random bytes to `relative` and returns them, so every
    /// test compares against content no other test (or stale file) has.
    @discardableResult
    public func createRandomFile(_ relative: String, size: Int) throws -> Data {
        let contents = try RandomBytes.make(count: size)
        try createFile(relative, contents: contents)
        return contents
    }

    /// Sets the permission bits of `relative` (e.g. 0o000 for an unreadable file).
    public func setPermissions(_ relative: String, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path(relative))
    }

    /// Creates a symbolic link at `relative` whose target is `destination`, as given.
    public func createSymbolicLink(_ relative: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path(relative), withDestinationPath: destination)
    }
}

/// Random content from the kernel (fast enough for tens of MiB).
public enum RandomBytes {
    public static func make(count: Int) throws -> Data {
        guard count > 0 else { return Data() }
        guard let urandom = FileHandle(forReadingAtPath: "/dev/urandom") else {
            throw TestSetupError("cannot open /dev/urandom")
        }
        defer { try? urandom.close() }
        var data = Data(capacity: count)
        while data.count < count {
            guard let chunk = try urandom.read(upToCount: min(1 << 20, count - data.count)), !chunk.isEmpty else {
                throw TestSetupError("short read from /dev/urandom")
            }
            data.append(chunk)
        }
        return data
    }
}

/// A test could not set up what it needs (not a failure of the code under test).
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
