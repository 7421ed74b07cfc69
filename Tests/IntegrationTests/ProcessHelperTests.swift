import Foundation
import ProvisionerTesting
import Testing

/// The helpers every slow test relies on: a process they start always ends.
@Suite("Test helpers: processes end, by their PID", .timeLimit(.minutes(1)))
struct ProcessHelperTests {
    /// SIGTERM must reach the child: started from a pool thread, it would
    /// otherwise inherit a mask that blocks it, and only SIGKILL would work.
    @Test("terminate() ends a program with SIGTERM")
    func terminateUsesSIGTERM() async throws {
        let process = try RunningProcess("sleep", ["30"])
        #expect(process.isRunning)
        // A long grace: SIGKILL (137) would only come after it.
        let status = await process.terminate(grace: .seconds(20))
        #expect(status == 128 + SIGTERM, "ended with \(status), not by SIGTERM")
    }

    @Test("a process dropped without terminate() is ended by deinit")
    func deinitEndsTheProcess() async throws {
        var process: RunningProcess? = try RunningProcess("sleep", ["30"])
        let pid = try #require(process?.pid)
        #expect(kill(pid, 0) == 0)
        process = nil
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "process \(pid) still exists")
    }

    @Test("run() kills a program that outlives its timeout")
    func runTimesOut() async throws {
        let started = ContinuousClock.now
        let result = try await RunningProcess.run("sleep", ["30"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(result.exitCode == 128 + SIGTERM, "\(result)")
        #expect(ContinuousClock.now - started < .seconds(25), "it waited for sleep 30 to end")
    }

    @Test("run() returns the exit status and both streams")
    func runCapturesOutput() async throws {
        let result = try await RunningProcess.run("sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(result.exitCode == 3 && result.stdout == "out\n" && result.stderr == "err\n", "\(result)")
    }

    @Test("waitForLine throws with the output when the program ends first")
    func waitForLineReportsTheEnd() async throws {
        let process = try RunningProcess("sh", ["-c", "echo starting >&2; exit 1"])
        await #expect(throws: ProcessFailure.self) {
            try await process.waitForLine(containing: "serving on", timeout: .seconds(10))
        }
    }
}
