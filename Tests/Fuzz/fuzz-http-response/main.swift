#if canImport(Glibc)
import Glibc
#endif
import FlasherCore
import FuzzSupport

/// The flasher's HTTP/1.1 response reader (status line, headers, interim
/// responses, Content-Length, chunked and until-close bodies), fed the input
/// as a server's whole answer through a socket pair, for GET and for HEAD.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.bytes(size)
    let url = HTTPURL(host: "10.0.2.2", port: 8080, target: "/u/alice/rootfs.img")
    for method in ["GET", "HEAD"] {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else { return 0 }
        // The whole answer is in the socket before the reader starts; inputs
        // are far below a socket pair's buffer (libFuzzer's -max_len).
        var size = Int32(1 << 20)
        setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(pair[1], $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        close(pair[1])
        let connection = HTTPConnection(adopting: pair[0], url: url)
        if (try? connection.readHead(method: method)) != nil {
            _ = try? connection.readWholeBody(limit: 1 << 20)
        }
    }
    return 0
}

FuzzMain.run(testOneInput)
