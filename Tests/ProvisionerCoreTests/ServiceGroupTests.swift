import Glibc
import Synchronization
import SystemSupport
import Testing

/// The one lifecycle of the daemons (`ServiceGroup`), with services that
/// start real threads: order, failure at start, waiting for threads, a
/// service that does not stop.
struct ServiceGroupTests {
    @Test func servicesStartInOrderAndStopInReverseOnceTheirThreadsEnded() throws {
        let record = Recorder()
        let services = ["console", "tftp", "ssh"].map { ThreadedService($0, record: record) }
        let group = ServiceGroup(services: services, stopTimeout: 5) { record.add("event: \($0)") }
        try group.start()
        #expect(record.lines == ["start console", "event: started console", "start tftp", "event: started tftp",
                                 "start ssh", "event: started ssh"])
        record.clear()
        group.stop()
        // Each service's thread (and the thread it started) ended before the
        // next one was asked to stop.
        let lines = record.lines.filter { !$0.hasPrefix("event: stopped") }
        #expect(lines == ["stop ssh", "ssh: worker ended", "ssh: main ended",
                          "stop tftp", "tftp: worker ended", "tftp: main ended",
                          "stop console", "console: worker ended", "console: main ended"])
        #expect(record.lines.filter { $0.hasPrefix("event: stopped") }.count == 3)
        group.stop()  // a second stop does nothing
        #expect(record.lines.count == 12)
    }

    @Test func aServiceThatFailsToStartStopsThoseStartedBeforeIt() {
        let record = Recorder()
        let failing = ClosureService(name: "ssh", start: { throw SystemError("bind 127.0.0.1:22", code: 98) },
                                     stop: { record.add("stop ssh") })
        let services: [any Service] = [ThreadedService("console", record: record), ThreadedService("tftp", record: record),
                                       failing, ThreadedService("never", record: record)]
        let group = ServiceGroup(services: services)
        #expect {
            try group.start()
        } throws: { error in
            "\(error)".hasPrefix("ssh: bind 127.0.0.1:22")
        }
        #expect(record.lines.filter { $0.hasPrefix("start") || $0.hasPrefix("stop") }
                == ["start console", "start tftp", "stop ssh", "stop tftp", "stop console"])
    }

    @Test func aServiceThatDoesNotStopIsReportedAndTheNextOneStillStops() throws {
        let record = Recorder()
        let release = ThreadSignal()
        let stuck = ClosureService(name: "http", start: {
            try startThread(named: "http-worker") { release.wait(timeout: 30) }
        }, stop: {})
        let lingering = ClosureService(name: "ssh", lingeringThreads: ["qemu-b1"], start: {
            try startThread(named: "qemu-b1") { release.wait(timeout: 30) }
        }, stop: {})
        let group = ServiceGroup(services: [ThreadedService("tftp", record: record), stuck, lingering],
                                 stopTimeout: 0.3) { record.add("event: \($0)") }
        try group.start()
        record.clear()
        group.stop()
        let events = record.lines.filter { $0.hasPrefix("event:") }
        #expect(events.count == 3 && events[0].hasPrefix("event: stopped ssh ("), "\(events)")
        #expect(events[1] == "event: http did not stop within 0.3 s: still running: http-worker", "\(events)")
        #expect(events[2].hasPrefix("event: stopped tftp ("), "\(events)")
        release.signal()
    }

    @Test func aStopThatBlocksIsBoundedToo() throws {
        let release = ThreadSignal()
        let record = Recorder()
        let blocking = ClosureService(name: "calendar", start: {}, stop: { release.wait(timeout: 30) })
        let group = ServiceGroup(services: [blocking], stopTimeout: 0.2) { record.add("\($0)") }
        try group.start()
        let began = monotonicSeconds()
        group.stop()
        #expect(monotonicSeconds() - began < 5)
        #expect(record.lines == ["started calendar",
                                 "calendar did not stop within 0.2 s: its stop() has not returned; no thread of it runs"])
        release.signal()
    }
}

/// A service like the agent's: `start` starts a thread that starts another,
/// and both end a little after `stop` (as a socket loop notices its socket closed).
private final class ThreadedService: Service {
    let name: String
    private let record: Recorder
    private let stopped = ThreadSignal()

    init(_ name: String, record: Recorder) {
        self.name = name
        self.record = record
    }

    func start() throws {
        record.add("start \(name)")
        let name = name, stopped = stopped, record = record
        try startThread(named: name + "-main") {
            let workerEnded = ThreadSignal()
            do {
                try startThread(named: name + "-worker") {
                    stopped.wait(timeout: nil)
                    usleep(50_000)
                    record.add("\(name): worker ended")
                    workerEnded.signal()
                }
            } catch {
                workerEnded.signal()
            }
            workerEnded.wait(timeout: nil)
            usleep(50_000)
            record.add("\(name): main ended")
        }
    }

    func stop() {
        record.add("stop \(name)")
        stopped.signal()
    }
}

private final class Recorder: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ line: String) { storage.withLock { $0.append(line) } }
    func clear() { storage.withLock { $0 = [] } }
    var lines: [String] { storage.withLock { $0 } }
}
