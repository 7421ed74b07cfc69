#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentCore
import Artifacts
import Jobs
import ProvisionerCore
import ShellSupport
import Synchronization
import SystemSupport
import Wire

extension AgentShell {
    /// `netboot BOARD --kernel NAME [--initrd NAME] [--dtb NAME] [--args "…"]
    /// [--wait TEXT | --wait-regex RE] [--timeout D]`: stages the caller's
    /// files for the board's TFTP space, power-cycles it, drives U-Boot,
    /// boots, then attaches the console (or, with `--wait`, returns 0 once
    /// the text shows). Ctrl-C or a closed session cancels the job; the board
    /// stays powered as the job left it, for a look at its console.
    func netbootCommand(_ command: NetbootCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let kernel = command.kernel ?? ""
        var wait: ExpectPattern?
        if let text = command.wait {
            wait = .literal(text)
        } else if let text = command.waitRegex {
            do { wait = try .regex(text) } catch { throw .usage("netboot: --wait-regex \(error)") }
        }
        let timeout = command.timeoutSeconds
        let missing = NetbootJob.missingFiles(for: board.config.uboot, initrd: command.initrd != nil, dtb: command.dtb != nil)
        if !missing.isEmpty {
            throw .usage("netboot: \(board.config.name)'s netboot steps need \(missing.joined(separator: " and "))")
        }
        guard wait != nil || session.isTerminal else {
            throw .usage("netboot: attaches the console afterwards, so it needs a terminal (ssh -t), or --wait TEXT")
        }
        let artifacts = try artifactSpace(for: "netboot")
        let user = session.identity.user

        let claim: JobClaim
        do {
            claim = try jobs.claim(board.config.name, kind: "netboot", user: user)
        } catch {
            throw .failure("netboot: \(error)")
        }
        defer { claim.release() }

        // The caller's files, staged as BOARD/kernel, BOARD/initrd, BOARD/dtb.
        let staging = artifacts.store.dataDirectory + "/staging/" + board.config.name
        do {
            try makeDirectories(staging)
        } catch {
            throw .failure("netboot: cannot make \(staging): \(error)")
        }
        var staged: [String: String] = [:]
        for (role, file) in [("kernel", command.kernel), ("initrd", command.initrd), ("dtb", command.dtb)] {
            guard let name = file else { continue }
            let route = try route(user: user, name: name, for: "netboot")
            do {
                try artifacts.store.stage(route, at: staging + "/" + role)
            } catch {
                throw Self.shellError(error, "netboot")
            }
            staged[role] = board.config.name + "/" + role
        }
        let request = NetbootRequest(user: user, kernel: staged["kernel"]!, dtb: staged["dtb"], initrd: staged["initrd"],
                                     arguments: command.kernelArguments, wait: wait, waitTimeout: timeout)
        let files = "kernel \(kernel)" + (command.initrd.map { ", initrd \($0)" } ?? "") + (command.dtb.map { ", dtb \($0)" } ?? "")
        logger.notice("netboot: \(board.config.name) by \(user): \(files)")

        var job: NetbootJob?
        let phases = JobPhaseClock(clock: { wallClock() })
        let (started, outcome) = runJob("netboot", on: board, by: user, session) { isCancelled throws(JobFailure) in
            let netboot = NetbootJob(board: board, request: request, report: { [events] line in
                                         phases.report(line)
                                         session.print("netboot: " + line + "\n")
                                         events?.append("job.phase", board: board.config.name, user: user,
                                                        ["kind": .string("netboot"), "phase": .string(line)])
                                     },
                                     isCancelled: isCancelled)
            job = netboot
            try netboot.run()
        }
        setState(outcome == nil ? "linux" : nil, of: board, by: user)
        var names: [String: String] = [:]
        for file in [command.kernel, command.initrd, command.dtb] {
            if let name = file { names[name] = sha256(ofArtifact: name, user: user) ?? "" }
        }
        record("netboot", by: user, startedAt: started, outcome, files: names, phases: phases, board: board.config.name)
        if let failure = outcome {
            if failure.cancelled {
                logger.notice("netboot: \(board.config.name) by \(user): cancelled at \(failure.step)")
                throw .failure("netboot: \(board.config.name): cancelled at step '\(failure.step)'")
            }
            if !failure.recentLines.isEmpty {
                session.print("netboot: the last console lines:\n" + failure.recentLines.suffix(15).map { "  | \($0)\n" }.joined())
            }
            logger.warning("netboot: \(board.config.name) by \(user): \(failure)")
            throw .failure("netboot: \(board.config.name): step '\(failure.step)' failed: \(failure.reason)")
        }
        let rates = (job?.transfers ?? []).compactMap { transfer in transfer.rate.map { "\(transfer.file) \($0)" } }
        let tftp = rates.isEmpty ? "" : " (tftp: \(rates.joined(separator: ", ")))"
        logger.notice("netboot: \(board.config.name) by \(user): booted\(tftp)")
        if let wait {
            session.print("netboot: \(board.config.name): \(wait) seen\n")
            return
        }
        claim.release()
        attachConsole(board, readOnly: false, session)
    }
}

