#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemSupport

/// Reports an image's progress once a second from its own thread, until stopped.
final class ProgressTicker: Sendable {
    enum Phase: Int { case write = 0, verify = 1 }

    private let stopped = Atomic<Bool>(false)
    /// Wakes the thread at once when stopped (a job's end waits for it).
    private let wake = ThreadSignal()
    private let done = BoundedQueue<Void>(capacity: 1)
    private let phase = Atomic<Int>(Phase.write.rawValue)

    init(image: String, total: Int64?, progress: PipelineProgress, reporter: EventReporter, interval: Double = 1) throws(FlasherError) {
        do {
            try startThread(named: "flash-progress") { [self] in
                var lastTime = monotonicSeconds()
                var lastDone: Int64 = 0
                var lastPhase = Phase.write
                while !stopped.load(ordering: .relaxed) {
                    wake.wait(timeout: interval / 10)
                    let now = monotonicSeconds()
                    guard now - lastTime >= interval, !stopped.load(ordering: .relaxed) else { continue }
                    let current = Phase(rawValue: phase.load(ordering: .relaxed)) ?? .write
                    if current != lastPhase { lastDone = 0; lastPhase = current }
                    let doneBytes = current == .write ? progress.written.load(ordering: .relaxed) : progress.verified.load(ordering: .relaxed)
                    let rate = Double(doneBytes - lastDone) / (now - lastTime)
                    reporter.progress(image: image, phase: current == .write ? "write" : "verify", done: doneBytes,
                                      total: current == .write ? total : progress.verifyTotal.load(ordering: .relaxed),
                                      bytesPerSecond: rate, downloaded: progress.downloaded.load(ordering: .relaxed))
                    lastTime = now
                    lastDone = doneBytes
                }
                done.push(())
            }
        } catch {
            throw FlasherError(.write, "cannot start the progress thread: \(error)")
        }
    }

    func enter(_ next: Phase) { phase.store(next.rawValue, ordering: .relaxed) }

    /// Stops the thread and waits for it.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        wake.signal()
        _ = done.pop()
    }
}
