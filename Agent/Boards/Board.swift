import AgentCore
import Logging

/// One board of the agent: its serial console and its power switch, built
/// from its config. Every power action is logged with the user who asked.
public final class Board: BoardHandle {
    public let config: BoardConfig
    public let serialConsole: SerialConsole
    /// The switch as the front ends use it: each action starts the
    /// console's scrollback afresh (see `FreshScrollback`).
    public let power: any PowerSwitch
    /// The switch itself (gpio, command or qemu).
    public let powerSwitch: any PowerSwitch
    private let logger: Logger

    public var console: any ConsoleHub { serialConsole }
    public var name: String { config.name }

    /// Builds the console and the switch; nothing runs until `start()`.
    /// The console log goes to `DATA_DIR/logs/BOARD.log`; a virtual board's
    /// QMP socket to `DATA_DIR/run/BOARD.qmp`.
    public init(config: BoardConfig, dataDirectory: String, logger: Logger) throws {
        self.config = config
        self.logger = logger
        serialConsole = try SerialConsole(name: config.name,
                                          settings: SerialConsole.Settings(config, dataDirectory: dataDirectory),
                                          logger: logger)
        switch config.power {
        case .gpio(let chip, let line, let activeLow):
            powerSwitch = GPIOPowerSwitch(chip: chip, line: line, activeLow: activeLow, cycleDelay: config.cycleDelay)
        case .command(let on, let off, let status, let timeout):
            powerSwitch = CommandPowerSwitch(on: on, off: off, status: status, timeout: timeout, cycleDelay: config.cycleDelay)
        case .qemu(let qemu):
            powerSwitch = QEMUPowerSwitch(name: config.name, qemu: qemu, serialDevice: config.serial.device,
                                          dataDirectory: dataDirectory, cycleDelay: config.cycleDelay,
                                          console: serialConsole, logger: logger)
        }
        power = FreshScrollback(powerSwitch, console: serialConsole)
    }

    /// Every board of an agent config.
    public static func boards(of config: AgentConfig, logger: Logger) throws -> [Board] {
        try config.boards.map { try Board(config: $0, dataDirectory: config.agent.dataDirectory, logger: logger) }
    }

    /// Starts the console's reader (a missing device is waited for); a
    /// virtual board still running from an earlier run of the agent is taken
    /// over first, so its console carries on (a restart does not touch power).
    public func start() throws {
        (powerSwitch as? QEMUPowerSwitch)?.adoptRunning()
        try serialConsole.start()
    }

    /// Stops the console. The board is left as it is unless `poweringOff`
    /// (`agent.on_stop: off`): a virtual board keeps running, and the next
    /// start of the agent takes it over.
    public func stop(poweringOff: Bool = false) {
        if poweringOff {
            do {
                try power.powerOff()
                logger.notice("power \(name): off as the agent stops (agent.on_stop: off)")
            } catch {
                logger.warning("power \(name): off as the agent stops failed: \(error)")
            }
        }
        serialConsole.stop()
    }

    /// Runs a power action for `user` and logs it; returns the state after it
    /// (`.unknown` when the switch cannot tell). Blocks: call it on a thread
    /// of its own, never on the cooperative pool.
    @discardableResult
    public func perform(_ action: PowerAction, by user: String) throws -> PowerState {
        if action == .status {
            return try power.status()
        }
        logger.notice("power \(name): \(action.rawValue) by \(user)")
        do {
            switch action {
            case .on: try power.powerOn()
            case .off: try power.powerOff()
            case .cycle: try power.cycle()
            case .status: break
            }
            let state = (try? power.status()) ?? .unknown
            logger.notice("power \(name): \(action.rawValue) by \(user) done, now \(state.rawValue)")
            return state
        } catch {
            logger.error("power \(name): \(action.rawValue) by \(user) failed: \(error)")
            throw error
        }
    }
}

/// A power switch whose every action first starts the console's scrollback
/// afresh: what a console attached afterwards replays is this power-up's
/// output, never the last boot's. A tool that opens the console and then
/// powers the board on (labgrid's UBootStrategy, LAVA) would otherwise
/// take the last boot's "Hit any key" and `=> ` for this one's. The
/// console log keeps everything (`log`).
final class FreshScrollback: PowerSwitch {
    let inner: any PowerSwitch
    let console: SerialConsole

    init(_ inner: any PowerSwitch, console: SerialConsole) {
        self.inner = inner
        self.console = console
    }

    func powerOn() throws {
        console.forgetScrollback()
        try inner.powerOn()
    }

    func powerOff() throws {
        console.forgetScrollback()
        try inner.powerOff()
    }

    func cycle() throws {
        console.forgetScrollback()
        try inner.cycle()
    }

    func status() throws -> PowerState { try inner.status() }
}
