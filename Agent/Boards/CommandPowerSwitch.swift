#if canImport(Glibc)
import Glibc
#endif
import AgentCore
import Logging
import SystemSupport

/// Power through shell commands (USB relays, PDUs, smart plugs, pdudaemon):
/// each runs as `/bin/sh -c COMMAND`, killed with its whole process group
/// past `timeout`. A non-zero exit is an error naming the code and stderr.
/// `status` is on when its command exits 0, off otherwise; without a status
/// command the state is unknown. A failure's message is the command's
/// stderr, or its stdout when stderr is empty.
public final class CommandPowerSwitch: PowerSwitch {
    public let on: String
    public let off: String
    public let statusCommand: String?
    public let timeout: Double
    public let cycleDelay: Double

    public init(on: String, off: String, status: String?, timeout: Double, cycleDelay: Double = 1) {
        self.on = on
        self.off = off
        statusCommand = status
        self.timeout = timeout
        self.cycleDelay = cycleDelay
    }

    public func powerOn() throws { try run(on, "on") }

    public func powerOff() throws { try run(off, "off") }

    public func cycle() throws {
        try powerOff()
        sleepSeconds(cycleDelay)
        try powerOn()
    }

    public func status() throws -> PowerState {
        guard let statusCommand else { return .unknown }
        let result = try Subprocess.runShell(statusCommand, timeout: timeout)
        return result.status == 0 ? .on : .off
    }

    private func run(_ command: String, _ action: String) throws {
        let result: Subprocess.Result
        do {
            result = try Subprocess.runShell(command, timeout: timeout)
        } catch let error as BoardError {
            throw BoardError("power \(action): \(error)")
        }
        guard result.status == 0 else {
            // Its stderr says why; a tool that prints its errors on stdout
            // (pdudaemon's pduclient) is heard there when stderr is silent.
            let lines = { (text: String) in text.split(separator: "\n").map { $0.trimmingCharacters() }.filter { !$0.isEmpty } }
            let said = lines(result.stderr).isEmpty ? lines(result.stdout) : lines(result.stderr)
            let detail = said.isEmpty ? "" : ": " + said.joined(separator: " / ")
            throw BoardError("power \(action): '\(command)' exited with status \(result.status)\(detail)")
        }
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}

/// Sleeps the calling thread (never call it on the cooperative pool).
func sleepSeconds(_ seconds: Double) {
    guard seconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}
