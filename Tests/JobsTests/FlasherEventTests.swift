@testable import Jobs
import Testing

/// The flasher's events as the flash job reads them, and the lines they make.
struct FlasherEventTests {
    @Test func anInventoryIsOneLine() {
        let event = FlasherEvent(["event": "inventory", "memory_bytes": 536_870_912, "serial": "S1",
                                  "block_devices": [["name": "vda", "bytes": 1_073_741_824]],
                                  "interfaces": [["name": "eth0", "mac": "52:54:00:12:34:56"]]])
        #expect(event == .inventory("memory 512 MiB; storage vda 1024 MiB; net eth0 52:54:00:12:34:56; serial S1"))
        #expect(FlasherEvent(["type": "inventory"]) == .inventory("inventory received"))
    }

    @Test func aWrittenImageSaysWhatWasChecked() {
        #expect(FlasherEvent(["event": "image_done", "image": "rootfs", "bytes": 3 << 20, "sha256": "ab", "verified": true])
                == .imageDone("rootfs: 3 MiB written, sha256 ab, verified"))
        #expect(FlasherEvent(["event": "image_done", "image": "rootfs", "bytes": 4 << 20, "bytes_written": 1 << 20])
                == .imageDone("rootfs: 4 MiB image, 1 MiB written, bmap checksums match"))
    }

    @Test func anErrorNamesItsPhaseErrnoAndOffset() {
        #expect(FlasherEvent(["event": "error", "phase": "download", "message": "HTTP 404"])
                == .error("the flasher failed in download: HTTP 404"))
        #expect(FlasherEvent(["event": "error", "phase": "write", "what": "short write", "errno": "EIO", "offset": 512])
                == .error("the flasher failed in write: short write (EIO) at byte 512"))
    }

    @Test func successProgressAndTheRest() {
        #expect(FlasherEvent(["event": "success"]) == .success)
        #expect(FlasherEvent(["event": "done"]) == .success)
        #expect(FlasherEvent(["event": "progress", "phase": "write", "done": 1]) == .progress(FlashProgress(["phase": "write", "done": 1])))
        #expect(FlasherEvent(["event": "log", "message": "syncing"]) == .other(message: "syncing"))
        #expect(FlasherEvent(["event": "heartbeat"]) == .other(message: nil))
    }
}
