/// A job as a value: it takes what happened (an event) and says what to do
/// next (an action), and does no I/O itself. `JobRunner` does the I/O. The
/// parts of a job (a console script, reaching the prompt, the prelude) are
/// machines too: a parent reads a part's `.succeed` as "this part is done"
/// and its `.fail` as the job's failure.
///
/// `now` is the runner's monotonic clock, for a job's own deadlines (a
/// flasher that falls silent, the flash job's overall timeout); waits on
/// the console carry their timeout in their `Expectation` instead.
protocol JobStateMachine {
    mutating func start(at now: Double) -> JobAction
    mutating func next(after event: JobEvent, at now: Double) -> JobAction
}

/// What a machine asks of the runner: tell the user `notices`, in order,
/// then do `operation` and answer with one `JobEvent` (`succeed` and `fail`
/// end the job instead).
struct JobAction: Equatable {
    var notices: [JobNotice]
    var operation: JobOperation

    init(_ notices: [JobNotice], _ operation: JobOperation) {
        self.notices = notices
        self.operation = operation
    }

    static func perform(_ operation: JobOperation) -> JobAction { JobAction([], operation) }

    /// The same action with `earlier` told first.
    func after(_ earlier: [JobNotice]) -> JobAction { JobAction(earlier + notices, operation) }
}

/// What the user and the board log are told; needs no answer.
enum JobNotice: Equatable {
    /// Ends the running step, if any, as done, and starts step `name`.
    case beginStep(String)
    /// A line for the user.
    case report(String)
    /// The flasher's latest progress, for the user's progress line.
    case progress(FlashProgress)
}

enum JobOperation: Equatable {
    /// Power on, or cycle a board that is on. Answer: `.done`, or `.failed`
    /// with the switch's error.
    case powerUp
    /// Type `text` on the console. Answer: `.done` or `.failed`.
    case send(String)
    /// Wait on the console. Answer: `.matched`, or `.failed` (the timeout
    /// passed, a fail pattern showed, the job was cancelled).
    case expect(Expectation)
    /// Wait up to half a second for the flasher's next event. Answer:
    /// `.flasher` or `.flasherQuiet`.
    case awaitFlasher
    /// The job is done: its running step ended well.
    case succeed
    /// The job ended with `failure`, in its running step.
    case fail(JobFailure)
}

extension JobOperation {
    var isFailure: Bool {
        if case .fail = self { return true }
        return false
    }
}

enum JobEvent: Equatable {
    /// The operation asked was done.
    case done
    /// The wait asked for found this.
    case matched(ExpectMatch)
    /// The operation asked failed.
    case failed(JobFailure)
    /// The user cancelled the job; the runner did not do the operation asked.
    case cancelled
    /// The flasher posted this event.
    case flasher(FlasherEvent)
    /// No flasher event came; `fetched`: it has fetched its job's manifest.
    case flasherQuiet(fetched: Bool)
}

/// One wait on the console: the first of `patterns` within `timeout`
/// seconds; one of `fail` showing first fails it with the board's line.
struct Expectation: Equatable {
    var patterns: [ExpectPattern]
    var fail: [ExpectPattern]
    var timeout: Double

    init(_ patterns: [ExpectPattern], fail: [ExpectPattern], timeout: Double) {
        self.patterns = patterns
        self.fail = fail
        self.timeout = timeout
    }
}

/// The step a job is in, from the `beginStep`s it told: its failure names it.
struct StepName {
    private(set) var current = ""

    /// `action`, after noting the step it begins; a failure gets the step's name.
    mutating func name(_ action: JobAction) -> JobAction {
        for case .beginStep(let name) in action.notices { current = name }
        guard case .fail(let failure) = action.operation else { return action }
        return JobAction(action.notices, .fail(failure.inStep(current)))
    }
}
