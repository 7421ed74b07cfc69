#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// What went wrong, in which phase, and where: the flasher's one error type,
/// reported to the agent as a structured event and printed on the console.
public struct FlasherError: Error, CustomStringConvertible, Sendable {
    /// The step that failed; also the `phase` of the error event.
    public enum Phase: String, Sendable {
        case configuration, boot, network, manifest, inventory, download, decompress, write, checksum, verify, finish
    }

    public var phase: Phase
    public var what: String
    /// The errno of a failed system call, if one caused this.
    public var code: Int32?
    /// The byte offset in the image (decompressed) where it failed, if known.
    public var offset: Int64?
    /// The image this is about ("rootfs", "kernel"), if any.
    public var image: String?

    public init(_ phase: Phase, _ what: String, code: Int32? = nil, offset: Int64? = nil, image: String? = nil) {
        self.phase = phase
        self.what = what
        self.code = code
        self.offset = offset
        self.image = image
    }

    /// Wraps a failed system call.
    public init(_ phase: Phase, _ error: SystemError, offset: Int64? = nil) {
        self.init(phase, error.operation, code: error.code, offset: offset)
    }

    /// The C library's text for `code`, e.g. "No space left on device".
    public var reason: String? { code.map { String(cString: strerror($0)) } }

    public var description: String {
        var text = "\(phase.rawValue)"
        if let image { text += " \(image)" }
        text += ": \(what)"
        if let reason { text += ": \(reason)" }
        if let offset { text += " (at byte \(offset))" }
        return text
    }

    /// This error with the image named, unless it already names one.
    func about(image name: String) -> FlasherError {
        var copy = self
        if copy.image == nil { copy.image = name }
        return copy
    }
}
