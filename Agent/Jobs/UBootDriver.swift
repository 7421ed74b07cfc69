import AgentCore

/// The board as a job's runner touches it: its power switch, and a
/// read-write session on its console (the expect engine). Also the console
/// escape's "reset to U-Boot": power up, then stop at the prompt.
///
/// Attaches to the console when made, so no output is missed; used from
/// one thread.
public final class UBootDriver {
    public let board: any BoardHandle
    public let profile: UBootProfile
    private let expect: ConsoleExpect
    private let isCancelled: @Sendable () -> Bool

    public init(board: any BoardHandle, isCancelled: @escaping @Sendable () -> Bool) {
        self.board = board
        profile = board.config.uboot
        self.isCancelled = isCancelled
        expect = ConsoleExpect(console: board.console, isCancelled: isCancelled)
    }

    public func detach() { expect.detach() }

    /// Power on, or cycle a board that is on.
    public func powerUp() throws(JobFailure) {
        do {
            if (try? board.power.status()) == .on {
                try board.power.cycle()
            } else {
                try board.power.powerOn()
            }
        } catch {
            throw JobFailure(reason: "the power switch failed: \(error)")
        }
    }

    /// Stops the board, just powered, at its U-Boot prompt (`UBootPrompt`).
    public func reachPrompt() throws(JobFailure) {
        var prompt = UBootPrompt(profile: profile)
        try JobRunner(driver: self, isCancelled: isCancelled).run(&prompt)
    }

    /// Does one of a job's board operations; what happened is the machine's next event.
    func perform(_ operation: JobOperation) -> JobEvent {
        do throws(JobFailure) {
            switch operation {
            case .powerUp:
                try powerUp()
                return .done
            case .send(let text):
                do { try expect.send(text) } catch { throw JobFailure(error) }
                return .done
            case .expect(let expectation):
                do {
                    return .matched(try expect.expect(expectation.patterns, fail: expectation.fail, timeout: expectation.timeout))
                } catch {
                    throw JobFailure(error)
                }
            case .awaitFlasher, .succeed, .fail:
                preconditionFailure("\(operation) is no board operation")
            }
        } catch {
            return .failed(error)
        }
    }
}
