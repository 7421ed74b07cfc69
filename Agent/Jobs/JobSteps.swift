import AgentCore

/// A job's steps as they run: each one announced to the user and in the
/// board log, timed, and named in the failure it ends with.
public final class JobSteps {
    public let kind: String
    private let board: any BoardHandle
    private let report: (String) -> Void
    /// Each finished step with its duration.
    public private(set) var finished: [(name: String, seconds: Double)] = []

    init(kind: String, board: any BoardHandle, report: @escaping (String) -> Void) {
        self.kind = kind
        self.board = board
        self.report = report
    }

    func run(_ name: String, _ body: () throws(JobFailure) -> Void) throws(JobFailure) {
        let started = monotonicNow()
        report("\(clockTime()) \(name)…")
        board.console.note("\(kind): \(name)")
        do {
            try body()
        } catch {
            throw error.inStep(name)
        }
        let took = monotonicNow() - started
        finished.append((name, took))
        report("\(clockTime()) \(name): ok (\(seconds(took)))")
    }
}
