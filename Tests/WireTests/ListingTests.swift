import Foundation
import Testing
import Wire

@Suite("Wire: reservations and audit rows")
struct ListingTests {
    static func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]]).first ?? [:]
    }

    @Test("a reservation's start is absent when unknown, never null; it reads back")
    func reservation() throws {
        let known = ReservationReport(board: "b1", user: "alice", guests: ["bob"], start: "2026-12-01T16:00:00Z",
                                      end: "2026-12-01T18:00:00Z", source: "calendar", stale: true)
        var told = known
        told.start = nil
        told.source = "coordinator"
        let knownObject = try Self.object(Wire.line([known]))
        #expect(knownObject["v"] as? Int == 1 && knownObject["start"] as? String == "2026-12-01T16:00:00Z")
        #expect(try Self.object(Wire.line([told])).keys.contains("start") == false)
        #expect(try Wire.decode([ReservationReport].self, from: Array(Wire.line([known, told]).utf8)) == [known, told])
        // Written before v and source: read with the defaults.
        let old = #"[{"board":"b1","end":"2026-12-01T18:00:00Z","guests":[],"user":"alice"}]"#
        #expect(try Wire.decode([ReservationReport].self, from: Array(old.utf8)).first?.source == "local")
    }

    @Test("an audit line writes board and detail as null when empty, and reads back")
    func audit() throws {
        let line = AuditReport(time: "2026-12-01T16:40:11Z", user: "alice", action: "release", board: "b1", detail: nil)
        let object = try Self.object(Wire.line([line]))
        #expect(object["detail"] is NSNull && object["board"] as? String == "b1" && object["v"] as? Int == 1)
        #expect(try Wire.decode([AuditReport].self, from: Array(Wire.line([line]).utf8)) == [line])
        #expect(throws: WireError.self) { try Wire.decode([AuditReport].self, from: Array(#"[{"time":"x","user":"a"}]"#.utf8)) }
    }
}

/// `reservations --json` is written by hand for speed (bench/store): it must
/// be the very bytes JSONEncoder writes, whatever the strings hold.
@Test(arguments: [
    "b1", "", "quote\"back\\slash/", "new\nline\ttab\r\u{08}\u{0C}", "\u{01}\u{1F}\u{7F}", "Éve ⌚️ 東京", "\u{2028}",
])
func theReservationListingWrittenByHandIsJSONEncodersToTheByte(_ text: String) {
    let rows = [
        ReservationReport(board: text, user: "alice", guests: [], start: "2026-12-07T10:00:00Z", end: "2026-12-07T11:00:00Z",
                          source: "local", stale: false),
        ReservationReport(board: "b2", user: text, guests: [text, "bob"], start: nil, end: text, source: text, stale: true),
        ReservationReport(board: "b3", user: "carol", guests: [], start: "s", end: "e", source: "calendar", stale: false, title: text),
    ]
    #expect(ReservationReport.jsonLine(rows) == Wire.line(rows))
    #expect(ReservationReport.jsonLine([]) == Wire.line([ReservationReport]()))
}