/// Reads the caller's input while a job runs: Ctrl-C or a closed session
/// cancels it. Other keys are dropped (nothing is typed on the
/// board while the job drives it).
final class CancelWatcher: Sendable {
    private let cancelled = Atomic(false)
    private let finished = Atomic(false)
    private let running = Atomic(true)

    init(_ session: ShellSession) {
        let streams = session.streams
        do {
            try startThread(named: "job-watch") { [self] in
                while running.load(ordering: .acquiring) {
                    switch streams.read(timeout: 0.2) {
                    case .bytes(let bytes) where bytes.contains(0x03):
                        cancelled.store(true, ordering: .releasing)
                    case .end:
                        // EOF alone (stdin of a script ran out) is no reason to stop.
                        if streams.isClosed { cancelled.store(true, ordering: .releasing) }
                        running.store(false, ordering: .releasing)
                    default:
                        break
                    }
                }
                finished.store(true, ordering: .releasing)
            }
        } catch {
            finished.store(true, ordering: .releasing)
        }
    }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// Stops reading input (before the console takes it over) and waits for that.
    func stop() {
        running.store(false, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(20_000) }
    }
}

extension AgentShell {
    /// The sha256 of a user's artifact, from its sidecar.
    func sha256(ofArtifact name: String, user: String) -> String? {
        guard let store = artifacts?.store,
              let entries = try? store.list(ArtifactRoute(space: .user(user), components: [], namesFolder: true)) else { return nil }
        return entries.first { $0.name == name }?.sha256
    }
}

extension AgentShell {
    /// Runs a job on this request's thread while another reads the caller's
    /// input for Ctrl-C; after a failure, `jobs.on_failure` applies. Returns
    /// when it started (Unix time) and how it failed, if it did.
    /// Runs one job, cancelled when the session ends or Ctrl-C comes, with
    /// the board marked running in the job history meanwhile.
    func runJob(_ kind: String, on board: any BoardHandle, by user: String, _ session: ShellSession,
                _ body: (@escaping @Sendable () -> Bool) throws(JobFailure) -> Void) -> (started: Double, failure: JobFailure?) {
        let watcher = CancelWatcher(session)
        let started = wallClock()
        history.begin(kind, by: user, startedAt: started, board: board.config.name)
        events?.append("job.start", board: board.config.name, user: user, ["kind": .string(kind)])
        events?.append("state", board: board.config.name, user: user, ["state": .string(kind == "flash" ? "flashing" : kind)])
        var failure: JobFailure?
        do {
            try body { watcher.isCancelled }
        } catch {
            failure = error
        }
        watcher.stop()
        var fields: [String: EventValue] = ["kind": .string(kind), "seconds": .int(Int64(max(0, min(wallClock() - started, 1e9))))]
        fields["result"] = .string(failure == nil ? "ok" : failure!.cancelled ? "cancelled" : "failed")
        if let failure { fields["error"] = .string(String(failure.description.prefix(300))) }
        events?.append("job.end", board: board.config.name, user: user, fields)
        if failure != nil { afterFailedJob(board, by: user) }
        return (started, failure)
    }

    /// `jobs.on_failure: off`: a failed or cancelled job powers the board off.
    func afterFailedJob(_ board: any BoardHandle, by user: String) {
        guard board.config.powerOffOnJobFailure else { return }
        do {
            try board.power.powerOff()
            logger.notice("power: \(board.config.name) off after a failed job of \(user) (jobs.on_failure: off)")
        } catch {
            logger.warning("power: \(board.config.name): off after a failed job failed: \(error)")
        }
    }
}
