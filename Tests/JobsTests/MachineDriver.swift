import AgentCore
@testable import Jobs
import ProvisionerTesting

/// Drives a job's state machine by hand, in place of `JobRunner`: no
/// console, no power, no clock. Keeps every action the machine asked for.
struct MachineDriver<Machine: JobStateMachine> {
    var machine: Machine
    /// The clock the machine is told, in seconds.
    var now = 0.0
    private(set) var actions: [JobAction] = []

    init(_ machine: Machine) { self.machine = machine }

    var last: JobAction { actions[actions.count - 1] }

    @discardableResult
    mutating func start() -> JobAction {
        actions = [machine.start(at: now)]
        return last
    }

    /// Answers the last action with `event`, `seconds` later.
    @discardableResult
    mutating func answer(_ event: JobEvent, after seconds: Double = 0) -> JobAction {
        now += seconds
        actions.append(machine.next(after: event, at: now))
        return last
    }

    /// Answers as `board` until the job ends or `stop` holds for an
    /// action; returns that action.
    @discardableResult
    mutating func run(answering board: (JobOperation) -> JobEvent = obligingBoard,
                      until stop: (JobAction) -> Bool = { _ in false }) -> JobAction {
        while !last.operation.endsTheJob && !stop(last) {
            precondition(actions.count < 10_000, "the machine never ends")
            answer(board(last.operation))
        }
        return last
    }

    /// Every step begun, in order.
    var steps: [String] {
        actions.flatMap(\.notices).compactMap { notice in
            if case .beginStep(let name) = notice { return name }
            return nil
        }
    }

    /// Every line reported to the user.
    var reports: [String] {
        actions.flatMap(\.notices).compactMap { notice in
            if case .report(let line) = notice { return line }
            return nil
        }
    }

    /// Everything typed on the console, in order.
    var typed: [String] {
        actions.compactMap { action in
            if case .send(let text) = action.operation { return text }
            return nil
        }
    }

    /// Every wait asked for.
    var waits: [Expectation] {
        actions.compactMap { action in
            if case .expect(let expectation) = action.operation { return expectation }
            return nil
        }
    }

    var failure: JobFailure? {
        if case .fail(let failure) = last.operation { return failure }
        return nil
    }
}

extension JobOperation {
    var endsTheJob: Bool {
        switch self {
        case .succeed, .fail: true
        default: false
        }
    }

    var failure: JobFailure? {
        if case .fail(let failure) = self { return failure }
        return nil
    }

    var isWait: Bool {
        if case .expect = self { return true }
        return false
    }
}

/// A board that does what it is told: power and typing work, every wait
/// finds its first pattern (a TFTP transfer of 1234 bytes at 1.5 MiB/s),
/// and the flasher reports success at once.
func obligingBoard(_ operation: JobOperation) -> JobEvent {
    switch operation {
    case .expect(let expectation):
        let pattern = expectation.patterns[0].text
        let before = pattern == "Bytes transferred = " ? "Loading: #####\r\n\t 1.5 MiB/s\r\ndone\r\n" : "1234 (4d2 hex)\r\n"
        return .matched(ExpectMatch(index: 0, matched: pattern, before: before))
    case .awaitFlasher:
        return .flasher(.success)
    default:
        return .done
    }
}

/// What a board would answer when a wait fails on one of U-Boot's errors.
func boardSaid(_ line: String) -> JobEvent {
    .failed(JobFailure(reason: "the board said '\(line)'"))
}

/// A board config from a minimal agent.yaml, its profile changed by `change`.
func boardConfig(network: Bool = true, _ change: (inout UBootProfile) -> Void = { _ in }) throws -> BoardConfig {
    var config = try FakeBoard(name: "b1", boardIP: network ? "10.0.0.5" : nil).config
    change(&config.uboot)
    return config
}
