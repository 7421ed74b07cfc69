import AgentCore

/// The flash job (DESIGN.md, Jobs): the shared prelude (power → U-Boot
/// prompt → preboot → environment, the kernel's arguments naming the job's
/// URL) → TFTP the flasher → boot it → its events (inventory, progress,
/// success or error) → the reboot into the written image (its success
/// pattern, or U-Boot coming back). No I/O: `FlashJob` runs it.
struct FlashStateMachine: JobStateMachine {
    private enum State {
        /// Not started.
        case idle
        /// Power, U-Boot prompt, preboot, environment: shared with netboot.
        case prelude(UBootPrelude)
        /// Step "tftp flasher": the FIT image, or the kernel and initramfs.
        case loadingFlasher(ConsoleScript)
        /// Step "boot the flasher": `bootm`, or the profile's boot command,
        /// then `Starting kernel`.
        case bootingFlasher(ConsoleScript)
        /// Step "flasher": polling its events; `lastHeard` is when the last
        /// one came (or the step began), for its silence.
        case followingFlasher(lastHeard: Double)
        /// Step "reboot into the image": waiting for the success pattern.
        case rebooting(ConsoleScript)
        /// The image written and the board up.
        case succeeded
        /// A step failed or the job was cancelled: `failure` names the step.
        case failed(JobFailure)
    }

    /// A flasher that fetched its job may be silent this long (seconds);
    /// one that never fetched it, `neverFetchedSilence`.
    static let fetchedSilence = 60.0
    static let neverFetchedSilence = 180.0

    private var state = State.idle
    let request: FlashRequest
    private let uboot: UBootCommands
    private let network: BoardConfig.Network
    private let board: String
    private let bootArguments: String
    private var startedAt = 0.0
    private var step = StepName()

    /// `jobURL`: where the flasher fetches its manifest and posts its events.
    init(request: FlashRequest, profile: UBootProfile, network: BoardConfig.Network, board: String, baud: Int, jobURL: String) {
        self.request = request
        uboot = UBootCommands(profile)
        self.network = network
        self.board = board
        var arguments: [String] = []
        if let console = uboot.linuxConsole(baud: baud) { arguments.append(console) }
        arguments.append("provisioner.job=\(jobURL)")
        arguments.append("ip=\(network.boardIP)::\(network.gateway ?? network.serverIP):\(network.netmask)")
        arguments.append("quiet")
        bootArguments = arguments.joined(separator: " ")
    }

    mutating func start(at now: Double) -> JobAction {
        startedAt = now
        var prelude = UBootPrelude(profile: uboot.profile, network: network, board: board, bootArguments: bootArguments)
        let action = prelude.start(at: now)
        return keep(.prelude(prelude), action)
    }

    mutating func next(after event: JobEvent, at now: Double) -> JobAction {
        let profile = uboot.profile
        switch state {
        case .prelude(var prelude):
            let action = prelude.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.prelude(prelude), action) }
            let load = request.flasherFIT.map { uboot.load($0, at: profile.kernelAddress) }
                ?? uboot.load(request.flasherKernel, at: profile.kernelAddress)
                + uboot.load(request.flasherInitrd, at: profile.ramdiskAddress)
                + uboot.command("setenv provisioner_initrd_size ${filesize}")
            return enter(ConsoleScript(load), step: "tftp flasher", as: State.loadingFlasher, at: now)
        case .loadingFlasher(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.loadingFlasher(script), action) }
            let boot = request.flasherFIT == nil ? uboot.boot(initrdSize: "${provisioner_initrd_size}", withFDT: false) : uboot.bootFIT()
            return enter(ConsoleScript(boot), step: "boot the flasher", as: State.bootingFlasher, at: now)
        case .bootingFlasher(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.bootingFlasher(script), action) }
            return poll(lastHeard: now, at: now, after: [.beginStep("flasher")])
        case .followingFlasher(let lastHeard):
            return follow(event, lastHeard: lastHeard, at: now)
        case .rebooting(var script):
            let action = script.next(after: event, at: now)
            return keep(action.operation == .succeed ? .succeeded : .rebooting(script), action)
        case .idle, .succeeded, .failed:
            preconditionFailure("the flash machine got \(event) in state \(state)")
        }
    }

    // MARK: The flasher

    private func remaining(at now: Double) -> Double { request.timeout - (now - startedAt) }

    /// What the flasher's event (or its silence) leads to.
    private mutating func follow(_ event: JobEvent, lastHeard: Double, at now: Double) -> JobAction {
        switch event {
        case .flasherQuiet(let fetched):
            if now - lastHeard > (fetched ? Self.fetchedSilence : Self.neverFetchedSilence) {
                return fail(JobFailure(reason: fetched ? "the flasher fell silent for a minute"
                                                       : "the flasher never fetched its job (did it boot, is network.http_url right?)"))
            }
            return poll(lastHeard: lastHeard, at: now)
        case .flasher(.inventory(let line)):
            return poll(lastHeard: now, at: now, after: [.report("flasher: " + line)])
        case .flasher(.progress(let progress)):
            return poll(lastHeard: now, at: now, after: [.progress(progress)])
        case .flasher(.imageDone(let line)):
            return poll(lastHeard: now, at: now, after: [.report("flasher: " + line)])
        case .flasher(.other(let message)):
            return poll(lastHeard: now, at: now, after: message.map { [.report("flasher: " + $0)] } ?? [])
        case .flasher(.error(let reason)):
            return fail(JobFailure(reason: reason))
        case .flasher(.success):
            let patterns = [request.success ?? .literal(uboot.profile.autoboot)]
            let wait = uboot.wait(for: patterns, fail: [.literal("Kernel panic")], timeout: max(60, remaining(at: now)))
            return enter(ConsoleScript([wait]), step: "reboot into the image", as: State.rebooting, at: now,
                         after: [.report("flasher: written and verified")])
        case .cancelled:
            return fail(JobFailure(cancelled: "cancelled while the flasher ran"))
        case .failed(let failure):
            return fail(failure)
        case .done, .matched:
            preconditionFailure("following the flasher got \(event)")
        }
    }

    /// The next poll of the flasher's events, unless the job's time is up.
    private mutating func poll(lastHeard: Double, at now: Double, after notices: [JobNotice] = []) -> JobAction {
        guard remaining(at: now) > 0 else {
            return fail(JobFailure(reason: "the job took longer than \(seconds(request.timeout))"), after: notices)
        }
        return keep(.followingFlasher(lastHeard: lastHeard), JobAction(notices, .awaitFlasher))
    }

    private mutating func fail(_ failure: JobFailure, after notices: [JobNotice] = []) -> JobAction {
        keep(.failed(failure), JobAction(notices, .fail(failure)))
    }

    // MARK: Moving on

    private mutating func enter(_ script: ConsoleScript, step name: String, as makeState: (ConsoleScript) -> State,
                                at now: Double, after notices: [JobNotice] = []) -> JobAction {
        var script = script
        let action = script.start(at: now).after(notices + [.beginStep(name)])
        return keep(makeState(script), action)
    }

    /// Moves to `next`, or to `failed` when `action` fails: the failure then
    /// names the step it ended.
    private mutating func keep(_ next: State, _ action: JobAction) -> JobAction {
        let action = step.name(action)
        if case .fail(let failure) = action.operation { state = .failed(failure) } else { state = next }
        return action
    }
}
