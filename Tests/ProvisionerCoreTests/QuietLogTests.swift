import SystemSupport
import Testing

/// QuietLog: one line a second of a kind, the next counting those left out.
struct QuietLogTests {
    @Test func oneLineASecondAndTheNextCountsTheRest() {
        let quiet = QuietLog()
        #expect(quiet.admit("refused a", now: 100) == "refused a")
        #expect(quiet.admit("refused b", now: 100.2) == nil)
        #expect(quiet.admit("refused c", now: 100.9) == nil)
        #expect(quiet.admit("refused d", now: 101.0) == "refused d (and 2 more like it)")
        #expect(quiet.admit("refused e", now: 105) == "refused e", "nothing left out since")
    }

    @Test func theFirstLineIsLoggedWhateverTheClock() {
        #expect(QuietLog().admit("first", now: 0) == "first")
        #expect(QuietLog().admit("first", now: -5) == "first")
    }
}
