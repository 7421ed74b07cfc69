import AgentCore
import Artifacts
import Foundation
import Jobs
import ShellSupport
import SystemSupport
import Wire

extension AgentShell {
    /// `flash BOARD [--rootfs NAME [--bmap NAME] [--target DEV]] [--kernel NAME]
    /// [--dtb NAME] [--no-verify]`: boots the flasher over TFTP with a job
    /// manifest naming the caller's files on the agent's HTTP port (the
    /// rootfs to `flash.target` or `--target`, a kernel and a device tree to
    /// `flash.kernel_target` and `flash.dtb_target`), shows its progress, and
    /// exits 0 only once the board came back up from what was written.
    func flashCommand(_ command: FlashCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let verify = command.verify
        guard let settings = board.config.flash else {
            throw .failure("flash: \(board.config.name) has no flash block in agent.yaml (flash.target)")
        }
        guard let network = board.config.network else {
            throw .failure("flash: \(board.config.name) has no network block in agent.yaml (board_ip, server_ip, http_url)")
        }
        let artifacts = try artifactSpace(for: "flash")
        let user = session.identity.user

        // The image and its bmap, from the caller's space, with their sha256.
        let entries: [ArtifactEntry]
        do {
            entries = try artifacts.store.list(ArtifactRoute(space: .user(user), components: [], namesFolder: true))
        } catch {
            throw Self.shellError(error, "flash")
        }
        func url(_ path: String) -> String { network.httpURL + "/u/\(user)/" + percentEncoded(path) }
        /// One of the caller's files, with its sha256.
        func artifact(_ file: String?) throws(ShellError) -> ArtifactEntry? {
            guard let name = file else { return nil }
            let route = try route(user: user, name: name, for: "flash")
            guard let entry = entries.first(where: { $0.name == route.path }) else { throw .failure("flash: '/u/\(user)/\(route.path)' not found") }
            return entry
        }
        var images: [FlashImage] = []
        if let rootfs = try artifact(command.rootfs) {
            var bmapURL: String?
            if let bmap = try artifact(command.bmap) {
                bmapURL = url(bmap.name)
            } else if let sidecar = entries.first(where: { $0.name == rootfs.name + ".bmap" }) {
                bmapURL = url(sidecar.name)
            }
            images.append(FlashImage(name: "rootfs", url: url(rootfs.name), sha256: rootfs.sha256, size: nil, bmapURL: bmapURL,
                                     target: command.target ?? settings.target))
        }
        for (option, name, target, key) in [(command.kernel, "kernel", settings.kernelTarget, "kernel_target"),
                                             (command.dtb, "dtb", settings.dtbTarget, "dtb_target")] {
            guard let file = try artifact(option) else { continue }
            guard let target else {
                throw .failure("flash: \(board.config.name) has no flash.\(key) in agent.yaml (e.g. /dev/mmcblk0p1:/\(name == "kernel" ? "Image" : "board.dtb"))")
            }
            // A kernel or device tree is written as it is (a gzip'd vmlinuz stays
            // gzip'd) unless its name says it was compressed for the trip.
            let compression = file.name.hasSuffix(".gz") ? "gzip" : file.name.hasSuffix(".xz") ? "xz"
                : file.name.hasSuffix(".zst") ? "zstd" : "none"
            images.append(FlashImage(name: name, url: url(file.name), sha256: file.sha256,
                                     size: compression == "none" ? file.size : nil, bmapURL: nil, target: target,
                                     compression: compression))
        }

        // The flasher's boot files, from the shared space (images/build-flasher).
        // A `bootm` board boots the FIT image (flasher.itb), the others the
        // kernel and initramfs with booti/bootz/zboot.
        let kernelFile = board.config.uboot.boot == "zboot" ? "bzImage" : "Image"
        let usesFIT = board.config.uboot.boot == "bootm"
        let flasherFolder = artifacts.store.dataDirectory + "/shared/" + settings.flasher
        for file in usesFIT ? ["flasher.itb"] : [kernelFile, "initrd"] where access(flasherFolder + "/" + file, R_OK) != 0 {
            throw .failure("flash: the flasher is not installed: \(flasherFolder)/\(file) is missing (images/build-flasher makes it)")
        }

        let claim: JobClaim
        do {
            claim = try jobs.claim(board.config.name, kind: "flash", user: user)
        } catch {
            throw .failure("flash: \(error)")
        }
        defer { claim.release() }

        var request = FlashRequest(
            user: user, images: images, verify: verify,
            flasherKernel: "shared/\(settings.flasher)/\(kernelFile)", flasherInitrd: "shared/\(settings.flasher)/initrd",
            success: settings.success.map(ExpectPattern.literal), timeout: settings.timeout)
        if usesFIT { request.flasherFIT = "shared/\(settings.flasher)/flasher.itb" }
        let written = images.map { "\($0.url.split(separator: "/").last ?? "") → \($0.target)" }.joined(separator: ", ")
        logger.notice("flash: \(board.config.name) by \(user): \(written)")

        let display = ProgressDisplay(session)
        let name = board.config.name
        var lastProgress = 0.0
        let phases = JobPhaseClock(clock: { wallClock() })
        var job: FlashJob?
        let (started, outcome) = runJob("flash", on: board, by: user, session) { isCancelled throws(JobFailure) in
            let flash = FlashJob(board: board, request: request, api: jobAPI,
                                 report: { [events] line in
                                     phases.report(line)
                                     display.line("flash: " + line)
                                     events?.append("job.phase", board: name, user: user, ["kind": .string("flash"), "phase": .string(line)])
                                 },
                                 progress: { [events] progress in
                                     display.progress("flash: " + progress.line)
                                     // At most one a second per job.
                                     let now = monotonicSeconds()
                                     guard now - lastProgress >= 1 else { return }
                                     lastProgress = now
                                     var fields: [String: EventValue] = ["kind": .string("flash"), "phase": .string(progress.phase),
                                                                         "bytes_done": .int(progress.done)]
                                     if let total = progress.total { fields["bytes_total"] = .int(total) }
                                     events?.append("job.progress", board: name, user: user, fields)
                                 },
                                 isCancelled: isCancelled)
            job = flash
            try flash.run()
        }
        display.finish()
        setState(outcome == nil ? (settings.success == nil ? "u-boot" : "linux") : nil, of: board, by: user)
        record("flash", by: user, startedAt: started, outcome,
               files: Dictionary(images.map { (String($0.url.split(separator: "/").last ?? ""), $0.sha256 ?? "") },
                                 uniquingKeysWith: { first, _ in first }),
               inventory: job?.inventory, phases: phases, bytes: job.map(\.bytesWritten).flatMap { $0 > 0 ? $0 : nil },
               board: board.config.name)
        if let failure = outcome {
            if !failure.recentLines.isEmpty && !failure.cancelled {
                session.print("flash: the last console lines:\n" + failure.recentLines.suffix(15).map { "  | \($0)\n" }.joined())
            }
            logger.warning("flash: \(board.config.name) by \(user): \(failure)")
            throw .failure("flash: \(board.config.name): step '\(failure.step)' failed: \(failure.reason)")
        }
        logger.notice("flash: \(board.config.name) by \(user): done")
        let names = images.map { String($0.url.split(separator: "/").last ?? "") }.joined(separator: ", ")
        session.print("flash: \(board.config.name): \(names) written\(verify ? ", verified" : ""), and the board is up\n")
    }

