import Commands
import ProvisionerCore
import ShellSupport
import Testing

/// The one access policy, as the coordinator (a free board is reserved
/// first) and an agent (a free board is open) apply it.
struct AccessPolicyTests {
    static let coordinator = AccessPolicy(freeBoardsAreOpen: false)
    static let agent = AccessPolicy(freeBoardsAreOpen: true)
    static let alice = ShellIdentity(user: "alice")
    static let admin = ShellIdentity(user: "root", admin: true)
    static let held = BoardHolder(user: "bob", guests: ["carol"], until: 1_900_000_000)

    static func command(_ words: String...) throws -> any BoardCommand { try command(words) }

    static func command(_ words: [String]) throws -> any BoardCommand {
        try #require(try LabCommand.parse(words, for: .coordinator).boardCommand)
    }

    @Test func changesNeedTheHolder() throws {
        let power = try Self.command("power", "b1", "on")
        #expect(try Self.coordinator.decide(power, identity: ShellIdentity(user: "bob"), holder: Self.held) == .granted)
        #expect(try Self.coordinator.decide(power, identity: ShellIdentity(user: "carol"), holder: Self.held) == .granted)
        for policy in [Self.coordinator, Self.agent] {
            #expect(throws: ShellError.notAllowed("power: b1 is held by bob until \(TimeText.format(Self.held.until))")) {
                try policy.decide(power, identity: Self.alice, holder: Self.held)
            }
        }
        #expect(throws: ShellError.notAllowed("power: needs a reservation of b1 (not reserved: reserve b1)")) {
            try Self.coordinator.decide(power, identity: Self.alice, holder: nil)
        }
        #expect(try Self.agent.decide(power, identity: Self.alice, holder: nil) == .granted)
    }

    @Test func lookingNeedsNothing() throws {
        for words in [["power", "b1", "status"], ["files", "b1"], ["upload", "b1", "x"], ["jobs", "b1"], ["log", "b1"], ["token", "b1"]] {
            let command = try #require(try LabCommand.parse(words, for: .coordinator).boardCommand)
            #expect(try Self.coordinator.decide(command, identity: Self.alice, holder: Self.held) == .granted, "\(words)")
        }
    }

    @Test func aConsoleWatchesUnlessItsCallerHoldsTheBoard() throws {
        let console = try Self.command("console", "b1")
        #expect(try Self.coordinator.decide(console, identity: Self.alice, holder: Self.held) == .watching)
        #expect(try Self.coordinator.decide(console, identity: Self.alice, holder: nil) == .watching)
        #expect(try Self.agent.decide(console, identity: Self.alice, holder: nil) == .granted)
        #expect(try Self.coordinator.decide(console, identity: ShellIdentity(user: "bob"), holder: Self.held) == .granted)
        #expect(try Self.coordinator.decide(try Self.command("console", "b1", "--ro"), identity: ShellIdentity(user: "bob"),
                                            holder: Self.held) == .watching)
    }

    @Test func adminsForceOthersDoNot() throws {
        let forced = try Self.command("flash", "b1", "--rootfs", "img", "--force")
        #expect(try Self.coordinator.decide(forced, identity: Self.admin, holder: Self.held) == .forced(over: "bob"))
        #expect(try Self.coordinator.decide(forced, identity: Self.admin, holder: nil) == .forced(over: nil))
        #expect(throws: ShellError.notAllowed("flash: --force is for admins")) {
            try Self.coordinator.decide(forced, identity: Self.alice, holder: Self.held)
        }
        // An agent takes --force from its coordinator, which checked the admin.
        let viaCoordinator = ShellIdentity(user: "root", coordinator: "lab")
        #expect(try Self.agent.decide(forced, identity: viaCoordinator, holder: Self.held) == .forced(over: "bob"))
    }

    @Test func aStaleCalendarRefusesItsHolder() throws {
        let power = try Self.command("power", "b1", "cycle")
        #expect(throws: ShellError.failure("power: the calendar cannot be read")) {
            try Self.coordinator.decide(power, identity: ShellIdentity(user: "bob"), holder: Self.held, problem: "the calendar cannot be read")
        }
    }

    /// Free is not locked: on a locked board nobody changes anything, not
    /// even a holder the agent last heard of; consoles watch; an admin's
    /// `--force` passes; looking needs nothing.
    @Test func aLockedBoardTakesNothingFromAnyone() throws {
        let locked = "waiting for the coordinator"
        for words in [["power", "b1", "on"], ["netboot", "b1", "--kernel", "Image"], ["flash", "b1", "--rootfs", "img"],
                      ["connect", "b1", "22"]] {
            let command = try Self.command(words)
            for identity in [Self.alice, ShellIdentity(user: "bob"), ShellIdentity(user: "bob", coordinator: "lab")] {
                #expect(throws: ShellError.notAllowed("\(words[0]): b1 is locked: \(locked)"), "\(words) \(identity.user)") {
                    try Self.agent.decide(command, identity: identity, holder: nil, locked: locked)
                }
            }
        }
        #expect(try Self.agent.decide(try Self.command("console", "b1"), identity: Self.alice, holder: nil, locked: locked) == .watching)
        #expect(try Self.agent.decide(try Self.command("power", "b1", "status"), identity: Self.alice, holder: nil, locked: locked) == .granted)
        #expect(try Self.agent.decide(try Self.command("files", "b1"), identity: Self.alice, holder: nil, locked: locked) == .granted)
        let forced = try Self.command("power", "b1", "off", "--force")
        #expect(try Self.agent.decide(forced, identity: ShellIdentity(user: "root", coordinator: "lab"), holder: nil,
                                      locked: locked) == .forced(over: nil))
    }
}
