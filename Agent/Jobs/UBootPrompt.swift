import AgentCore

/// Stops a board that was just powered up at its U-Boot prompt: waits for
/// the autoboot countdown (or a prompt), interrupts it, then makes sure the
/// line is clean and the board answers. The "U-Boot prompt" step of every
/// job, and the console menu's reset to U-Boot.
struct UBootPrompt: JobStateMachine {
    private enum State {
        /// Not started.
        case idle
        /// Waiting for the countdown or a prompt. Boot messages such as "No
        /// ethernet found." are no failure yet: only the profile's own
        /// fail patterns count here.
        case awaitingUBoot(ConsoleScript)
        /// Typed the interrupt; waiting for the prompt.
        case interrupting(ConsoleScript)
        /// Ctrl-C drops whatever sits in the line editor; then one round
        /// trip (`echo sync${provisioner_sync}ok`) whose answer cannot be
        /// confused with its echo, and the prompt after it.
        case synchronising(ConsoleScript)
        /// At the prompt, the line clean.
        case atPrompt
        /// A wait failed or the job was cancelled.
        case failed
    }

    private var state = State.idle
    private let uboot: UBootCommands

    init(profile: UBootProfile) { uboot = UBootCommands(profile) }

    mutating func start(at now: Double) -> JobAction {
        let profile = uboot.profile
        let first = uboot.wait(for: [.literal(profile.autoboot), uboot.prompt], fail: profile.fail.map(ExpectPattern.literal),
                               timeout: profile.timeouts.prompt)
        return enter(ConsoleScript([first]), as: State.awaitingUBoot, at: now)
    }

    mutating func next(after event: JobEvent, at now: Double) -> JobAction {
        switch state {
        case .awaitingUBoot(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.awaitingUBoot(script), action) }
            if script.matches.first?.index == 0 {
                let interrupt = ConsoleScript([.send(uboot.profile.interrupt),
                                               uboot.wait(for: [uboot.prompt], fail: [], timeout: uboot.profile.timeouts.command)])
                return enter(interrupt, as: State.interrupting, at: now)
            }
            return synchronise(at: now)
        case .interrupting(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.interrupting(script), action) }
            return synchronise(at: now)
        case .synchronising(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.synchronising(script), action) }
            state = .atPrompt
            return action
        case .idle, .atPrompt, .failed:
            preconditionFailure("the U-Boot prompt machine got \(event) in state \(state)")
        }
    }

    private mutating func synchronise(at now: Double) -> JobAction {
        let timeout = uboot.profile.timeouts.command
        let script = ConsoleScript([.send("\u{3}")] + uboot.command("setenv provisioner_sync 1")
            + [uboot.line("echo sync${provisioner_sync}ok"),
               uboot.wait(for: [.literal("sync1ok")], timeout: timeout),
               uboot.wait(for: [uboot.prompt], timeout: timeout)])
        return enter(script, as: State.synchronising, at: now)
    }

    private mutating func enter(_ script: ConsoleScript, as makeState: (ConsoleScript) -> State, at now: Double) -> JobAction {
        var script = script
        let action = script.start(at: now)
        return keep(makeState(script), action)
    }

    private mutating func keep(_ next: State, _ action: JobAction) -> JobAction {
        state = action.operation.isFailure ? .failed : next
        return action
    }
}
