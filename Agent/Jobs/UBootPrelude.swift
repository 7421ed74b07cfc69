import AgentCore

/// The start every U-Boot job shares (DESIGN.md, Jobs): power → U-Boot
/// prompt → the profile's preboot commands → the environment (TFTP tuning,
/// the profile's variables, the network, then the kernel's arguments).
/// Each is a step of its own; `.succeed` leaves the board at the prompt,
/// ready for the job's own steps.
struct UBootPrelude: JobStateMachine {
    private enum State {
        /// Not started.
        case idle
        /// Step "power": the runner powers the board on, or cycles it.
        case powering
        /// Step "U-Boot prompt": autoboot stopped, the line clean.
        case reachingPrompt(UBootPrompt)
        /// Step "preboot '…'": the profile's preboot command at `index`
        /// (`pci enum`, `virtio scan`), typed, then its prompt.
        case preboot(index: Int, ConsoleScript)
        /// Step "environment".
        case environment(ConsoleScript)
        /// At the prompt with the environment set.
        case finished
        /// A step failed or the job was cancelled.
        case failed
    }

    private var state = State.idle
    private let uboot: UBootCommands
    private let environment: [ConsoleScript.Operation]

    /// `network`: the board's static addresses (nil: the profile must use
    /// dhcp); `bootArguments`: the kernel's command line, set as `bootargs`.
    init(profile: UBootProfile, network: BoardConfig.Network?, board: String, bootArguments: String) {
        uboot = UBootCommands(profile)
        environment = uboot.network(network, board: board) + uboot.command("setenv bootargs '\(bootArguments)'")
    }

    mutating func start(at now: Double) -> JobAction {
        state = .powering
        return JobAction([.beginStep("power")], .powerUp)
    }

    mutating func next(after event: JobEvent, at now: Double) -> JobAction {
        switch state {
        case .powering:
            switch event {
            case .done:
                var prompt = UBootPrompt(profile: uboot.profile)
                let action = prompt.start(at: now).after([.beginStep("U-Boot prompt")])
                return keep(.reachingPrompt(prompt), action)
            case .failed(let failure):
                return keep(.failed, .perform(.fail(failure)))
            case .cancelled:
                return keep(.failed, .perform(.fail(JobFailure(cancelled: "cancelled"))))
            default:
                preconditionFailure("powering up got \(event)")
            }
        case .reachingPrompt(var prompt):
            let action = prompt.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.reachingPrompt(prompt), action) }
            return preboot(0, at: now)
        case .preboot(let index, var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.preboot(index: index, script), action) }
            return preboot(index + 1, at: now)
        case .environment(var script):
            let action = script.next(after: event, at: now)
            guard action.operation == .succeed else { return keep(.environment(script), action) }
            return keep(.finished, action)
        case .idle, .finished, .failed:
            preconditionFailure("the prelude got \(event) in state \(state)")
        }
    }

    /// Preboot command `index`, or the environment after the last one.
    private mutating func preboot(_ index: Int, at now: Double) -> JobAction {
        let commands = uboot.profile.preboot
        guard index < commands.count else {
            var script = ConsoleScript(environment)
            let action = script.start(at: now).after([.beginStep("environment")])
            return keep(.environment(script), action)
        }
        var script = ConsoleScript(uboot.command(commands[index]))
        let action = script.start(at: now).after([.beginStep("preboot '\(commands[index])'")])
        return keep(.preboot(index: index, script), action)
    }

    private mutating func keep(_ next: State, _ action: JobAction) -> JobAction {
        state = action.operation.isFailure ? .failed : next
        return action
    }
}
