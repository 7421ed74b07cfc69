import Jobs
import Testing

/// One job per board, and the state `boards` shows.
struct JobSlotsTests {
    @Test func aSecondJobIsRefusedWithItsHolderUntilTheFirstEnds() throws {
        let slots = JobSlots()
        let claim = try slots.claim("board1", kind: "netboot", user: "alice")
        do {
            _ = try slots.claim("board1", kind: "flash", user: "bob")
            Issue.record("one job per board")
        } catch {
            #expect(error.description == "board1 is busy: a netboot job by alice is running (for under a minute)")
        }
        _ = try slots.claim("board2", kind: "flash", user: "bob")
        claim.release()
        _ = try slots.claim("board1", kind: "flash", user: "bob")
    }

    @Test func theStateFollowsPowerJobsAndTheirResults() throws {
        let slots = JobSlots()
        #expect(slots.state(of: "b", power: .on) == "unknown")
        let claim = try slots.claim("b", kind: "flash", user: "alice")
        #expect(slots.state(of: "b", power: .on) == "flashing")
        #expect(slots.state(of: "b", power: .off) == "off")
        claim.release()
        slots.setState("linux", of: "b")
        #expect(slots.state(of: "b", power: .on) == "linux")
        slots.setState(nil, of: "b")
        #expect(slots.state(of: "b", power: .on) == "unknown")
    }
}
