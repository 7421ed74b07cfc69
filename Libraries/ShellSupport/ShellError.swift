/// Exit statuses of every command (DESIGN.md "What a user types").
public enum ExitStatus: Int32, Sendable {
    case success = 0
    /// The operation failed (no such board, the agent is down, …).
    case failure = 1
    /// The command line is wrong.
    case usage = 2
    /// The caller may not do this (no reservation, not an admin).
    case notAllowed = 3
}

/// Why a command did not succeed: its exit status and the one line printed
/// on stderr. Every command of the agent and the coordinator reports errors
/// this way; each shell's `execute` turns them into what the client sees.
public struct ShellError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: ExitStatus
    public let message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func usage(_ message: String) -> ShellError { ShellError(.usage, message) }
    public static func failure(_ message: String) -> ShellError { ShellError(.failure, message) }
    public static func notAllowed(_ message: String) -> ShellError { ShellError(.notAllowed, message) }

    public var description: String { message }
}
