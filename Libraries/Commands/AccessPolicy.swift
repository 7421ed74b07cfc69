import ProvisionerCore
import ShellSupport

/// Who holds a board now, as the side asking knows it: the coordinator's
/// store, or what the coordinator told an agent (`hold`).
public struct BoardHolder: Sendable, Equatable {
    public var user: String
    public var guests: [String]
    /// Unix time.
    public var until: Int64

    public init(user: String, guests: [String] = [], until: Int64) {
        self.user = user
        self.guests = guests
        self.until = until
    }

    /// The holder and the guests may use the board.
    public func allows(_ user: String) -> Bool { self.user == user || guests.contains(user) }
}

/// What the policy lets a command do.
public enum AccessGrant: Sendable, Equatable {
    /// As the holder (or a guest), or on a board that is open to anyone.
    case granted
    /// An admin's `--force` over someone else's hold (audited as such).
    case forced(over: String?)
    /// A console that only watches: asked for, or someone else holds the board.
    case watching
}

/// The one access policy of the agent and the coordinator (DESIGN.md
/// "Reservation needed"): console input, power, netboot, flash and tunnels
/// need the board's holder; an admin may override with `--force`; anyone
/// may watch a console and use their own files.
public struct AccessPolicy: Sendable {
    /// Whether a board nobody holds is open to anyone: yes on an agent (a
    /// lone agent's free board; a coordinator's agent, whose coordinator
    /// decided before it routed), no at the coordinator (reserve first).
    public let freeBoardsAreOpen: Bool

    public init(freeBoardsAreOpen: Bool) { self.freeBoardsAreOpen = freeBoardsAreOpen }

    /// Decides `command` for `identity` on a board held by `holder` (nil:
    /// nobody). `problem`: why nobody may change the board now (a stale
    /// calendar), refused as a failure. `locked`: why the agent keeps the
    /// board shut (free is not locked): refused to everyone, consoles
    /// watch, an admin's `--force` passes. Refusals are one line, exit 3.
    public func decide(_ command: any BoardCommand, identity: ShellIdentity, holder: BoardHolder?,
                       problem: String? = nil, locked: String? = nil) throws(ShellError) -> AccessGrant {
        let name = type(of: command).name
        let force = (command as? any ForcibleCommand)?.force ?? false
        // A coordinator's key only says --force for an admin it checked.
        if force && !identity.admin && identity.coordinator == nil { throw .notAllowed("\(name): --force is for admins") }
        let wants: Bool
        switch command.access {
        case .anyone: return .granted
        case .holder: wants = true
        case .console(let readOnly): wants = !readOnly
        }
        guard wants else { return .watching }
        if let locked {
            if force { return .forced(over: nil) }
            if case .console = command.access { return .watching }
            throw .notAllowed("\(name): \(command.board) is locked: \(locked)")
        }
        let holds = holder.map { $0.allows(identity.user) } ?? freeBoardsAreOpen
        if holds {
            if let problem { throw .failure("\(name): \(problem)") }
            return .granted
        }
        if force { return .forced(over: holder?.user) }
        if case .console = command.access { return .watching }
        guard let holder else {
            throw .notAllowed("\(name): needs a reservation of \(command.board) (not reserved: reserve \(command.board))")
        }
        throw .notAllowed("\(name): \(command.board) is held by \(holder.user) until \(TimeText.format(holder.until))")
    }
}

/// A board command an admin may force over someone else's reservation.
public protocol ForcibleCommand: BoardCommand {
    var force: Bool { get }
}

extension PowerCommand: ForcibleCommand {}
extension ConsoleCommand: ForcibleCommand {}
extension NetbootCommand: ForcibleCommand {}
extension FlashCommand: ForcibleCommand {}
