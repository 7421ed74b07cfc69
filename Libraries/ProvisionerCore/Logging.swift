import Foundation
import Logging
import SystemSupport

/// Log lines on stderr, one per event. Under systemd (JOURNAL_STREAM set)
/// each line starts with its syslog priority, `<6>`, which journald reads as
/// the level, and carries no timestamp of its own (journald adds one).
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let journald: Bool

    public init(label: String, level: Logger.Level, journald: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil) {
        self.label = label
        self.logLevel = level
        self.journald = journald
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = Self.escaped("\(event.message)\(fields)")
        let line: String
        if journald {
            line = "<\(Self.priority(event.level))>\(text)\n"
        } else {
            line = "\(Self.timestamp()) \(event.level.rawValue.uppercased()) \(label): \(text)\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// `text` with every control character as `\xNN`: one event stays one
    /// line, whatever a user, a file name or a board put in it (a newline
    /// and `<2>` would forge a journald line; an escape sequence would
    /// paint a terminal).
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                let hex = String(scalar.value, radix: 16)
                result += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
    }

    /// sd-daemon(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    private static func timestamp() -> String { ISOTime.format(wallClock(), millis: true) }
}

public enum LogSetup {
    /// Sends every logger to stderr at `level` (from `--log-level`, or the
    /// PROVISIONER_LOG_LEVEL environment variable, default info).
    public static func bootstrap(level: Logger.Level? = nil) {
        let fromEnvironment = ProcessInfo.processInfo.environment["PROVISIONER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        let chosen = level ?? fromEnvironment ?? .info
        LoggingSystem.bootstrap { StderrLogHandler(label: $0, level: chosen) }
    }
}
