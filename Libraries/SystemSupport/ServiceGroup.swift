/// Runs a daemon's services: starts them in order, waits for a stop signal,
/// stops them in reverse order and waits for their threads, then returns, so
/// `main` returns and the process exits 0 with its teardown (atexit handlers,
/// OpenSSL's among them) run after every thread that uses it ended.
///
/// After swift-service-lifecycle's `ServiceGroup` (start in order, graceful
/// shutdown in reverse, a bound on how long it may take), on threads
/// instead of tasks:
///
/// * A service that fails to start stops, with those started before it, in
///   reverse; `start` throws its error.
/// * Each service's `stop()` runs on a thread of its own; the group then
///   waits for every thread the service started (its `ThreadGroup`), at most
///   `stopTimeout` seconds. A service that does not stop in time is
///   reported with the threads still running, and the next one is stopped.
///
/// `run` does all of it on the calling thread (the main one); `start` and
/// `stop` are its two halves, for tests.
public final class ServiceGroup: @unchecked Sendable {
    /// What the group did, for the daemon's log.
    public enum Event: Equatable, Sendable, CustomStringConvertible {
        /// A service started.
        case serviceStarted(String)
        /// Every service started (systemd has been told READY=1).
        case ready
        /// A stop signal arrived; the services stop now.
        case stopping(signal: Int32)
        /// A service stopped and its threads ended, after `milliseconds`.
        case serviceStopped(String, milliseconds: Int)
        /// A service did not stop within `seconds`: its `stop()` had not
        /// returned (`stopReturned` false) or these threads still ran.
        case serviceHung(String, seconds: Double, stopReturned: Bool, threads: [String: Int])
        /// Every service stopped (or was reported hung).
        case stopped

        public var description: String {
            switch self {
            case .serviceStarted(let name): "started \(name)"
            case .ready: "ready"
            case .stopping(let signal): "signal \(signal), stopping"
            case .serviceStopped(let name, let milliseconds): "stopped \(name) (\(milliseconds) ms)"
            case .serviceHung(let name, let seconds, let stopReturned, let threads):
                "\(name) did not stop within \(secondsText(seconds)) s: "
                    + (stopReturned ? "" : "its stop() has not returned; ")
                    + (threads.isEmpty ? "no thread of it runs"
                        : "still running: " + threads.sorted { $0.key < $1.key }
                            .map { $0.value == 1 ? $0.key : "\($0.key) (\($0.value))" }.joined(separator: ", "))
            case .stopped: "stopped"
            }
        }
    }

    public let services: [any Service]
    /// How long each service may take to stop, in seconds.
    public let stopTimeout: Double
    private let threads: [ThreadGroup]
    private let log: @Sendable (Event) -> Void
    private let lock = ConditionLock()
    private var state = State.idle  // guarded by `lock`

    private enum State {
        /// Nothing started yet.
        case idle
        /// `start` started the first `started` services (all of them once it returned).
        case running(started: Int)
        /// `stop` ran (or is running): nothing starts again.
        case stopped
    }

    /// - Parameters:
    ///   - services: started in this order, stopped in reverse.
    ///   - stopTimeout: how long each service may take to stop.
    ///   - log: told every `Event`, on the thread calling `run`, `start` or `stop`.
    public init(services: [any Service], stopTimeout: Double = 5, log: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.services = services
        self.stopTimeout = stopTimeout
        self.log = log
        threads = services.map { ThreadGroup(name: $0.name) }
    }

    /// Starts the services, tells systemd READY=1 (with `status`), waits
    /// until `waitForStop` returns a signal number (`StopSignals.wait`),
    /// tells systemd STOPPING=1 and stops the services.
    /// Throws when a service cannot start, once the started ones stopped.
    public func run(status: String? = nil, until waitForStop: () -> Int32) throws(ServiceGroupError) {
        try start()
        notifySystemd("READY=1" + (status.map { "\nSTATUS=" + $0 } ?? ""))
        log(.ready)
        let signal = waitForStop()
        notifySystemd("STOPPING=1")
        log(.stopping(signal: signal))
        stop()
        log(.stopped)
    }

    /// Starts the services in order. When one throws, it and those started
    /// before it are stopped, in reverse, and its error is thrown.
    public func start() throws(ServiceGroupError) {
        lock.withLock {
            guard case .idle = state else { preconditionFailure("a ServiceGroup starts once") }
            state = .running(started: 0)
        }
        for (index, service) in services.enumerated() {
            var failure: (any Error)?
            do {
                try threads[index].adopt { try service.start() }
            } catch {
                failure = error
            }
            lock.withLock { if case .running = state { state = .running(started: index + 1) } }
            if let failure {
                stop()
                throw ServiceGroupError(service: service.name, error: failure)
            }
            log(.serviceStarted(service.name))
        }
    }

    /// Stops the services started, in reverse order, each within `stopTimeout`.
    /// Only the first call stops anything.
    public func stop() {
        let started = lock.withLock {
            defer { state = .stopped }
            guard case .running(let started) = state else { return 0 }
            return started
        }
        for index in (0..<started).reversed() {
            stop(services[index], threads: threads[index])
        }
    }

    private func stop(_ service: any Service, threads: ThreadGroup) {
        let began = monotonicSeconds()
        let returned = ThreadSignal()
        let body: @Sendable () -> Void = {
            threads.adopt { service.stop() }
            returned.signal()
        }
        // On a thread outside every group, so a stop() that blocks is bounded
        // too; the threads that stop() starts are the service's.
        do { try startThread(named: "stop " + service.name, in: nil, body) } catch { body() }
        let stopReturned = returned.wait(timeout: stopTimeout)
        let left = began + stopTimeout - monotonicSeconds()
        if stopReturned && threads.waitUntilEnded(timeout: left, ignoring: service.lingeringThreads) {
            log(.serviceStopped(service.name, milliseconds: Int((monotonicSeconds() - began) * 1000)))
        } else {
            log(.serviceHung(service.name, seconds: stopTimeout, stopReturned: stopReturned,
                             threads: threads.runningThreads(ignoring: service.lingeringThreads)))
        }
    }
}

/// A service that could not start: which one, and its error.
public struct ServiceGroupError: Error, CustomStringConvertible {
    public let service: String
    public let error: any Error

    public var description: String { "\(service): \(error)" }
}

/// `5` for 5.0, `0.25` for 0.25: a timeout as a person writes it.
private func secondsText(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}