    /// `jobs BOARD [--json]`: the board's netboot and flash history.
    func jobsCommand(_ command: JobsCommand, _ board: any BoardHandle, _ session: ShellSession) throws(ShellError) {
        let json = command.json
        if json {
            session.print(history.json(of: board.config.name))
            return
        }
        let records = history.records(of: board.config.name)
        guard !records.isEmpty else {
            session.print("no jobs on \(board.config.name) yet\n")
            return
        }
        for record in records {
            var line = "\(record.started)  \(record.kind)  \(record.user)  \(record.files.keys.sorted().joined(separator: ","))  "
            line += "\(record.seconds)s  \(record.result)"
            if let error = record.error { line += ": \(error)" }
            session.print(line + "\n")
        }
    }

    /// Appends a finished job to the board's history.
    func record(_ kind: String, by user: String, startedAt started: Double, _ outcome: JobFailure?, files: [String: String],
                inventory: InventoryReport? = nil, phases: JobPhaseClock? = nil, bytes: Int64? = nil, board: String) {
        let steps = phases?.finish()
        let record = JobReport(kind: kind, user: user, started: isoTime(started), seconds: wallClock() - started,
                               result: outcome == nil ? "ok" : outcome!.cancelled ? "cancelled" : "failed",
                               error: outcome?.description, files: files, inventory: inventory, phases: steps ?? [],
                               bytes: bytes)
        do {
            try history.append(record, board: board)
        } catch {
            logger.error("jobs: cannot record a \(kind) job of \(board): \(error)")
        }
    }
}

/// Progress for a person: one line redrawn in place on a terminal, a line
/// every 5 s otherwise.
final class ProgressDisplay {
    private let session: ShellSession
    private var lastDrawn = 0.0
    private var showing = false

    init(_ session: ShellSession) { self.session = session }

    func line(_ text: String) {
        finish()
        session.print(text + "\n")
    }

    func progress(_ text: String) {
        let now = monotonicSeconds()
        if session.isTerminal {
            guard now - lastDrawn >= 0.25 else { return }
            session.writeRaw(Array(("\r" + text + "\u{1b}[K").utf8))
            showing = true
        } else {
            guard now - lastDrawn >= 5 else { return }
            session.print(text + "\n")
        }
        lastDrawn = now
    }

    func finish() {
        if showing { session.writeRaw(Array("\r\n".utf8)) }
        showing = false
    }
}

/// A path for a URL: each component percent-encoded, `/` kept.
func percentEncoded(_ path: String) -> String {
    path.split(separator: "/", omittingEmptySubsequences: false).map { component in
        component.utf8.map { byte -> String in
            let safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x2d || byte == 0x2e || byte == 0x5f || byte == 0x7e
            return safe ? String(UnicodeScalar(byte)) : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        }.joined()
    }.joined(separator: "/")
}
