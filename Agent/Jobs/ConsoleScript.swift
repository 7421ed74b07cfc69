/// What a step types and waits for, in order: the body of most steps. The
/// machine that owns it hands the operations to the runner one at a time
/// and feeds the answers back; `.succeed` means the last one was done.
struct ConsoleScript: JobStateMachine, Equatable {
    enum Operation: Equatable {
        case send(String)
        case expect(Expectation)
        /// Fails the step here, with this reason: a check that can only be
        /// made once the step has started.
        case fail(String)
    }

    private let operations: [Operation]
    private var position = 0
    /// What each `expect` found, in order.
    private(set) var matches: [ExpectMatch] = []

    init(_ operations: [Operation]) { self.operations = operations }

    mutating func start(at now: Double) -> JobAction {
        position = 0
        matches = []
        return current
    }

    mutating func next(after event: JobEvent, at now: Double) -> JobAction {
        switch event {
        case .done:
            break
        case .matched(let match):
            matches.append(match)
        case .failed(let failure):
            return .perform(.fail(failure))
        case .cancelled:
            return .perform(.fail(JobFailure(cancelled: "cancelled")))
        case .flasher, .flasherQuiet:
            preconditionFailure("a console script got a flasher event: \(event)")
        }
        position += 1
        return current
    }

    private var current: JobAction {
        guard position < operations.count else { return .perform(.succeed) }
        switch operations[position] {
        case .send(let text): return .perform(.send(text))
        case .expect(let expectation): return .perform(.expect(expectation))
        case .fail(let reason): return .perform(.fail(JobFailure(reason: reason)))
        }
    }
}
