/// A calendar's busy time over a window, as `freeBusy.query` reports it:
/// the poll's cheap change detector. It sees a booking made, moved, shortened
/// or cancelled; it cannot see what leaves the busy time alone (another
/// organizer in the same slot, a transparent event, tentative ↔ confirmed,
/// attendees), which the periodic incremental sync catches.
struct BusyTime: Sendable, Equatable {
    struct Span: Sendable, Equatable {
        var start: Int64
        var end: Int64
    }

    /// The window asked for, Unix seconds: [from, to).
    var from: Int64
    var to: Int64
    /// Busy intervals in the window, in order.
    var spans: [Span]

    /// One calendar's part of a freeBusy answer.
    enum Answer: Sendable, Equatable {
        case busy(BusyTime)
        /// Google could not compute it (`errors[].reason`, e.g. notFound).
        case failed(String)

        var busyTime: BusyTime? {
            if case .busy(let time) = self { return time }
            return nil
        }
    }

    /// Whether `later` shows the same busy time where both windows overlap
    /// (the window moves with the clock: what left it at the start has
    /// ended, and what entered it at the end is for the periodic sync).
    func matches(_ later: BusyTime) -> Bool {
        let low = max(from, later.from), high = min(to, later.to)
        guard low < high else { return false }
        return clipped(low, high) == later.clipped(low, high)
    }

    /// The spans within [low, high), touching ones joined.
    private func clipped(_ low: Int64, _ high: Int64) -> [Span] {
        var result: [Span] = []
        for span in spans.sorted(by: { $0.start < $1.start }) {
            let start = max(span.start, low), end = min(span.end, high)
            guard start < end else { continue }
            if let last = result.last, start <= last.end {
                result[result.count - 1].end = max(last.end, end)
            } else {
                result.append(Span(start: start, end: end))
            }
        }
        return result
    }
}
