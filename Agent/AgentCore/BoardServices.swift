/// The seams between the agent's board services (serial console, power) and
/// the front ends that use them (the agent's SSH port, jobs). The real
/// implementations live in the `Boards` module; fakes for tests in
/// `ProvisionerTesting`.

public enum PowerAction: String, Sendable, CaseIterable {
    case on, off, cycle, status
}

public enum PowerState: String, Sendable {
    case on, off, unknown
}

/// A board's power switch: gpio (libgpiod), command, or qemu (QMP).
/// Calls block (a relay, a shell command, a QMP round trip): never call them
/// on Swift's cooperative pool or inside an actor.
public protocol PowerSwitch: AnyObject, Sendable {
    func powerOn() throws
    func powerOff() throws
    /// Off, the configured delay, on.
    func cycle() throws
    func status() throws -> PowerState
}

/// What an attached console session receives, in order.
public enum ConsoleChunk: Sendable, Equatable {
    /// Bytes from the board (the scrollback replay first, on attach).
    case output([UInt8])
    /// A line from the agent itself, e.g. "serial device gone, waiting for it".
    case notice(String)
    /// This session was too slow: so many bytes of its backlog were dropped.
    case dropped(Int)
}

/// One board's serial console, shared by every session attached to it.
public protocol ConsoleHub: AnyObject, Sendable {
    /// Attaches a session. `deliver` is called in order, from the hub's own
    /// thread, never blocking it for long (a slow session drops its backlog).
    /// `replay`: the scrollback comes first (people want it; jobs do not).
    func attach(readOnly: Bool, replay: Bool, deliver: @escaping @Sendable (ConsoleChunk) -> Void) -> ConsoleSession
    /// Opens the on-disk log (timestamped lines) to read from `start` on.
    /// `follow`: a line still being written is given once it is complete;
    /// otherwise the last read gives it as it is.
    func openLog(from start: ConsoleLogStart, follow: Bool) throws -> any ConsoleLogReader
    /// A line from the agent (a job's step) for the log and every session.
    func note(_ text: String)
    /// Bytes read from the board since the agent started (for metrics).
    var bytesRead: Int64 { get }
    /// Bytes typed to the board since the agent started.
    var bytesWritten: Int64 { get }
    /// The sessions attached now (consoles, watchers, jobs).
    var sessionCount: Int { get }
}

extension ConsoleHub {
    public var bytesRead: Int64 { 0 }
    public var bytesWritten: Int64 { 0 }
    public var sessionCount: Int { 0 }

    /// Attaches with the scrollback replayed first.
    public func attach(readOnly: Bool, deliver: @escaping @Sendable (ConsoleChunk) -> Void) -> ConsoleSession {
        attach(readOnly: readOnly, replay: true, deliver: deliver)
    }

    /// The on-disk log's lines since a Unix time, or all of them, oldest first.
    public func logLines(since: Double?) throws -> [String] {
        var lines: [String] = []
        try openLog(from: since.map { .since($0) } ?? .tail(bytes: .max), follow: false).read { lines.append($0) }
        return lines
    }
}

/// Where reading a console's on-disk log starts.
public enum ConsoleLogStart: Sendable, Equatable {
    /// At the first line stamped at or after this Unix time; a file last
    /// written before it is not opened.
    case since(Double)
    /// At the first whole line within the log's last so many bytes; older
    /// files are not opened.
    case tail(bytes: Int)
}

/// A console's on-disk log being read. It remembers where it got to, so
/// each `read` gives only the lines that came since the last one, also
/// across a rotation.
public protocol ConsoleLogReader: AnyObject {
    /// Gives each line not given before, oldest first, without its line end
    /// (nor a carriage return before it).
    func read(_ line: (String) -> Void) throws
}

/// A session's handle on a console; detaching happens on `detach()` or deinit.
public protocol ConsoleSession: AnyObject, Sendable {
    var readOnly: Bool { get }
    /// Types bytes on the line; throws for a read-only session or when the
    /// device is gone.
    func write(_ bytes: [UInt8]) throws
    /// A serial break.
    func sendBreak() throws
    func detach()
}

/// A board as the front ends see it.
public protocol BoardHandle: AnyObject, Sendable {
    var config: BoardConfig { get }
    var console: any ConsoleHub { get }
    var power: any PowerSwitch { get }
}
