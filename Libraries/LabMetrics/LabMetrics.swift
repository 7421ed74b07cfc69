import CoreMetrics
import HTTPDaemon
import Prometheus
import Synchronization

/// The process's metrics, served as Prometheus' text format on `/metrics`
/// (the agent's HTTP port; the coordinator's `metrics.listen`). Recorded
/// through swift-metrics' API (`Counter`, `Gauge`, `Timer`) with
/// swift-prometheus' factory passed explicitly: no global bootstrap, so a
/// test process may hold several. Names follow Prometheus' conventions
/// (`provisioner_…_total` counters, `…_seconds` histograms).
public final class LabMetrics: Sendable {
    /// The one a daemon records into and serves.
    public static let shared = LabMetrics()

    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let refreshers = Mutex<[@Sendable () -> Void]>([])
    /// Last totals seen of counters kept elsewhere (`add(total:)`).
    private let totals = Mutex<[String: Int64]>([:])
    /// Gauges moved by `adjust`.
    private let levels = Mutex<[String: Double]>([:])

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Jobs take seconds to an hour; transfers and requests less.
        factory.durationHistogramBuckets["provisioner_job_duration_seconds"] =
            [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600].map { Duration.seconds($0) }
        factory.durationHistogramBuckets["provisioner_tftp_transfer_seconds"] =
            [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300].map { Duration.milliseconds(Int64($0 * 1000)) }
        self.factory = factory
    }

    /// Adds `amount` to the counter `name` with `labels`.
    public func count(_ name: String, _ labels: [(String, String)] = [], by amount: Int = 1) {
        guard amount > 0 else { return }
        Counter(label: name, dimensions: labels, factory: factory).increment(by: amount)
    }

    /// Sets the gauge `name` with `labels` to `value`.
    public func set(_ name: String, _ labels: [(String, String)] = [], to value: Double) {
        Gauge(label: name, dimensions: labels, factory: factory).record(value)
    }

    /// Moves the gauge `name` (no labels) by `delta` (sessions open).
    public func adjust(_ name: String, by delta: Double) {
        let value = levels.withLock { levels -> Double in
            levels[name, default: 0] += delta
            return levels[name]!
        }
        set(name, to: value)
    }

    /// Records `seconds` into the histogram `name` with `labels`.
    public func time(_ name: String, _ labels: [(String, String)] = [], seconds: Double) {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return }
        Timer(label: name, dimensions: labels, factory: factory).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// A counter whose running total is kept elsewhere (a console's bytes):
    /// adds what it grew by since the last call; a total that went down
    /// (the thing was replaced) counts from zero again.
    public func add(total: Int64, to name: String, _ labels: [(String, String)] = []) {
        let key = name + labels.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        let grown = totals.withLock { totals -> Int64 in
            let last = totals[key] ?? 0
            totals[key] = total
            return total >= last ? total - last : total
        }
        if grown > 0 { count(name, labels, by: Int(clamping: grown)) }
    }

    /// `refresh` runs before every scrape, to set the gauges of what is
    /// simply read off (boards, power, sessions, reservations).
    public func onScrape(_ refresh: @escaping @Sendable () -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// The text exposition (version 0.0.4), as `/metrics` answers it.
    public func exposition() -> [UInt8] {
        for refresh in refreshers.withLock({ $0 }) { refresh() }
        return registry.emitToBuffer()
    }

    /// The `Content-Type` of `exposition()`.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// `GET /metrics` (and HEAD): the exposition; anything else under it is 404.
public struct MetricsHandler: HTTPHandler {
    public let metrics: LabMetrics

    public init(_ metrics: LabMetrics = .shared) {
        self.metrics = metrics
    }

    public func handle(_ request: HTTPRequest) -> HTTPAction {
        guard request.path == "/metrics" else {
            return .respond(HTTPResponse(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("not found\n".utf8)))
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            return .respond(HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")], body: []))
        }
        return .respond(HTTPResponse(status: 200, headers: [("Content-Type", LabMetrics.contentType), ("Cache-Control", "no-store")],
                                     body: metrics.exposition()))
    }
}

extension LabMetrics {
    /// Counts an HTTP request as it ended: by method and status, its bytes both ways.
    public func countRequest(_ end: HTTPRequestEnd, server: String) {
        let method = ["GET", "HEAD", "PUT", "POST", "DELETE"].contains(end.method) ? end.method : "other"
        count("provisioner_http_requests_total", [("server", server), ("method", method), ("code", String(end.status))])
        count("provisioner_http_sent_bytes_total", [("server", server)], by: Int(clamping: end.bytesSent))
        count("provisioner_http_received_bytes_total", [("server", server)], by: Int(clamping: end.bytesReceived))
    }
}
