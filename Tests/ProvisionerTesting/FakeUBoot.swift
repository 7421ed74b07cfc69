import AgentCore
import Foundation
import Synchronization

/// U-Boot on a `FakeBoard`'s console, for tests of the jobs' runner: after
/// each power-on or cycle it prints its banner and countdown; a space stops
/// the countdown, Ctrl-C clears the line, and each typed line is echoed and
/// answered with `reply(line)` (nil: nothing but the prompt). It reads
/// what was typed on a thread of its own, as a board would.
public final class FakeUBoot: Sendable {
    public static let prompt = "=> "
    private final class Running: Sendable {
        let value = Atomic(true)
    }
    private let running = Running()

    /// `reply` gets each line typed (without its Enter) and returns the
    /// output after the echo, the prompt included; nil: the prompt alone.
    public init(_ board: FakeBoard, reply: @escaping @Sendable (String) -> String? = { FakeUBoot.reply(to: $0) }) {
        let console = board.fakeConsole
        let power = board.fakePower
        Thread.detachNewThread { [running] in
            var powered = 0
            var read = 0
            var pending: [UInt8] = []
            while running.value.load(ordering: .relaxed) {
                usleep(2_000)
                let ups = power.calls.filter { $0 == .on || $0 == .cycle }.count
                if ups > powered {
                    powered = ups
                    console.emit(Array("\r\nU-Boot 2023.01\r\n\r\nHit any key to stop autoboot:  2 ".utf8))
                }
                let typed = console.typed
                guard typed.count > read else { continue }
                pending += typed[read...]
                read = typed.count
                while let first = pending.first {
                    if first == 0x20 && pending.count == 1 {
                        pending.removeAll()
                        console.emit(Array("\u{8}\u{8}\u{8} 0 \r\n\(Self.prompt)".utf8))
                    } else if first == 0x03 {
                        pending.removeFirst()
                        console.emit(Array("<INTERRUPT>\r\n\(Self.prompt)".utf8))
                    } else if let end = pending.firstIndex(of: 0x0D) {
                        let line = String(decoding: pending[..<end], as: UTF8.self)
                        pending.removeSubrange(...end)
                        console.emit(Array((line + "\r\n" + (reply(line) ?? Self.prompt)).utf8))
                    } else {
                        break
                    }
                }
            }
        }
    }

    deinit { stop() }

    public func stop() { running.value.store(false, ordering: .relaxed) }

    /// What a QEMU arm64 U-Boot says: a sync round trip, a TFTP load of 1234
    /// bytes, `Starting kernel` (and no prompt: Linux runs).
    public static func reply(to line: String) -> String? {
        if line == "echo sync${provisioner_sync}ok" { return "sync1ok\r\n" + prompt }
        if line.hasPrefix("tftpboot ") {
            let file = line.split(separator: " ").last ?? ""
            return "Using virtio-net#32 device\r\nFilename '\(file)'.\r\nLoading: ##\r\n\t 2.5 MiB/s\r\ndone\r\n"
                + "Bytes transferred = 1234 (4d2 hex)\r\n" + prompt
        }
        if line.hasPrefix("booti ") || line.hasPrefix("bootm ") || line.hasPrefix("zboot ") {
            return "## Flattened Device Tree blob at 40000000\r\n\r\nStarting kernel ...\r\n\r\n"
        }
        return nil
    }
}
