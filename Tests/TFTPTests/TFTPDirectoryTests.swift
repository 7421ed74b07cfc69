import Foundation
import SystemSupport
import Testing
import TFTP
import ProvisionerTesting

private let client = try! SocketAddress(parsing: "127.0.0.1:1069")

private func relative(_ requested: String) -> Result<String, TFTPRefusal> {
    Result { () throws(TFTPRefusal) -> String in try TFTPDirectory.relativePath(requested) }
}

private func open(_ requested: String, in directory: TFTPDirectory) -> Result<TFTPOpenFile, TFTPRefusal> {
    Result { () throws(TFTPRefusal) -> TFTPOpenFile in try directory.open(requested, for: client) }
}

extension Result where Failure == TFTPRefusal {
    fileprivate var refusal: TFTPRefusal? {
        if case .failure(let refusal) = self { return refusal }
        return nil
    }
}

/// A tree in a fresh folder: `root/` served, `outside/` beside it, and
/// `root2/` whose name starts like the root's.
private func withTree(_ body: (_ folder: String, _ directory: TFTPDirectory) throws -> Void) throws {
    try withTemporaryDirectory { folder in
        let files = FileManager.default
        for sub in ["root/boards/board1", "outside", "root2"] {
            try files.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true)
        }
        try writeFile("\(folder)/root/hello.txt", Array("hello\n".utf8))
        try writeFile("\(folder)/root/boards/board1/Image", patternBytes(count: 4099))
        try writeFile("\(folder)/outside/secret", Array("secret".utf8))
        try writeFile("\(folder)/root2/secret", Array("secret too".utf8))
        try body(folder, try TFTPDirectory(root: "\(folder)/root"))
    }
}

@Suite("TFTPDirectory")
struct TFTPDirectoryTests {
    // MARK: relativePath

    @Test(arguments: [
        ("a/b", "a/b"), ("/a/b", "a/b"), ("./a", "a"), ("a//b", "a/b"), ("a/./b", "a/b"),
        ("//boards///board1/Image", "boards/board1/Image"), ("...", "..."), ("a/..b", "a/..b"),
    ])
    func acceptedNames(_ requested: String, _ expected: String) throws {
        #expect(try relative(requested).get() == expected)
    }

    @Test(arguments: ["..", "../etc/passwd", "a/../b", "a/..", "/../x", "a/b/../../..", "./.."])
    func dotDotIsRefused(_ requested: String) {
        #expect(relative(requested).refusal == TFTPRefusal(.accessViolation, "'..' is not allowed in '\(requested)'"))
    }

    @Test(arguments: ["/", "", ".", "//", "./", "a/b/", "hello.txt/"])
    func namesOfNoFileAreNotFound(_ requested: String) {
        #expect(relative(requested).refusal == TFTPRefusal(.fileNotFound, "'\(requested)' names no file"))
    }

    // MARK: open

    @Test func regularFileOpensWithItsSize() throws {
        try withTree { _, directory in
            let file = try open("boards/board1/Image", in: directory).get()
            #expect(file.size == 4099)
            #expect(file.name == "boards/board1/Image")
            let absolute = try open("/hello.txt", in: directory).get()
            #expect(absolute.size == 6)
        }
    }

    @Test func missingFileIsNotFound() throws {
        try withTree { _, directory in
            #expect(open("nothing.bin", in: directory).refusal == TFTPRefusal(.fileNotFound, "'nothing.bin' not found"))
            #expect(open("hello.txt/below", in: directory).refusal?.code == .fileNotFound)
            // A trailing slash names a folder, as tftpd-hpa sees it, not the file.
            #expect(open("hello.txt/", in: directory).refusal?.code == .fileNotFound)
            #expect(open("missing/dir/file", in: directory).refusal?.code == .fileNotFound)
        }
    }

    @Test func directoryIsRefused() throws {
        try withTree { _, directory in
            #expect(open("boards", in: directory).refusal == TFTPRefusal(.accessViolation, "'boards' is not a regular file"))
        }
    }

    @Test func fifoIsRefusedWithoutHanging() throws {
        try withTree { folder, directory in
            #expect(mkfifo("\(folder)/root/pipe", 0o644) == 0)
            #expect(open("pipe", in: directory).refusal == TFTPRefusal(.accessViolation, "'pipe' is not a regular file"))
        }
    }

    @Test func symlinkToAFileInsideTheRootIsFollowed() throws {
        try withTree { folder, directory in
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/root/kernel", withDestinationPath: "boards/board1/Image")
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/root/board", withDestinationPath: "\(folder)/root/boards/board1")
            #expect(try open("kernel", in: directory).get().size == 4099)
            #expect(try open("board/Image", in: directory).get().size == 4099)
        }
    }

    @Test func symlinkToEtcPasswdIsRefused() throws {
        try withTree { folder, directory in
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/root/passwd", withDestinationPath: "/etc/passwd")
            #expect(open("passwd", in: directory).refusal == TFTPRefusal(.accessViolation, "'passwd' leads out of the TFTP root"))
        }
    }

    @Test func symlinkToASiblingFolderIsRefused() throws {
        try withTree { folder, directory in
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/root/a", withDestinationPath: "../outside/secret")
            // root2 starts with the root's path: a prefix test without '/' would let it through.
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/root/b", withDestinationPath: "\(folder)/root2/secret")
            #expect(open("a", in: directory).refusal == TFTPRefusal(.accessViolation, "'a' leads out of the TFTP root"))
            #expect(open("b", in: directory).refusal == TFTPRefusal(.accessViolation, "'b' leads out of the TFTP root"))
        }
    }

    @Test func symlinkedDirectoryLeadingOutsideIsRefused() throws {
        try withTree { folder, directory in
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/root/boards/escape", withDestinationPath: "\(folder)/outside")
            #expect(open("boards/escape/secret", in: directory).refusal
                == TFTPRefusal(.accessViolation, "'boards/escape/secret' leads out of the TFTP root"))
        }
    }

    @Test func rootGivenThroughASymlinkStillServes() throws {
        try withTree { folder, _ in
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/served", withDestinationPath: "\(folder)/root")
            let directory = try TFTPDirectory(root: "\(folder)/served/")
            #expect(directory.root == "\(folder)/root")
            #expect(try open("hello.txt", in: directory).get().size == 6)
            #expect(open("../outside/secret", in: directory).refusal?.code == .accessViolation)
        }
    }

    @Test func rootMustBeAnExistingDirectory() throws {
        try withTree { folder, _ in
            #expect(throws: SystemError.self) { try TFTPDirectory(root: "\(folder)/missing") }
            #expect(throws: SystemError("tftp root \(folder)/root/hello.txt", code: ENOTDIR)) {
                try TFTPDirectory(root: "\(folder)/root/hello.txt")
            }
        }
    }

    @Test func openedFileReadsTheRightBytes() throws {
        try withTree { _, directory in
            let file = try open("hello.txt", in: directory).get()
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
            #expect(Array(buffer[..<n]) == Array("hello\n".utf8))
        }
    }
}
