import AgentCore
import GPIO
import Synchronization

/// Power through one GPIO line driving a relay (libgpiod 1.6). The line is
/// requested as an output and held: its level stays as set. A restart of
/// the agent does not switch the relay: a line that already is an output
/// keeps its level (`GPIOOutputLine`, `initialValue: nil`); a line never
/// set since the host booted starts off.
/// When the chip or line is missing (or taken), every action throws a clear
/// error naming both, and tries to request the line again.
public final class GPIOPowerSwitch: PowerSwitch {
    /// `GPIOOutputLine` is a C handle used only under this lock.
    private final class Line: @unchecked Sendable {
        let line: GPIOOutputLine
        init(_ line: GPIOOutputLine) { self.line = line }
    }

    public let chip: String
    public let offset: Int
    public let activeLow: Bool
    public let cycleDelay: Double
    private let consumer: String
    private let line = Mutex<Line?>(nil)

    public init(chip: String, line offset: Int, activeLow: Bool, cycleDelay: Double = 1,
                consumer: String = "provisioner-agent") {
        self.chip = chip
        self.offset = offset
        self.activeLow = activeLow
        self.cycleDelay = cycleDelay
        self.consumer = consumer
        _ = try? requested()
    }

    /// Requests the line now if it is not yet; throws what is wrong.
    public func request() throws { _ = try requested() }

    public func powerOn() throws { try set(true) }

    public func powerOff() throws { try set(false) }

    public func cycle() throws {
        try set(false)
        sleepSeconds(cycleDelay)
        try set(true)
    }

    public func status() throws -> PowerState {
        let held = try requested()
        do {
            return try line.withLock { _ in try held.line.get() } ? .on : .off
        } catch {
            throw BoardError("power status: \(error)")
        }
    }

    private func requested() throws -> Line {
        try line.withLock { line in
            if let line { return line }
            do {
                let output = try GPIOOutputLine(chip: chip, line: UInt32(offset), activeLow: activeLow,
                                                consumer: consumer, initialValue: nil)
                let held = Line(output)
                line = held
                return held
            } catch {
                throw BoardError("power: gpio chip '\(chip)' line \(offset) is not available: \(error)")
            }
        }
    }

    private func set(_ value: Bool) throws {
        let held = try requested()
        do {
            try line.withLock { _ in try held.line.set(value) }
        } catch {
            throw BoardError("power \(value ? "on" : "off"): \(error)")
        }
    }
}
