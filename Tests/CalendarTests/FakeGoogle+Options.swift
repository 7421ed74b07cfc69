import CoordinatorCalendar
import Logging
import ProvisionerTesting
import Synchronization

extension FakeGoogle {
    /// Options pointing at this fake, with retries fast enough for tests.
    func options(boards: [String: String], users: [String: String] = ["alice@example.com": "alice", "bob@example.com": "bob"],
                 keyFile: String? = nil) -> CalendarSyncOptions {
        var options = CalendarSyncOptions(serviceAccountKey: keyFile ?? self.keyFile, apiURL: apiURL, tokenURL: tokenURL,
                                          caFile: caFile, poll: 1, boards: boards, users: users)
        options.retryBase = 0.02
        options.retries = 3
        options.staleGrace = 60
        return options
    }
}

/// Keeps every log line, to look into.
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "calendar-test") { _ in CapturingHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }
}
