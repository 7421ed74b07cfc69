#if canImport(Glibc)
import Glibc
#endif
import CGPIOD

/// libgpiod's version, e.g. "1.6.3".
public let libgpiodVersion: String = String(cString: gpiod_version_string())

/// One GPIO line requested as an output through libgpiod 1.6, held for as
/// long as this object lives so the value it was set to stays put.
public final class GPIOOutputLine {
    private let chip: OpaquePointer
    private let line: OpaquePointer
    public let chipName: String
    public let offset: UInt32

    /// Opens `chip` (a name such as `gpiochip0`, a path, a label or a number)
    /// and requests `offset` as an output, initially `initialValue` (logical:
    /// with `activeLow`, true drives the pin low).
    ///
    /// `initialValue` nil keeps the line as it is: a line that already is
    /// an output (an earlier run of the agent set it, and the kernel keeps
    /// its level when that run ends) is requested as-is, its value read,
    /// and it is made an output at that same value, so it never changes; a
    /// line that is still an input is made an output, off.
    public init(chip chipName: String, line offset: UInt32, activeLow: Bool, consumer: String,
                initialValue: Bool? = false) throws(GPIOError) {
        self.chipName = chipName
        self.offset = offset
        guard let chip = gpiod_chip_open_lookup(chipName) else {
            throw GPIOError("gpio chip '\(chipName)' cannot be opened: \(String(cString: strerror(errno)))")
        }
        let count = gpiod_chip_num_lines(chip)
        guard offset < count, let line = gpiod_chip_get_line(chip, offset) else {
            gpiod_chip_close(chip)
            throw GPIOError("gpio chip '\(chipName)' has no line \(offset) (it has \(count))")
        }
        let flags = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        func fail(_ what: String) -> GPIOError {
            let reason = String(cString: strerror(errno))
            gpiod_chip_close(chip)
            return GPIOError("gpio \(chipName) line \(offset) \(what): \(reason)")
        }
        if initialValue == nil, gpiod_line_direction(line) == Int32(GPIOD_LINE_DIRECTION_OUTPUT) {
            var config = gpiod_line_request_config(consumer: nil, request_type: Int32(GPIOD_LINE_REQUEST_DIRECTION_AS_IS), flags: flags)
            let requested = consumer.withCString { name in
                config.consumer = name
                return gpiod_line_request(line, &config, 0)
            }
            guard requested == 0 else { throw fail("cannot be requested as it is") }
            let value = gpiod_line_get_value(line)
            guard value >= 0, gpiod_line_set_direction_output(line, value) == 0 else {
                gpiod_line_release(line)
                throw fail("cannot be kept as an output at its level")
            }
        } else {
            guard gpiod_line_request_output_flags(line, consumer, flags, initialValue == true ? 1 : 0) == 0 else {
                throw fail("cannot be requested as an output")
            }
        }
        self.chip = chip
        self.line = line
    }

    deinit {
        gpiod_line_release(line)
        gpiod_chip_close(chip)
    }

    /// Sets the logical value (active_low already applied by libgpiod).
    public func set(_ value: Bool) throws(GPIOError) {
        guard gpiod_line_set_value(line, value ? 1 : 0) == 0 else {
            throw GPIOError("gpio \(chipName) line \(offset): \(String(cString: strerror(errno)))")
        }
    }

    public func get() throws(GPIOError) -> Bool {
        let value = gpiod_line_get_value(line)
        guard value >= 0 else { throw GPIOError("gpio \(chipName) line \(offset): \(String(cString: strerror(errno)))") }
        return value == 1
    }
}

public struct GPIOError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
