import Commands
import Logging
import ProvisionerTesting
import Reservations
import ShellSupport
import Synchronization
import SystemSupport
import Testing

/// The one reservation service of the coordinator and a lone agent, in
/// memory over a real store, SQLite and PostgreSQL: the texts users see, the
/// audit lines, and the watch's power-off at a reservation's end.
@Suite(.serialized)
struct ReservationServiceTests {
    let place: StorePlace
    let service: ReservationService

    init(_ engine: Engine) async throws {
        place = try await engine.place()
        let store = try ReservationStore(engine: try place.open())
        service = ReservationService(store: store, auditIsForAdmins: true, logger: Logger(label: "test"))
    }

    func run(_ user: String, admin: Bool = false, _ words: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let streams = MemoryStreams(terminal: false)
        let session = ShellSession(streams: streams, identity: ShellIdentity(user: user, admin: admin))
        do throws(ShellError) {
            switch try LabCommand.parse(words, for: .coordinator) {
            case .reserve(let command): try service.reserve(command, board: command.board ?? "", session)
            case .release(let command): try service.release(command, board: command.board, session)
            case .reservations(let command): try service.reservations(command, session)
            case .audit(let command): try service.auditLog(command, session)
            default: Issue.record("not a reservation command: \(words)")
            }
            return (0, streams.stdout, streams.stderr)
        } catch {
            return (error.status.rawValue, streams.stdout, "\(error.message)\n")
        }
    }

    @Test(arguments: Engine.available)
    static func reserveReleaseAndForceAsTheUsersSeeThem(_ engine: Engine) async throws {
        try await Self(engine).reserveReleaseAndForce()
    }

    func reserveReleaseAndForce() {
        #expect(run("alice", ["reserve", "b1", "--for", "2h"]).stdout.hasPrefix("b1: reserved by alice until "))
        let refused = run("bob", ["reserve", "b1"])
        #expect(refused.status == 1 && refused.stderr.hasPrefix("reserve: b1 is held by alice until "), "\(refused)")
        #expect(run("bob", ["release", "b1"]) == (3, "", "release: b1 is held by alice, not you\n"))
        #expect(run("bob", ["release", "b1", "--force"]) == (3, "", "release: --force is for admins\n"))
        #expect(run("bob", ["audit"]) == (3, "", "audit: for admins only\n"))
        #expect(run("carol", admin: true, ["release", "b1", "--force"]).stdout == "b1: released (was held by alice)\n")
        #expect(run("alice", ["release", "b1"]) == (1, "", "release: b1 is not reserved\n"))
        let audit = run("carol", admin: true, ["audit"]).stdout
        #expect(audit.contains("alice") && audit.contains("reserve") && audit.contains("release-forced"), "\(audit)")
        #expect(audit.contains("held by alice"), "\(audit)")
    }

    /// A reservation made and released between two passes of the watch still
    /// powers the board off (the watch is told of the holder at once).
    @Test(arguments: Engine.available)
    static func aReservationReleasedBeforeTheNextPassStillPowersTheBoardOff(_ engine: Engine) async throws {
        try await Self(engine).releasedBeforeTheNextPass()
    }

    func releasedBeforeTheNextPass() throws {
        let offs = Mutex<[String]>([])
        let done = ThreadSignal()
        #expect(run("alice", ["reserve", "b1"]).status == 0)
        #expect(run("alice", ["release", "b1"]).status == 0)
        try service.startWatch(interval: 0.05, boards: { ["b1", "b2"] }) { [service] board, user in
            offs.withLock { $0.append("\(board) \(user)") }
            service.poweredOff(board, after: user)
            done.signal()
        }
        defer { service.stopWatch() }
        #expect(done.wait(timeout: 10))
        #expect(offs.withLock { $0 } == ["b1 alice"])
        let audit = run("carol", admin: true, ["audit", "--json"]).stdout
        #expect(audit.contains(#""detail":"off (the reservation ended)""#), "\(audit)")
    }
}
