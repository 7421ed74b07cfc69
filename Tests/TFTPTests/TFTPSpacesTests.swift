import Foundation
import SystemSupport
import TFTP
import Testing

@Suite("TFTPSpaces: the agent's TFTP name space")
struct TFTPSpacesTests {
    private let board = try! SocketAddress(parsing: "192.168.5.10:1234")
    private let stranger = try! SocketAddress(parsing: "192.168.5.99:1234")

    /// A data folder laid out as the agent's, removed at the end.
    private final class Spaces {
        let folder: String
        let spaces: TFTPSpaces

        init(boardHost: String) throws {
            var template = Array("/tmp/tftp-spaces.XXXXXX".utf8CString)
            folder = String(cString: mkdtemp(&template)!)
            for sub in ["shared", "staging/board1", "users/alice"] {
                try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true)
            }
            try writeFile("\(folder)/shared/flasher.itb", Array("flasher".utf8))
            try writeFile("\(folder)/staging/board1/Image", Array("staged".utf8))
            try writeFile("\(folder)/users/alice/Image", Array("alice's".utf8))
            symlink("\(folder)/users/alice/Image", "\(folder)/shared/alias")  // leads out of shared/
            let alice = "\(folder)/users/alice"
            spaces = TFTPSpaces(prefixes: ["shared": "\(folder)/shared", "board1": "\(folder)/staging/board1"],
                                fallback: { $0.host == boardHost ? alice : nil })
        }

        deinit { try? FileManager.default.removeItem(atPath: folder) }
    }

    private func contents(_ file: TFTPOpenFile) -> String {
        var buffer = [UInt8](repeating: 0, count: file.size)
        _ = buffer.withUnsafeMutableBytes { pread(file.descriptor, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func prefixesPickTheirFolders() throws {
        let fixture = try Spaces(boardHost: board.host)
        let spaces = fixture.spaces
        let shared = try spaces.open("shared/flasher.itb", for: stranger)
        #expect(contents(shared) == "flasher")
        let staged = try spaces.open("/board1/Image", for: stranger)
        #expect(contents(staged) == "staged")
        #expect(staged.name == "board1/Image")
    }

    @Test func otherNamesComeFromTheClientsSpace() throws {
        let fixture = try Spaces(boardHost: board.host)
        let own = try fixture.spaces.open("Image", for: board)
        #expect(contents(own) == "alice's")
        #expect(throws: TFTPRefusal(.fileNotFound, "'Image' not found")) { try fixture.spaces.open("Image", for: stranger) }
    }

    @Test func eachSpaceKeepsItsOwnBounds() throws {
        let fixture = try Spaces(boardHost: board.host)
        let spaces = fixture.spaces
        do {
            // A symlink from shared/ into a user's space leaves shared/: refused.
            #expect(throws: TFTPRefusal(.accessViolation, "'shared/alias' leads out of the TFTP root")) {
                try spaces.open("shared/alias", for: board)
            }
            #expect(throws: TFTPRefusal(.accessViolation, "'..' is not allowed in 'board1/../users/alice/Image'")) {
                try spaces.open("board1/../users/alice/Image", for: board)
            }
            // A bare prefix names a folder, not a file.
            #expect(throws: TFTPRefusal.self) { try spaces.open("shared", for: stranger) }
        }
    }

    @Test func aFolderThatDoesNotExistYetIsNotFound() throws {
        let spaces = TFTPSpaces(prefixes: ["board2": "/nonexistent/staging/board2"])
        #expect(throws: TFTPRefusal(.fileNotFound, "'board2/Image' not found")) {
            try spaces.open("board2/Image", for: board)
        }
    }
}
