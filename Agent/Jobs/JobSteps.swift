import AgentCore
import SystemSupport

/// A job's steps as they run: each one announced to the user and in the
/// board log, and timed; a step ends well when the next begins or the job
/// succeeds (a failure is reported by the job, naming the step).
public final class JobSteps {
    public let kind: String
    private let board: any BoardHandle
    private let report: (String) -> Void
    /// Each finished step with its duration.
    public private(set) var finished: [(name: String, seconds: Double)] = []
    private var running: (name: String, started: Double)?

    init(kind: String, board: any BoardHandle, report: @escaping (String) -> Void) {
        self.kind = kind
        self.board = board
        self.report = report
    }

    /// Ends the running step, if any, as done, and announces `name`.
    func begin(_ name: String) {
        finish()
        running = (name, monotonicSeconds())
        report("\(clockTime()) \(name)…")
        board.console.note("\(kind): \(name)")
    }

    /// Ends the running step as done.
    func finish() {
        guard let running else { return }
        self.running = nil
        let took = monotonicSeconds() - running.started
        finished.append((running.name, took))
        report("\(clockTime()) \(running.name): ok (\(seconds(took)))")
    }
}
