import Foundation
import ProvisionerTesting
import Synchronization

/// `ssh -tt` driven as a person at a terminal: bytes typed on a pipe, the
/// output collected, the exit status kept. Ended by its PID.
final class TerminalClient: Sendable {
    let pid: Int32
    private let process: SpawnedChild
    private let input: FileHandle
    private let output = Buffer()
    private let errors = Buffer()
    /// Readers that reached the end of their pipe (stdout, stderr).
    private let drained = Counter()

    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private final class Buffer: Sendable {
        let bytes = Mutex<[UInt8]>([])
        func withLock<R>(_ body: (inout [UInt8]) -> R) -> R { bytes.withLock { body(&$0) } }
    }

    init(_ arguments: [String]) throws {
        let stdin = Pipe.closedOnExec(), stdout = Pipe.closedOnExec(), stderr = Pipe.closedOnExec()
        // Spawned by PID (SpawnedChild): ssh closes what it inherits, which
        // Foundation's Process would take for its exit.
        process = try SpawnedChild(try Tools.resolve("ssh"), arguments, stdin: stdin.fileHandleForReading.fileDescriptor,
                                   stdout: stdout.fileHandleForWriting.fileDescriptor,
                                   stderr: stderr.fileHandleForWriting.fileDescriptor)
        pid = process.pid
        try? stdin.fileHandleForReading.close()
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()
        input = stdin.fileHandleForWriting
        let drained = self.drained
        for (pipe, buffer) in [(stdout, output), (stderr, errors)] {
            let reader = pipe.fileHandleForReading
            let thread = Thread {
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    buffer.withLock { $0 += Array(chunk) }
                }
                drained.value.add(1, ordering: .releasing)
            }
            thread.start()
        }
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
        }
        process.waitUntilExit()
    }

    var isRunning: Bool { process.isRunning }
    var text: String { output.withLock { String(decoding: $0, as: UTF8.self) } }
    var errorText: String { errors.withLock { String(decoding: $0, as: UTF8.self) } }

    func type(_ text: String) { try? input.write(contentsOf: Data(text.utf8)) }
    func type(_ bytes: [UInt8]) { try? input.write(contentsOf: Data(bytes)) }
    /// Closes stdin: OpenSSH then sends EOF on the channel.
    func closeInput() { try? input.close() }
    func signal(_ number: Int32) { if isRunning { kill(pid, number) } }

    /// Waits until the output holds `text`; throws with the output otherwise.
    func waitFor(_ text: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !self.text.contains(text) {
            if ContinuousClock.now >= deadline || !isRunning && !self.text.contains(text) {
                try? await Task.sleep(for: .milliseconds(50))
                if self.text.contains(text) { return }
                throw TestSetupError("'\(text)' did not appear\(isRunning ? "" : " (ssh ended)"); output: \(self.text.debugDescription); stderr: \(errorText)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The exit status once ssh ended by itself; nil after `timeout`. Its
    /// last output is read by then (a line written just before the exit was
    /// missing now and then from `errorText`).
    func waitForExit(timeout: Duration = .seconds(15)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let drainDeadline = ContinuousClock.now + .seconds(2)
        while drained.value.load(ordering: .acquiring) < 2 && ContinuousClock.now < drainDeadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return process.exitCode
    }
}
