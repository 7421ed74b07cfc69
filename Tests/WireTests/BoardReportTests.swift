import Foundation
import Testing
import Wire

@Suite("Wire: boards --json rows, versioned")
struct BoardReportTests {
    @Test("a row is written with every key, null where empty, and v: 1")
    func writesEveryKey() throws {
        let row = BoardReport(name: "b1", agent: "bench", online: true, power: "off", state: "off")
        let line = Wire.line([row])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]]).first
        #expect(Set(object?.keys.map { $0 } ?? []) == ["v", "name", "agent", "online", "power", "state", "holder", "until", "guests", "locked", "tags"])
        #expect(object?["v"] as? Int == 1)
        #expect(object?["tags"] as? [String] == [], "no tags is an empty list, not null")
        #expect(object?["holder"] is NSNull)
        #expect(object?["locked"] is NSNull)
        #expect(!line.contains("\n"))
    }

    @Test("a row reads back as written")
    func roundTrip() throws {
        let row = BoardReport(name: "b1", agent: "bench", online: true, power: "on", state: "linux", holder: "alice",
                              until: "2026-12-01T18:00:00Z", guests: ["bob"], locked: nil)
        let locked = BoardReport(name: "b2", agent: "bench", online: false, power: "unknown", state: "unknown",
                                 locked: "waiting for the coordinator")
        #expect(try Wire.decode([BoardReport].self, from: Array(Wire.line([row, locked]).utf8)) == [row, locked])
    }

    @Test("an agent one version older (no v, no locked) is read with defaults; unknown keys are ignored")
    func readsTheOlderAgent() throws {
        let old = #"[{"agent":"bench-1","guests":[],"holder":"alice","name":"board1","online":true,"power":"on","state":"u-boot","until":"2026-12-01T17:00:00Z","later":{"x":1}},{"name":"board2"}]"#
        let rows = try Wire.decode([BoardReport].self, from: Array(old.utf8))
        #expect(rows.map(\.name) == ["board1", "board2"])
        #expect(rows[0].holder == "alice" && rows[0].locked == nil)
        #expect(rows[1] == BoardReport(name: "board2", agent: "", online: false, power: "unknown", state: "unknown"))
    }

    @Test("a newer version, a malformed row and hostile numbers are one-line errors, never a trap")
    func refusals() {
        func error(_ text: String) -> String? {
            do { _ = try Wire.decode([BoardReport].self, from: Array(text.utf8)); return nil } catch { return error.description }
        }
        #expect(error(#"[{"v":2,"name":"b1"}]"#) == "written in wire version 2, this program reads up to 1: upgrade it")
        #expect(error(#"[{"v":0,"name":"b1"}]"#)?.contains("reads 1 to 1") == true)
        #expect(error(#"[{"v":-1,"name":"b1"}]"#) != nil)
        #expect(error(#"[{"online":true}]"#)?.contains("name is missing") == true)
        #expect(error(#"[{"name":7}]"#) != nil)
        #expect(error("[{") != nil)
        for number in ["1e19", "1e300", "9223372036854775808", String(repeating: "9", count: 400), "1.5", "-1e-300"] {
            #expect(error(#"[{"v":\#(number),"name":"b1"}]"#) != nil, "v: \(number)")
        }
        for message in [error(#"[{"v":2,"name":"b1"}]"#), error("[{")].compactMap({ $0 }) {
            #expect(!message.contains("\n"))
        }
    }
}
