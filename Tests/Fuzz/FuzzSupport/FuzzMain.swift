#if canImport(Glibc)
import Glibc
#endif

/// The one entry point of every fuzz target (`Tests/Fuzz/fuzz-*`): the target
/// hands over its `LLVMFuzzerTestOneInput`.
///
/// Built by `scripts/fuzz` with `-sanitize=fuzzer -D FUZZING`, this runs
/// libFuzzer's driver with the command line (`-runs=`, corpus folders…).
/// In an ordinary build it replays the files (or folders of files) named on
/// the command line through the target, one by one, and says how many: so
/// `swift build` keeps every target compiling, and a committed crash input
/// can be rerun without the fuzzer.
public enum FuzzMain {
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

    public static func run(_ testOneInput: TestOneInput) -> Never {
#if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
#else
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            for file in files(at: path) {
                let bytes = read(file)
                _ = bytes.withUnsafeBufferPointer { testOneInput($0.baseAddress, $0.count) }
                count += 1
            }
        }
        print("\(CommandLine.arguments[0]): \(count) inputs replayed, none crashed")
        exit(0)
#endif
    }

    /// `path` itself, or the files in the folder `path` (sorted).
    static func files(at path: String) -> [String] {
        guard let folder = opendir(path) else { return [path] }
        defer { closedir(folder) }
        var names: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzMain.TestOneInput) -> Int32
#endif

extension UnsafePointer<UInt8>? {
    /// The input as bytes.
    public func bytes(_ count: Int) -> [UInt8] {
        map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    }
}
