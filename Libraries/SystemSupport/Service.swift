/// A long-running part of a daemon — an SSH port, a TFTP server, a board's
/// console — that a `ServiceGroup` starts and stops.
///
/// After swift-service-lifecycle's `Service`, without async: the work runs
/// on threads of its own (`startThread`), which blocking C libraries need.
public protocol Service: Sendable {
    /// What the group's log lines call the service, e.g. "ssh".
    var name: String { get }

    /// Binds what it serves and starts its threads, then returns. Throws when
    /// the service cannot start (a taken port, a missing key). The group calls
    /// `stop()` then too, so a service that started half of its threads has
    /// them ended: `stop()` must be safe on a service that did not start.
    func start() throws

    /// Asks the service's threads to end, and returns. The group then waits
    /// for every thread the service started (see `ThreadGroup`); a `stop()`
    /// that blocks until its threads ended is as good.
    func stop()

    /// Names of threads the service starts that outlive `stop()` on purpose,
    /// which the group does not wait for. None by default.
    var lingeringThreads: Set<String> { get }
}

extension Service {
    public var lingeringThreads: Set<String> { [] }
}

/// A service made of two functions, for a part that is not a `Service` itself.
public struct ClosureService: Service {
    public let name: String
    public let lingeringThreads: Set<String>
    private let startBody: @Sendable () throws -> Void
    private let stopBody: @Sendable () -> Void

    public init(name: String, lingeringThreads: Set<String> = [], start: @escaping @Sendable () throws -> Void,
                stop: @escaping @Sendable () -> Void) {
        self.name = name
        self.lingeringThreads = lingeringThreads
        startBody = start
        stopBody = stop
    }

    public func start() throws { try startBody() }
    public func stop() { stopBody() }
}
