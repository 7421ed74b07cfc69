/// The console's escape (DESIGN.md "Console escape"): `Ctrl-]` opens a
/// one-line menu and the next key picks: `.` detach, `c` power cycle,
/// `b` send break, `r` reset to the U-Boot prompt, `Ctrl-]` sends Ctrl-]
/// itself; any other key closes the menu. Every other byte is typed.
public struct ConsoleEscape: Sendable {
    public static let key: UInt8 = 0x1D  // Ctrl-]

    public enum Action: Sendable, Equatable {
        /// Bytes to type on the console.
        case send([UInt8])
        case showMenu
        case detach
        case powerCycle
        case sendBreak
        case resetToUBoot
        /// The menu closed without a choice.
        case cancel
    }

    private enum State {
        /// Typing: bytes go to the board.
        case typing
        /// Ctrl-] seen: the next byte is a menu choice.
        case menu
    }

    private var state = State.typing

    public init() {}

    /// The actions for bytes typed by the client, in order.
    public mutating func feed(_ bytes: [UInt8]) -> [Action] {
        var actions: [Action] = []
        var run: [UInt8] = []
        func flush() {
            if !run.isEmpty { actions.append(.send(run)); run.removeAll() }
        }
        for byte in bytes {
            switch state {
            case .typing:
                if byte == Self.key {
                    flush()
                    actions.append(.showMenu)
                    state = .menu
                } else {
                    run.append(byte)
                }
            case .menu:
                state = .typing
                switch byte {
                case UInt8(ascii: "."): actions.append(.detach)
                case UInt8(ascii: "c"): actions.append(.powerCycle)
                case UInt8(ascii: "b"): actions.append(.sendBreak)
                case UInt8(ascii: "r"): actions.append(.resetToUBoot)
                case Self.key: run.append(Self.key)
                default: actions.append(.cancel)
                }
            }
        }
        flush()
        return actions
    }
}
