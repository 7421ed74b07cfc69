import SystemSupport
import Wire

/// Runs a job's state machine: tells the user and the board log what it
/// says, does the I/O it asks for (power, typing and waiting on the
/// console, polling the flasher) and hands back what happened, until it
/// succeeds or fails. It decides nothing itself; a cancel is checked before
/// each operation and, inside console waits, every 100 ms.
final class JobRunner {
    private let driver: UBootDriver
    private let steps: JobSteps?
    private let report: (String) -> Void
    private let progress: (FlashProgress) -> Void
    private let flasher: FlasherFeed?
    private let isCancelled: @Sendable () -> Bool

    /// `steps` nil: steps go untold (the console menu's reset to U-Boot).
    init(driver: UBootDriver, steps: JobSteps? = nil, report: @escaping (String) -> Void = { _ in },
         progress: @escaping (FlashProgress) -> Void = { _ in }, flasher: FlasherFeed? = nil,
         isCancelled: @escaping @Sendable () -> Bool) {
        self.driver = driver
        self.steps = steps
        self.report = report
        self.progress = progress
        self.flasher = flasher
        self.isCancelled = isCancelled
    }

    /// Throws the failure the machine ends with, naming its step.
    func run(_ machine: inout some JobStateMachine) throws(JobFailure) {
        var action = machine.start(at: monotonicSeconds())
        while true {
            for notice in action.notices {
                switch notice {
                case .beginStep(let name): steps?.begin(name)
                case .report(let line): report(line)
                case .progress(let update): progress(update)
                }
            }
            let event: JobEvent
            switch action.operation {
            case .succeed:
                steps?.finish()
                return
            case .fail(let failure):
                throw failure
            case .awaitFlasher:
                guard let flasher else { preconditionFailure("a job without a flasher waited for one") }
                event = isCancelled() ? .cancelled : flasher.next()
            case .powerUp, .send, .expect:
                event = isCancelled() ? .cancelled : driver.perform(action.operation)
            }
            action = machine.next(after: event, at: monotonicSeconds())
        }
    }
}

/// One flash job's events from the flasher, through the job API.
final class FlasherFeed {
    private let api: JobAPI
    private let id: String
    /// The flasher's last inventory.
    private(set) var inventory: InventoryReport?
    /// The images' bytes written, from their `image_done` events.
    private(set) var bytesWritten: Int64 = 0

    init(api: JobAPI, id: String) {
        self.api = api
        self.id = id
    }

    /// Its next event, waiting up to half a second.
    func next() -> JobEvent {
        guard let event = api.nextEvent(of: id, timeout: 0.5) else { return .flasherQuiet(fetched: api.wasFetched(id)) }
        let parsed = FlasherEvent(event)
        if case .inventory = parsed { inventory = InventoryReport(event) }
        if case .imageDone = parsed, let written = event.bytesWritten ?? event.bytes, written > 0 {
            bytesWritten = bytesWritten.addingReportingOverflow(written).overflow ? Int64.max : bytesWritten + written
        }
        return .flasher(parsed)
    }
}
