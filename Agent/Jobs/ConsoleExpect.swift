import AgentCore
import SystemSupport
import Foundation

/// The expect engine: a read-write session on a board's console that waits
/// for patterns in its output and types lines, the way a person at the
/// serial terminal would. Attached like any other session, so people
/// watching see everything and the log keeps it.
///
/// Used from one job thread. Waiting blocks that thread (never the
/// cooperative pool) and checks `isCancelled` every 100 ms.
public final class ConsoleExpect: @unchecked Sendable {
    // @unchecked: `buffer` and `notices` are guarded by `condition`; the
    // rest is used from the job's thread only.
    private let condition = NSCondition()
    private var buffer: [UInt8] = []
    /// Console lines as they came, for error reports (the last 40).
    private var recent = RecentLines(keep: 40)
    private var notices: [String] = []
    private var session: (any ConsoleSession)?
    private let isCancelled: @Sendable () -> Bool

    /// Output kept for matching; older output is dropped past this.
    static let bufferLimit = 256 << 10

    /// Attaches to `console` at once, so nothing printed after this is missed.
    public init(console: any ConsoleHub, isCancelled: @escaping @Sendable () -> Bool) {
        self.isCancelled = isCancelled
        // Without the scrollback: old output must not match.
        session = console.attach(readOnly: false, replay: false) { [weak self] chunk in
            self?.receive(chunk)
        }
    }

    deinit { session?.detach() }

    /// Detaches from the console.
    public func detach() {
        session?.detach()
        session = nil
    }

    /// Forgets output received so far (before sending a command whose answer matters).
    public func discardOutput() {
        condition.locked { buffer.removeAll() }
    }

    /// Takes the output received so far but its last `keep` bytes (the
    /// start of a pattern still arriving), for a caller that passes output
    /// on as it comes.
    public func takeOutput(keepingLast keep: Int) -> [UInt8] {
        condition.locked {
            guard buffer.count > keep else { return [] }
            let taken = Array(buffer[..<(buffer.count - keep)])
            buffer.removeFirst(buffer.count - keep)
            return taken
        }
    }

    /// Types `text` on the line.
    public func send(_ text: String) throws(ExpectFailure) {
        guard let session else { throw ExpectFailure(reason: "the console session was closed", recentLines: recentLines) }
        do {
            try session.write(Array(text.utf8))
        } catch {
            throw ExpectFailure(reason: "cannot type on the console: \(error)", recentLines: recentLines)
        }
    }

    /// Types `line` and Enter.
    public func sendLine(_ line: String) throws(ExpectFailure) { try send(line + "\r") }

    /// Waits up to `timeout` seconds for the first of `patterns`, failing at
    /// once when a `fail` pattern shows first. Output up to the end of the
    /// match is consumed.
    public func expect(_ patterns: [ExpectPattern], fail: [ExpectPattern] = [], timeout: Double) throws(ExpectFailure) -> ExpectMatch {
        let deadline = monotonicSeconds() + timeout
        var lineGrace: Double?
        condition.lock()
        defer { condition.unlock() }
        while true {
            let text = String(decoding: buffer, as: UTF8.self)
            var best: (index: Int, range: Range<String.Index>, failing: Bool)?
            for (index, pattern) in patterns.enumerated() {
                if let range = pattern.firstMatch(in: text[...]), best.map({ range.lowerBound < $0.range.lowerBound }) ?? true {
                    best = (index, range, false)
                }
            }
            for (index, pattern) in fail.enumerated() {
                if let range = pattern.firstMatch(in: text[...]), best.map({ range.lowerBound <= $0.range.lowerBound }) ?? true {
                    best = (index, range, true)
                }
            }
            // The rest of a failing line says what went wrong: give it up to
            // a second to arrive (a serial line may stop mid-line).
            if let best, best.failing, text[best.range.lowerBound...].firstIndex(where: \.isNewline) == nil {
                let now = monotonicSeconds()
                let wait = lineGrace ?? now + 1
                lineGrace = wait
                if now < wait {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: min(0.1, wait - now)))
                    continue
                }
            }
            if let best {
                let matched = String(text[best.range])
                let before = String(text[..<best.range.lowerBound])
                let lineEnd = text[best.range.lowerBound...].firstIndex(where: \.isNewline) ?? text.endIndex
                let line = String(text[best.range.lowerBound..<max(lineEnd, best.range.upperBound)])
                let consumed = text[..<best.range.upperBound].utf8.count
                buffer.removeFirst(min(consumed, buffer.count))
                if best.failing {
                    throw ExpectFailure(reason: "the board said '\(line.trimmingCharacters(in: .whitespaces))'",
                                        recentLines: recent.lines)
                }
                return ExpectMatch(index: best.index, matched: matched, before: before)
            }
            if isCancelled() { throw ExpectFailure(reason: "cancelled", recentLines: recent.lines, cancelled: true) }
            let now = monotonicSeconds()
            guard now < deadline else {
                let expected = patterns.map(\.description).joined(separator: " or ")
                throw ExpectFailure(reason: "\(expected) did not come within \(seconds(timeout))", recentLines: recent.lines, timedOut: true)
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: min(0.1, deadline - now)))
        }
    }

    /// The last console lines, for error reports.
    public var recentLines: [String] { condition.locked { recent.lines } }

    /// Agent notices seen by this session (device gone, back).
    public func takeNotices() -> [String] {
        condition.locked {
            defer { notices.removeAll() }
            return notices
        }
    }

    private func receive(_ chunk: ConsoleChunk) {
        condition.locked {
            switch chunk {
            case .output(let bytes):
                buffer += bytes
                if buffer.count > Self.bufferLimit { buffer.removeFirst(buffer.count - Self.bufferLimit) }
                recent.append(bytes)
            case .notice(let text):
                notices.append(text)
                recent.appendLine("[provisioner] \(text)")
            case .dropped:
                break
            }
            condition.broadcast()
        }
    }
}

/// What `expect` found: which pattern, the matched text, and the output
/// between the previous match and this one.
public struct ExpectMatch: Sendable, Equatable {
    public var index: Int
    public var matched: String
    public var before: String
}

/// Why a wait or a write on the console failed, with the last console lines.
public struct ExpectFailure: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var recentLines: [String]
    public var cancelled = false
    /// The pattern did not come in time (the console carried on).
    public var timedOut = false

    public var description: String { reason }
}

/// The last `keep` lines of a byte stream, control characters removed.
struct RecentLines {
    let keep: Int
    private(set) var lines: [String] = []
    private var partial: [UInt8] = []

    init(keep: Int) { self.keep = keep }

    mutating func append(_ bytes: [UInt8]) {
        for byte in bytes {
            if byte == 0x0A {
                appendLine(String(decoding: partial, as: UTF8.self))
                partial.removeAll(keepingCapacity: true)
            } else if byte >= 0x20 || byte == 0x09 {
                if partial.count < 4096 { partial.append(byte) }
            }
        }
    }

    mutating func appendLine(_ line: String) {
        lines.append(line)
        if lines.count > keep { lines.removeFirst(lines.count - keep) }
    }

    /// Complete lines, then the line being written (a prompt, say).
    var all: [String] { partial.isEmpty ? lines : lines + [String(decoding: partial, as: UTF8.self)] }
}

/// "30s", "1.5s", "2m".
func seconds(_ value: Double) -> String {
    if value >= 120 && value.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(value / 60))m" }
    if value == value.rounded() { return "\(Int(value))s" }
    return "\((value * 10).rounded() / 10)s"
}

extension NSCondition {
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
