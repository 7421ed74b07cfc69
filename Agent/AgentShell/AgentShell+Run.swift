import AgentCore
import Jobs
import ShellSupport

extension AgentShell {
    /// `run BOARD [--timeout 5m] -- CMD…`: CMD in the board's Linux shell
    /// over its console (LinuxShellRun); its output is the session's stdout
    /// as it comes, its exit status the session's; 124 when the time ran
    /// out. One at a time per board, and never beside a netboot or flash.
    func runCommand(_ command: RunCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) -> Int32 {
        let name = board.config.name
        let user = session.identity.user
        let claim: JobClaim
        do {
            claim = try jobs.claim(name, kind: "run", user: user)
        } catch {
            throw .failure("run: \(error)")
        }
        defer { claim.release() }
        if case .off? = try? board.power.status() { throw .failure("run: \(name) is off") }
        logger.notice("run: \(name) by \(user): \(command.commandLine)")
        let watcher = CancelWatcher(session)
        defer { watcher.stop() }
        let outcome: LinuxShellRun.Outcome
        do {
            outcome = try LinuxShellRun.run(command.commandLine, console: board.console, linux: board.config.uboot.linux,
                                            timeout: command.timeoutSeconds, isCancelled: { watcher.isCancelled }) { text in
                if !text.isEmpty { session.print(text) }
            }
        } catch {
            if error.cancelled {
                throw .failure("run: \(name): cancelled (Ctrl-C was sent to the board)")
            }
            throw .failure("run: \(name): \(error.reason)")
        }
        switch outcome {
        case .exited(let status):
            return status
        case .timedOut:
            session.printError("run: \(name): no end within \(command.timeout ?? "5m"); Ctrl-C was sent to the board")
            return 124
        }
    }
}
