#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemSupport

/// Sends the flasher's events to the console (one readable line each) and,
/// when the job has an events URL, POSTs each as JSON to the agent. A
/// failed POST is noted on the console and never stops the job.
public final class EventReporter: Sendable {
    public let eventsURL: HTTPURL?
    /// Sent as `Authorization: Bearer SECRET` (the agent refuses events without it).
    private let secret: String?
    private let start = monotonicSeconds()
    private let state = Mutex(State())
    private let console: @Sendable (String) -> Void

    private struct State {
        var postFailures = 0
        var lastFailureNote = -100.0
    }

    public init(eventsURL: HTTPURL?, secret: String? = nil, console: @escaping @Sendable (String) -> Void = { writeLine($0) }) {
        self.eventsURL = eventsURL
        self.secret = secret
        self.console = console
    }

    /// Seconds since the reporter was made (the job's start).
    public var elapsed: Double { monotonicSeconds() - start }

    /// Prints `line` and posts `event` (with `elapsed` added).
    public func send(_ event: JSON, line: String) {
        console("provisioner: " + line)
        guard let eventsURL, case .object(var members) = event else { return }
        members.append(("elapsed", .number((elapsed * 1000).rounded() / 1000)))
        do throws(FlasherError) {
            let status = try HTTPClient.post(.object(members), to: eventsURL,
                                             headers: secret.map { [("Authorization", "Bearer " + $0)] } ?? [])
            if status >= 300 { noteFailure("HTTP \(status)") }
        } catch {
            noteFailure(error.description)
        }
    }

    /// A plain console line, not an event.
    public func note(_ line: String) {
        console("provisioner: " + line)
    }

    private func noteFailure(_ why: String) {
        let now = elapsed
        let shouldNote = state.withLock { state -> Bool in
            state.postFailures += 1
            guard now - state.lastFailureNote >= 10 else { return false }
            state.lastFailureNote = now
            return true
        }
        if shouldNote, let eventsURL { console("provisioner: cannot post events to \(eventsURL): \(why)") }
    }

    // MARK: The events

    public func inventory(_ inventory: Inventory) {
        send(inventory.json, line: "inventory: \(inventory.summary)")
    }

    public func started(_ image: ImageSpec) {
        send(.object([("type", .string("image")), ("image", .string(image.name)), ("url", .string(image.url.description)),
                      ("target", .string(image.target.description))]),
             line: "\(image.name): \(image.url) → \(image.target)")
    }

    public func progress(image: String, phase: String, done: Int64, total: Int64?, bytesPerSecond: Double, downloaded: Int64) {
        let megabytes = bytesPerSecond / 1e6
        var line = "\(image) \(phase) \(formatBytes(done))"
        if let total, total > 0 {
            line += " of \(formatBytes(total)) (\(formatDecimal(Double(done) * 100 / Double(total), places: 1)) %)"
        }
        line += ", \(formatDecimal(megabytes, places: 1)) MB/s"
        send(.object([("type", .string("progress")), ("image", .string(image)), ("phase", .string(phase)),
                      ("bytes_done", .number(Double(done))), ("bytes_total", total.map { .number(Double($0)) } ?? .null),
                      ("mb_per_s", .number((megabytes * 10).rounded() / 10)), ("downloaded_bytes", .number(Double(downloaded)))]),
             line: line)
    }

    public func finished(_ image: ImageSpec, result: PipelineResult, written: Int64, seconds: Double, verified: Bool, resumptions: Int) {
        let rate = seconds > 0 ? Double(result.size) / seconds / 1e6 : 0
        send(.object([("type", .string("image_done")), ("image", .string(image.name)), ("sha256", result.sha256.map { .string($0) } ?? .null),
                      ("bytes", .number(Double(result.size))), ("bytes_written", .number(Double(written))),
                      ("compression", .string(result.compression.rawValue)), ("seconds", .number((seconds * 1000).rounded() / 1000)),
                      ("verified", .bool(verified)), ("resumptions", .number(Double(resumptions)))]),
             line: "\(image.name): \(formatBytes(result.size)) (\(formatBytes(written)) written) in \(formatDecimal(seconds, places: 1)) s, "
                + "\(formatDecimal(rate, places: 1)) MB/s, \(result.sha256.map { "sha256 \($0)" } ?? "bmap checksums match")\(verified ? ", verified" : "")")
    }

    public func success(after: AfterAction) {
        let event = JSON.object([("type", .string("success")), ("after", .string(after.rawValue)),
                                 ("seconds", .number((elapsed * 1000).rounded() / 1000))])
        send(event, line: "success in \(formatDecimal(elapsed, places: 1)) s; next: \(after.rawValue)")
        console("PROVISIONER-RESULT " + event.serialized)
    }

    public func failure(_ error: FlasherError) {
        let event = JSON.object([
            ("type", .string("error")), ("phase", .string(error.phase.rawValue)), ("what", .string(error.what)),
            ("image", error.image.map { .string($0) } ?? .null),
            ("errno", error.reason.map { .string($0) } ?? .null),
            ("errno_code", error.code.map { .number(Double($0)) } ?? .null),
            ("offset", error.offset.map { .number(Double($0)) } ?? .null),
        ])
        send(event, line: "FAILED: \(error)")
        console("PROVISIONER-RESULT " + event.serialized)
    }
}

/// Writes a line to standard output at once (the console as PID 1).
public func writeLine(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }
}
