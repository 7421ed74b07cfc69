import ArgumentParser
import Foundation
import Logging
import SystemSupport

/// What the daemons' binaries share: `main`'s error mapping and the one
/// lifecycle (a `ServiceGroup` until a stop signal, its events as log lines).
public enum Daemon {
    /// `main` of `provisioner-agent` and `provisioner-coordinator` (DESIGN.md):
    /// usage and config errors exit 2 with one line, a service that cannot
    /// start exits 1 with one line "BINARY: what", anything else as
    /// swift-argument-parser reports it. Returns when the command returned
    /// (`main` returns, and the process exits 0 with its teardown run).
    public static func main<Root: ParsableCommand>(_ root: Root.Type) {
        // Swift reads the arguments from /proc/self/cmdline: without /proc
        // (a chroot) there are none, not even the program's name, and the
        // help would be printed with status 0, as if `check-config` passed.
        guard !CommandLine.arguments.isEmpty else {
            FileHandle.standardError.write(Data(("\(Root.configuration.commandName ?? "provisioner"): cannot read its command line "
                                                 + "from /proc/self/cmdline (is /proc mounted?)\n").utf8))
            Foundation.exit(2)
        }
        do {
            var command = try Root.parseAsRoot()
            try command.run()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            Foundation.exit(2)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("\(Root.configuration.commandName ?? "provisioner"): \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            if Root.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((Root.fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            Root.exit(withError: error)
        }
    }

    /// Runs `services` until one of `signals` other than SIGHUP arrives,
    /// then stops them (see `ServiceGroup.run`). SIGHUP, which asks a daemon
    /// to reload, stops nothing: a reload is not supported, so it is logged
    /// and the daemon carries on (it used to stop with status 0, which
    /// systemd's `Restart=on-failure` does not restart, and every console
    /// with it). Every event is logged as "NAME: EVENT" — a
    /// service's start and stop as details, one that does not stop as a
    /// warning — but `ready`, which logs `readyLine()` instead (nothing when
    /// it returns nil: the service said it). A service that cannot start is
    /// a `StartupError`, but a `ConfigError`, which is thrown as it is.
    public static func serve(_ name: String, services: [any Service], status: String? = nil, signals: StopSignals,
                             logger: Logger, readyLine: @escaping @Sendable () -> String? = { nil }) throws {
        let group = ServiceGroup(services: services) { event in
            switch event {
            case .ready: if let line = readyLine() { logger.info("\(line)") }
            case .serviceStarted, .serviceStopped: logger.debug("\(name): \(event)")
            case .serviceHung: logger.warning("\(name): \(event)")
            case .stopping, .stopped: logger.info("\(name): \(event)")
            }
        }
        do {
            try group.run(status: status, until: { waitForStop(signals, name: name, logger: logger) })
        } catch {
            if let error = error.error as? ConfigError { throw error }
            throw StartupError(description: "\(error)")
        }
    }
}

/// The next of `signals` that stops the daemon: a SIGHUP is answered
/// with a log line and waited past.
private func waitForStop(_ signals: StopSignals, name: String, logger: Logger) -> Int32 {
    while true {
        let signal = signals.wait()
        guard signal == SIGHUP else { return signal }
        logger.warning("\(name): SIGHUP: reload is not supported; restart to apply a config change")
    }
}

/// A service that cannot start: one line, exit 1.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}
