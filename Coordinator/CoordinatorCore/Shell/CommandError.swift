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
/// on stderr. `LabShell.execute` turns it into what the client sees.
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: ExitStatus
    public let message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func usage(_ message: String) -> CommandError { CommandError(.usage, message) }
    public static func failure(_ message: String) -> CommandError { CommandError(.failure, message) }
    public static func notAllowed(_ message: String) -> CommandError { CommandError(.notAllowed, message) }

    public var description: String { message }
}
