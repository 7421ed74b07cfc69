import AgentCore
import Foundation

/// The netboot job (DESIGN.md, Jobs): the shared prelude (power → U-Boot
/// prompt → preboot → environment), then TFTP each file → boot →
/// `Starting kernel` (→ the wait pattern); or, for a board whose profile
/// scripts its netboot, those steps in place of TFTP and boot. No I/O:
/// `NetbootJob` runs it.
struct NetbootStateMachine: JobStateMachine {
    /// The files a netboot loads, in this order.
    enum File: String {
        case kernel, initrd, dtb

        var next: File? {
            switch self {
            case .kernel: .initrd
            case .initrd: .dtb
            case .dtb: nil
            }
        }
    }

    private enum State {
        /// Not started.
        case idle
        /// Power, U-Boot prompt, preboot, environment: shared with flash.
        case prelude(UBootPrelude)
        /// Step "tftp kernel", "tftp initrd" or "tftp dtb": `tftpboot`, then
        /// the prompt (for the initrd, its size is kept in a variable).
        case loading(File, ConsoleScript)
        /// Step "boot": the profile's boot command, then `Starting kernel`.
        case booting(ConsoleScript)
        /// Step "step N: '…'": the profile's scripted netboot step `index`.
        case scripted(index: Int, ConsoleScript)
        /// Step "wait for …": the kernel runs; waiting for the caller's pattern.
        case waiting(ConsoleScript)
        /// Booted, and the wait pattern seen when there was one.
        case succeeded
        /// A step failed or the job was cancelled: `failure` names the step.
        case failed(JobFailure)
    }

    private var state = State.idle
    let request: NetbootRequest
    private let uboot: UBootCommands
    private let network: BoardConfig.Network?
    private let board: String
    private let baud: Int
    private var step = StepName()
    /// What U-Boot said of each TFTP transfer, in order.
    private(set) var transfers: [TFTPReport] = []

    init(request: NetbootRequest, profile: UBootProfile, network: BoardConfig.Network?, board: String, baud: Int) {
        self.request = request
        uboot = UBootCommands(profile)
        self.network = network
        self.board = board
        self.baud = baud
    }

    init(request: NetbootRequest, board: BoardConfig) {
        self.init(request: request, profile: board.uboot, network: board.network, board: board.name, baud: board.serial.baud)
    }

    /// `console=…` from the profile, then the caller's arguments.
    var bootArguments: String {
        var words: [String] = []
        if let console = uboot.linuxConsole(baud: baud) { words.append(console) }
        if let arguments = request.arguments, !arguments.isEmpty { words.append(arguments) }
        return words.joined(separator: " ")
    }

    /// `{kernel}`, `{initrd}`, `{dtb}` and `{bootargs}` in a scripted step.
    func substitute(_ text: String) -> String {
        text.replacingOccurrences(of: "{kernel}", with: request.kernel)
            .replacingOccurrences(of: "{initrd}", with: request.initrd ?? "")
            .replacingOccurrences(of: "{dtb}", with: request.dtb ?? "")
            .replacingOccurrences(of: "{bootargs}", with: bootArguments)
    }

    mutating func start(at now: Double) -> JobAction {
        var prelude = UBootPrelude(profile: uboot.profile, network: network, board: board, bootArguments: bootArguments)
        let action = prelude.start(at: now)
        return keep(.prelude(prelude), action)
    }

    mutating func next(after event: JobEvent, at now: Double) -> JobAction {
        switch state {
        case .prelude(var prelude):
            let action = prelude.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.prelude(prelude), action) }
            return uboot.profile.netbootSteps == nil ? load(.kernel, at: now) : scripted(0, at: now)
        case .loading(let file, var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.loading(file, script), action) }
            let transfer = uboot.report(file: name(of: file) ?? "", from: script.matches)
            transfers.append(transfer)
            let told: [JobNotice] = [.report("  \(transfer.file): \(transfer.summary)")]
            return load(file.next, at: now).after(told)
        case .booting(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.booting(script), action) }
            return wait(at: now)
        case .scripted(let index, var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.scripted(index: index, script), action) }
            return scripted(index + 1, at: now)
        case .waiting(var script):
            let action = script.next(after: event, at: now)
            return keep(action.operation == .succeed ? .succeeded : .waiting(script), action)
        case .idle, .succeeded, .failed:
            preconditionFailure("the netboot machine got \(event) in state \(state)")
        }
    }

    // MARK: The steps after the prelude

    private func name(of file: File) -> String? {
        switch file {
        case .kernel: request.kernel
        case .initrd: request.initrd
        case .dtb: request.dtb
        }
    }

    /// Loads `file`, or the next file the request names; boots after the last.
    private mutating func load(_ file: File?, at now: Double) -> JobAction {
        guard let file else { return boot(at: now) }
        guard let name = name(of: file) else { return load(file.next, at: now) }
        let profile = uboot.profile
        let operations: [ConsoleScript.Operation]
        switch file {
        case .kernel: operations = uboot.load(name, at: profile.kernelAddress)
        case .initrd: operations = uboot.load(name, at: profile.ramdiskAddress) + uboot.command("setenv provisioner_initrd_size ${filesize}")
        case .dtb: operations = uboot.load(name, at: profile.fdtAddress)
        }
        return enter(ConsoleScript(operations), step: "tftp \(file.rawValue)", as: { .loading(file, $0) }, at: now)
    }

    private mutating func boot(at now: Double) -> JobAction {
        let script = ConsoleScript(uboot.boot(initrdSize: request.initrd == nil ? nil : "${provisioner_initrd_size}",
                                              withFDT: request.dtb != nil))
        return enter(script, step: "boot", as: State.booting, at: now)
    }

    /// The profile's scripted step `index`, its placeholders filled in; the
    /// wait after the last.
    private mutating func scripted(_ index: Int, at now: Double) -> JobAction {
        let steps = uboot.profile.netbootSteps ?? []
        guard index < steps.count else { return wait(at: now) }
        let scripted = steps[index]
        var operations: [ConsoleScript.Operation] = []
        if let send = scripted.send { operations.append(uboot.line(substitute(send))) }
        let fail = uboot.failures + scripted.fail.map(ExpectPattern.literal)
        let timeout = scripted.timeout ?? uboot.profile.timeouts.command
        do {
            let expected = try scripted.expect.map { text in
                scripted.expectIsRegex ? try ExpectPattern.regex(text) : ExpectPattern.literal(text)
            }
            operations.append(uboot.wait(for: [expected ?? uboot.prompt], fail: fail, timeout: timeout))
        } catch {
            // The step types its line, then fails naming the bad pattern.
            operations.append(.fail("\(error)"))
        }
        let name = scripted.send.map { "step \(index + 1): '\(substitute($0))'" } ?? "step \(index + 1)"
        return enter(ConsoleScript(operations), step: name, as: { .scripted(index: index, $0) }, at: now)
    }

    /// Waits for the caller's pattern once the kernel started; done without one.
    private mutating func wait(at now: Double) -> JobAction {
        guard let pattern = request.wait else { return keep(.succeeded, .perform(.succeed)) }
        let script = ConsoleScript([uboot.wait(for: [pattern], fail: [.literal("Kernel panic")], timeout: request.waitTimeout)])
        return enter(script, step: "wait for \(pattern)", as: State.waiting, at: now)
    }

    private mutating func enter(_ script: ConsoleScript, step name: String, as makeState: (ConsoleScript) -> State,
                                at now: Double) -> JobAction {
        var script = script
        let action = script.start(at: now).after([.beginStep(name)])
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
