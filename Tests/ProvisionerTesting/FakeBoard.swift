import AgentCore
import Foundation
import Synchronization

/// A board for front-end tests: a fake power switch and a fake console that
/// record what they were asked, behind the real protocols.
public final class FakeBoard: BoardHandle {
    public let config: BoardConfig
    public let fakeConsole: FakeConsoleHub
    public let fakePower: FakePowerSwitch
    public var console: any ConsoleHub { fakeConsole }
    public var power: any PowerSwitch { fakePower }

    /// A board named `name` (its config parsed from a minimal agent.yaml),
    /// at `boardIP` on its network when given.
    public init(name: String, boardIP: String? = nil, scrollback: [UInt8] = [],
                logLines: [(time: Double, line: String)] = []) throws {
        let network = boardIP.map { "\n    network: { board_ip: \($0), server_ip: 127.0.0.1 }" } ?? ""
        let yaml = """
            agent: { name: fake-agent, data_dir: /nonexistent }
            boards:
              - name: \(name)
                serial: { device: /dev/null }
                power: { type: command, on: "true", off: "true" }\(network)
            """
        guard let board = try AgentConfig(text: yaml, file: "fake.yaml").boards.first else {
            throw TestSetupError("the fake board's config has no board")
        }
        config = board
        fakeConsole = FakeConsoleHub(scrollback: scrollback, logLines: logLines)
        fakePower = FakePowerSwitch()
    }
}

/// A power switch that records every call; `failNext` makes the next action throw.
public final class FakePowerSwitch: PowerSwitch {
    private struct State {
        var state = PowerState.off
        var calls: [PowerAction] = []
        var failure: String?
    }
    private let state = Mutex(State())

    public init() {}

    /// Every action asked, in order (`status` included).
    public var calls: [PowerAction] { state.withLock { $0.calls } }
    public var current: PowerState { state.withLock { $0.state } }

    /// The next action throws `FakeFailure(message)`.
    public func failNext(_ message: String) { state.withLock { $0.failure = message } }

    public func powerOn() throws { try act(.on) { $0 = .on } }
    public func powerOff() throws { try act(.off) { $0 = .off } }
    public func cycle() throws { try act(.cycle) { $0 = .on } }
    public func status() throws -> PowerState {
        try act(.status) { _ in }
        return current
    }

    private func act(_ action: PowerAction, _ change: (inout PowerState) -> Void) throws {
        try state.withLock { state in
            state.calls.append(action)
            if let failure = state.failure {
                state.failure = nil
                throw FakeFailure(failure)
            }
            change(&state.state)
        }
    }
}

/// A console hub: replays `scrollback` on attach, `emit` sends board output
/// to every session, typed bytes and breaks are recorded.
public final class FakeConsoleHub: ConsoleHub {
    private struct State {
        var scrollback: [UInt8]
        var sessions: [ObjectIdentifier: FakeConsoleSession] = [:]
        var typed: [UInt8] = []
        var breaks = 0
        var attaches = 0
        var detaches = 0
        var logLines: [(time: Double, line: String)]
    }
    private let state: Mutex<State>

    public init(scrollback: [UInt8] = [], logLines: [(time: Double, line: String)] = []) {
        state = Mutex(State(scrollback: scrollback, logLines: logLines))
    }

    public func attach(readOnly: Bool, replay: Bool, deliver: @escaping @Sendable (ConsoleChunk) -> Void) -> any ConsoleSession {
        let session = FakeConsoleSession(hub: self, readOnly: readOnly, deliver: deliver)
        let scrollback = state.withLock { state in
            state.sessions[ObjectIdentifier(session)] = session
            state.attaches += 1
            return state.scrollback
        }
        if replay && !scrollback.isEmpty { deliver(.output(scrollback)) }
        return session
    }

    /// Agent lines go to the log (as `[provisioner] TEXT`) and every session.
    public func note(_ text: String) {
        appendLogLine("[provisioner] \(text)")
        notice(text)
    }

    public func openLog(from start: ConsoleLogStart, follow: Bool) throws -> any ConsoleLogReader {
        FakeConsoleLogReader(hub: self, start: start)
    }

    /// The log lines from the `index`th on.
    fileprivate func logLines(from index: Int) -> ArraySlice<(time: Double, line: String)> {
        state.withLock { $0.logLines[min(index, $0.logLines.count)...] }
    }

    /// Bytes from the board: to every attached session and the scrollback.
    public func emit(_ bytes: [UInt8]) {
        let sessions = state.withLock { state in
            state.scrollback += bytes
            return Array(state.sessions.values)
        }
        for session in sessions { session.deliver(.output(bytes)) }
    }

    /// A notice to every attached session.
    public func notice(_ text: String) {
        for session in state.withLock({ Array($0.sessions.values) }) { session.deliver(.notice(text)) }
    }

    public func appendLogLine(_ line: String, at time: Double = Date().timeIntervalSince1970) {
        state.withLock { $0.logLines.append((time, line)) }
    }

    /// Everything read-write sessions typed, in order.
    public var typed: [UInt8] { state.withLock { $0.typed } }
    public var breaks: Int { state.withLock { $0.breaks } }
    public var attachCount: Int { state.withLock { $0.attaches } }
    public var detachCount: Int { state.withLock { $0.detaches } }
    public var attachedSessions: Int { state.withLock { $0.sessions.count } }

    /// Waits (polling) until `condition` holds; false when `timeout` passed first.
    public func wait(timeout: Duration = .seconds(10), until condition: (FakeConsoleHub) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition(self) {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    fileprivate func type(_ bytes: [UInt8]) { state.withLock { $0.typed += bytes } }
    fileprivate func sendBreak() { state.withLock { $0.breaks += 1 } }
    fileprivate func detach(_ session: FakeConsoleSession) {
        state.withLock { state in
            if state.sessions.removeValue(forKey: ObjectIdentifier(session)) != nil { state.detaches += 1 }
        }
    }
}

public final class FakeConsoleSession: ConsoleSession {
    public let readOnly: Bool
    let deliver: @Sendable (ConsoleChunk) -> Void
    private let hub: FakeConsoleHub

    init(hub: FakeConsoleHub, readOnly: Bool, deliver: @escaping @Sendable (ConsoleChunk) -> Void) {
        self.hub = hub
        self.readOnly = readOnly
        self.deliver = deliver
    }

    public func write(_ bytes: [UInt8]) throws {
        guard !readOnly else { throw FakeFailure("read-only session") }
        hub.type(bytes)
    }

    public func sendBreak() throws {
        guard !readOnly else { throw FakeFailure("read-only session") }
        hub.sendBreak()
    }

    public func detach() { hub.detach(self) }
}

public struct FakeFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads a fake console's log lines: the first read from its start, each
/// later one the lines appended since.
final class FakeConsoleLogReader: ConsoleLogReader {
    private let hub: FakeConsoleHub
    private var start: ConsoleLogStart?
    private var next = 0

    init(hub: FakeConsoleHub, start: ConsoleLogStart) {
        self.hub = hub
        self.start = start
    }

    func read(_ line: (String) -> Void) throws {
        let lines = hub.logLines(from: next)
        next += lines.count
        var shown = lines[...]
        switch start {
        case .since(let time)?:
            shown = shown.filter { $0.time >= time }[...]
        case .tail(let bytes)?:
            var total = 0
            let count = shown.reversed().prefix { entry in
                total += entry.line.utf8.count + 1
                return total <= bytes
            }.count
            shown = shown.suffix(count)
        case nil:
            break
        }
        start = nil
        for entry in shown { line(entry.line) }
    }
}
