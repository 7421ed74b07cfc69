#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Digest
import HTTPDaemon
import SystemSupport

/// One upload under way (an HTTP PUT or an SSH `upload`): the body goes to a hidden temp file beside its target
/// while its sha256 is computed; when complete (and matching the sha256 the
/// client announced, if any) it is fsynced and renamed into place. Any other
/// end removes the temp file and the folders the upload created.
public final class ArtifactUpload: @unchecked Sendable {
    // @unchecked: one thread at a time drives an upload (libmicrohttpd's
    // thread for the connection, or the SSH command's thread).
    public let route: ArtifactRoute
    public let user: String
    let folder: OpenFolder
    let temporaryName: String
    /// The sha256 the client announced; the upload fails unless it matches.
    public var expectedSHA256: String?
    /// The length the client announced; the upload fails unless it matches.
    public var expectedLength: UInt64?
    /// Reports how the upload ended: (status, message) for the log.
    public var onEnd: (@Sendable (Int, String) -> Void)?

    private let store: ArtifactStore
    private var descriptor: Int32
    private var hasher = SHA256Hasher()
    private var written: UInt64 = 0
    /// The bytes of the user's quota this upload holds: the announced length,
    /// or, when unknown, grown in steps as the bytes come.
    private var reserved: UInt64
    private var ended = false

    init(store: ArtifactStore, route: ArtifactRoute, user: String, folder: OpenFolder, temporaryName: String,
         descriptor: Int32, reserved: UInt64) {
        self.store = store
        self.route = route
        self.user = user
        self.folder = folder
        self.temporaryName = temporaryName
        self.descriptor = descriptor
        self.reserved = reserved
    }

    deinit { if !ended { discard() } }

    /// Appends body bytes. A refusal (quota, a write error) has already
    /// discarded the upload: nothing was stored.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(ArtifactRefusal) {
        guard !ended else { throw ArtifactRefusal(500, "the upload of '\(route.space)\(route.path)' has already ended") }
        let total = written + UInt64(bytes.count)
        if total > reserved {
            do {
                reserved = try store.grow(self, holding: reserved, toHold: total)
            } catch {
                throw refuse(error)
            }
        }
        written = total
        do {
            try FileSystem.writeAll(descriptor, bytes)
        } catch {
            throw refuse(ArtifactStore.refusal(for: error, route))
        }
        hasher.update(bytes)
    }

    /// The body is complete: checks its sha256 and length against what was
    /// announced, fsyncs, and renames it into place beside its sidecar. A
    /// refusal has discarded the upload.
    public func complete() throws(ArtifactRefusal) -> StoredArtifact {
        guard !ended else { throw ArtifactRefusal(500, "the upload of '\(route.space)\(route.path)' has already ended") }
        let sha256 = hasher.finalize()
        if let expectedSHA256, expectedSHA256 != sha256 {
            throw refuse(ArtifactRefusal(422, "sha256 mismatch for '\(route.space)\(route.path)': received \(sha256), expected \(expectedSHA256); nothing was stored"))
        }
        if let expectedLength, expectedLength != written {
            throw refuse(.badRequest("'\(route.space)\(route.path)': received \(written) of \(expectedLength) bytes"))
        }
        guard fsync(descriptor) == 0, let status = FileSystem.status(of: descriptor) else {
            throw refuse(ArtifactStore.refusal(for: SystemError("fsync"), route))
        }
        // What the upload holds becomes its size: the rest of its last step is free at once.
        store.release(reserved - min(written, reserved), for: user)
        reserved = min(written, reserved)
        let replaced: Bool
        do {
            replaced = try store.commit(self, sha256: sha256, status: status)
        } catch {
            throw refuse(error)
        }
        close(descriptor)
        descriptor = -1
        folder.close()
        store.release(reserved, for: user)
        ended = true
        onEnd?(replaced ? 200 : 201, "stored '\(route.space)\(route.path)': \(written) bytes, sha256 \(sha256)")
        return StoredArtifact(name: route.path, size: written, sha256: sha256, replaced: replaced)
    }

    /// Ends the upload without storing anything (the client went away).
    public func abandon(reason: String) {
        guard !ended else { return }
        discard()
        onEnd?(0, "upload of '\(route.space)\(route.path)' abandoned after \(written) bytes (\(reason)); temp file removed")
    }

    /// Discards the upload and reports the refusal; returns it for throwing.
    private func refuse(_ refusal: ArtifactRefusal) -> ArtifactRefusal {
        discard()
        onEnd?(refusal.status, refusal.message)
        return refusal
    }

    /// Removes the temp file and the folders this upload made; frees the reservation.
    private func discard() {
        guard !ended else { return }
        ended = true
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlinkat(folder.descriptor, temporaryName, 0)
        folder.close()
        folder.removeCreated()
        store.release(reserved, for: user)
    }
}

/// An artifact an upload stored.
public struct StoredArtifact: Equatable, Sendable {
    /// The path inside its space.
    public var name: String
    public var size: UInt64
    public var sha256: String
    /// It replaced a file of the same name.
    public var replaced: Bool
}

/// The HTTP side: libmicrohttpd feeds a PUT's body.
extension ArtifactUpload: HTTPBodyReceiver {
    public func receive(_ bytes: UnsafeRawBufferPointer) -> HTTPResponse? {
        do throws(ArtifactRefusal) {
            try write(bytes)
            return nil
        } catch {
            return refusalResponse(error)
        }
    }

    public func finish() -> HTTPResponse {
        let stored: StoredArtifact
        do throws(ArtifactRefusal) {
            stored = try complete()
        } catch {
            return refusalResponse(error)
        }
        let body = "{\"name\":\(jsonString(stored.name)),\"size\":\(stored.size),\"sha256\":\"\(stored.sha256)\"}\n"
        return HTTPResponse(status: stored.replaced ? 200 : 201,
                            headers: [("Content-Type", "application/json"), ("X-Checksum-Sha256", stored.sha256)],
                            body: Array(body.utf8))
    }
}
