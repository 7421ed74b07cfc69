#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import SystemSupport
import Testing

/// A socket whose connect or bind fails is closed once. Its init used to
/// close it and then its deinit (which a class's throwing init runs once all
/// its properties are set) closed the same number again: by then, maybe
/// another thread's file (a parallel test's SQLite database said "disk I/O
/// error"; in the agent, another board's console could have been cut).
@Suite("sockets that fail to connect or bind")
struct SocketOwnershipTests {
    @Test("a failed connect or bind closes its socket once, never another thread's file")
    func aFailureClosesOnlyItsOwnSocket() throws {
        let held = try UDPSocket(boundTo: try SocketAddress(parsing: "127.0.0.1:0"))
        let taken = try held.localAddress()
        // A TCP port nobody listens on: bound, never listening.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(silent >= 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) == 0 && getsockname(silent, $0, &length) == 0 }
        }
        try #require(bound)
        let refused = try SocketAddress(host: "127.0.0.1", port: UInt16(bigEndian: address.sin_port))

        // Another thread keeps making socket pairs, each taking the lowest
        // free numbers (those a failure just freed), and checks each works
        // (without SIGPIPE or blocking when a number was taken over).
        let stop = Atomic<Bool>(false)
        let broken = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            defer { done.signal() }
            var byte: UInt8 = 7
            while !stop.load(ordering: .relaxed) {
                var fds: [Int32] = [-1, -1]
                guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else { continue }
                for _ in 0..<20 { sched_yield() }
                if send(fds[1], &byte, 1, Int32(MSG_NOSIGNAL)) != 1 || recv(fds[0], &byte, 1, Int32(MSG_DONTWAIT)) != 1 {
                    broken.add(1, ordering: .relaxed)
                }
                close(fds[0])
                close(fds[1])
            }
        }.start()
        var failures = 0
        for round in 0..<3000 {
            do {
                if round % 2 == 0 {
                    _ = try TCPConnection(to: refused, timeout: 1)
                } else {
                    _ = try UDPSocket(boundTo: taken)
                }
            } catch {
                failures += 1
            }
        }
        stop.store(true, ordering: .relaxed)
        done.wait()
        #expect(failures == 3000, "every connect was refused and every bind found its port taken")
        #expect(broken.load(ordering: .relaxed) == 0, "another thread's pipe was closed under it")
    }
}
