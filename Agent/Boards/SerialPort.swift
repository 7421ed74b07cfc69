#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A serial device opened raw: termios `cfmakeraw`, the given baud rate,
/// 8N1, `CLOCAL | CREAD`, no hardware or software flow control;
/// `O_NOCTTY | O_NONBLOCK`. Owns its descriptor, closed on `close()` or deinit.
///
/// `@unchecked Sendable`: a console shares it between its reader thread and
/// writers under a `Mutex`, and only the reader closes it.
public final class SerialPort: @unchecked Sendable {
    public let path: String
    public private(set) var descriptor: Int32

    /// Opens `path` (a tty, a pty, or a symbolic link to one) and sets it raw.
    public init(path: String, baud: Int) throws {
        self.path = path
        descriptor = try systemCall("open \(path)") { open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) }
        do {
            try Self.configure(descriptor, baud: baud, path: path)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
    }

    deinit { close() }

    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    static func configure(_ fd: Int32, baud: Int, path: String) throws {
        var options = termios()
        try systemCall("tcgetattr \(path)") { tcgetattr(fd, &options) }
        cfmakeraw(&options)
        options.c_cflag &= ~(tcflag_t(CSIZE) | tcflag_t(PARENB) | tcflag_t(CSTOPB) | tcflag_t(CRTSCTS))
        options.c_cflag |= tcflag_t(CS8) | tcflag_t(CLOCAL) | tcflag_t(CREAD)
        options.c_iflag &= ~(tcflag_t(IXON) | tcflag_t(IXOFF) | tcflag_t(IXANY))
        let speed = speed_t(Self.speedConstant(baud))
        try systemCall("cfsetspeed \(path) \(baud)") { cfsetspeed(&options, speed) }
        try systemCall("tcsetattr \(path)") { tcsetattr(fd, TCSANOW, &options) }
    }

    /// The termios constant for a baud rate (validated by the config).
    static func speedConstant(_ baud: Int) -> Int32 {
        let table: [Int: Int32] = [
            1200: B1200, 2400: B2400, 4800: B4800, 9600: B9600, 19200: B19200, 38400: B38400,
            57600: B57600, 115200: B115200, 230400: B230400, 460800: B460800, 500000: B500000,
            576000: B576000, 921600: B921600, 1000000: B1000000, 1152000: B1152000, 1500000: B1500000,
            2000000: B2000000, 2500000: B2500000, 3000000: B3000000, 3500000: B3500000, 4000000: B4000000,
        ]
        return table[baud] ?? B115200
    }

    /// Reads what is there; 0 when nothing is (EAGAIN). Throws on EIO and
    /// other errors, and on end of file (a pty whose other side closed).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count > 0 { return count }
            if count == 0 { throw SystemError("read \(path): end of file", code: EIO) }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            throw SystemError("read \(path)")
        }
    }

    /// Writes all of `bytes`, waiting up to `timeout` seconds for the line to
    /// take them (a stalled line with flow control, a full pty).
    public func write(_ bytes: [UInt8], timeout: Double = 5) throws {
        let deadline = monotonicSeconds() + timeout
        var offset = 0
        try bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count > 0 { offset += count; continue }
                if count < 0 && errno == EINTR { continue }
                guard count < 0 && errno == EAGAIN else { throw SystemError("write \(path)") }
                let left = deadline - monotonicSeconds()
                guard left > 0 else { throw SystemError("write \(path)", code: ETIMEDOUT) }
                var fds = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&fds, 1, Int32(min(left, 1) * 1000) + 1)
            }
        }
    }

    /// A serial break (about 0.25 s of zero bits). The corresponding C function is `tcsendbreak`.
    public func sendBreak() throws {
        try systemCall("tcsendbreak \(path)") { tcsendbreak(descriptor, 0) }
    }
}
