#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: what was attempted and the `errno` it left.
public struct SystemError: Error, Equatable, CustomStringConvertible, Sendable {
    public let code: Int32
    public let operation: String

    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    /// The C library's text for `code`, e.g. "No such file or directory".
    public var reason: String { String(cString: strerror(code)) }

    public var description: String { "\(operation): \(reason)" }
}

/// Runs a system call until it is not interrupted (EINTR), throwing
/// `SystemError` when it returns -1.
@inline(__always)
@discardableResult
public func systemCall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String,
                                             _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(operation(), code: code)
    }
}

/// `mkdir -p`.
public func makeDirectories(_ path: String) throws(SystemError) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw SystemError("mkdir \(current)")
        }
    }
}
