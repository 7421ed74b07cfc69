@testable import Jobs
import Testing
import Wire

/// The flasher's events as the flash job reads them from the JSON posted,
/// and the lines they make.
struct FlasherEventTests {
    @Test func anInventoryIsOneLine() throws {
        let event = try flasherEvent(#"{"event":"inventory","memory_bytes":536870912,"serial":"S1","block_devices":[{"name":"vda","bytes":1073741824}],"interfaces":[{"name":"eth0","mac":"52:54:00:12:34:56"}]}"#)
        #expect(event == .inventory("memory 512 MiB; storage vda 1024 MiB; net eth0 52:54:00:12:34:56; serial S1"))
        #expect(try flasherEvent(#"{"type":"inventory"}"#) == .inventory("inventory received"))
    }

    @Test func aWrittenImageSaysWhatWasChecked() throws {
        #expect(try flasherEvent(#"{"event":"image_done","image":"rootfs","bytes":3145728,"sha256":"ab","verified":true}"#)
                == .imageDone("rootfs: 3 MiB written, sha256 ab, verified"))
        #expect(try flasherEvent(#"{"type":"image_done","image":"rootfs","sha256":null,"bytes":4194304,"bytes_written":1048576}"#)
                == .imageDone("rootfs: 4 MiB image, 1 MiB written, bmap checksums match"))
    }

    @Test func anErrorNamesItsPhaseErrnoAndOffset() throws {
        #expect(try flasherEvent(#"{"event":"error","phase":"download","message":"HTTP 404"}"#)
                == .error("the flasher failed in download: HTTP 404"))
        #expect(try flasherEvent(#"{"type":"error","phase":"write","what":"short write","image":null,"errno":"EIO","errno_code":5,"offset":512}"#)
                == .error("the flasher failed in write: short write (EIO) at byte 512"))
    }

    @Test func successProgressAndTheRest() throws {
        #expect(try flasherEvent(#"{"event":"success"}"#) == .success)
        #expect(try flasherEvent(#"{"event":"done"}"#) == .success)
        #expect(try flasherEvent(#"{"event":"progress","phase":"write","done":1}"#) == .progress(FlashProgress(phase: "write", done: 1)))
        #expect(try flasherEvent(#"{"event":"log","message":"syncing"}"#) == .other(message: "syncing"))
        #expect(try flasherEvent(#"{"event":"heartbeat","from_the_future":[1,{"x":2}]}"#) == .other(message: nil),
                "a field this agent does not know is ignored")
    }

    /// The event the flasher writes today, field for field (docs/json.md).
    @Test func theFlashersProgressReadsAsWritten() throws {
        let event = try flasherEvent(#"{"type":"progress","image":"rootfs","phase":"write","bytes_done":536870912,"bytes_total":2147483648,"mb_per_s":118.4,"downloaded_bytes":201326592,"elapsed":5.02}"#)
        #expect(event == .progress(FlashProgress(phase: "write", image: "rootfs", done: 536_870_912, total: 2_147_483_648, rate: 118.4)))
        guard case .progress(let progress) = event else { return }
        #expect(progress.line == "write rootfs [#####...............] 25% 118.4 MB/s ETA 0:13")
    }

    /// Numbers a broken or hostile flasher may post: none traps, none is
    /// believed, and the rest of the event still counts.
    @Test(arguments: ["-1", "0.5", "9223372036854775808", "1e19", "1e300", "-1e300", "1e-300", "\"12\"", "true", "null",
                      String(repeating: "9", count: 400)])
    func anOutOfRangeNumberReadsAsAbsent(number: String) throws {
        let json = #"{"type":"progress","phase":"write","image":"rootfs","bytes_done":\#(number),"bytes_total":\#(number),"mb_per_s":\#(number),"elapsed":\#(number)}"#
        let report = try Wire.decode(FlasherEventReport.self, from: Array(json.utf8))
        #expect(report.bytesDone == nil && report.bytesTotal == nil)
        #expect(report.image == "rootfs" && report.phase == "write")
        let line = FlashProgress(report).line
        #expect(line.hasPrefix("write rootfs "))
        let failed = try Wire.decode(FlasherEventReport.self, from: Array(#"{"type":"error","what":"x","offset":\#(number)}"#.utf8))
        #expect(FlasherEvent(failed) == .error("the flasher failed in ?: x"))
    }

    /// A progress line from counts that do not add up, and from a rate so
    /// small that the time left would not fit an integer.
    @Test func aProgressLineFromOddCountsDoesNotTrap() {
        #expect(FlashProgress(phase: "write", done: 30, total: 10, rate: 1).line == "write [####################] 100% 1.0 MB/s ETA 0:00")
        #expect(FlashProgress(phase: "write", done: 0, total: 1 << 53, rate: 1e-300).line == "write [....................] 0%")
        #expect(FlashProgress(phase: "verify", done: 1 << 53, rate: 1e6).line == "verify 9007199254 MB 1000000.0 MB/s")
        // Any Int64 through the public init: clamped, never subtracted as integers.
        #expect(FlashProgress(phase: "write", done: -1, total: 1, rate: 1).line == "write [....................] 0% 1.0 MB/s ETA 0:00")
        #expect(FlashProgress(phase: "write", done: .min, total: .max, rate: 1e-300).line == "write [....................] 0%")
        #expect(FlashProgress(phase: "write", done: .max, total: 1, rate: 1).line == "write [####################] 100% 1.0 MB/s ETA 0:00")
    }

    @Test func aBodyThatIsNotAnObjectIsRefusedWithAReason() {
        for body in ["[]", "{", "", #"{"type":"progress"} trailing"#] {
            #expect(throws: WireError.self) { try Wire.decode(FlasherEventReport.self, from: Array(body.utf8)) }
        }
    }
}

/// The event the flash job makes of `json` as the flasher posts it.
func flasherEvent(_ json: String) throws -> FlasherEvent {
    FlasherEvent(try Wire.decode(FlasherEventReport.self, from: Array(json.utf8)))
}
