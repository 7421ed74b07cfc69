#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Digest
import HTTPDaemon
import SystemSupport

/// One PUT under way: the body goes to a hidden temp file beside its target
/// while its sha256 is computed; when complete (and matching the sha256 the
/// client announced, if any) it is fsynced and renamed into place. Any other
/// end removes the temp file and the folders the upload created.
final class ArtifactUpload: HTTPBodyReceiver, @unchecked Sendable {
    // @unchecked: libmicrohttpd calls a request's receiver from the one
    // thread serving its connection, one call at a time.
    let route: ArtifactRoute
    let user: String
    let folder: OpenFolder
    let temporaryName: String
    var expectedSHA256: String?
    var expectedLength: UInt64?
    /// Reports how the upload ended: (status, message) for the log.
    var onEnd: (@Sendable (Int, String) -> Void)?

    private let store: ArtifactStore
    private var descriptor: Int32
    private var hasher = SHA256Hasher()
    private var written: UInt64 = 0
    private let reserved: UInt64
    private let allowance: UInt64?
    private var ended = false

    init(store: ArtifactStore, route: ArtifactRoute, user: String, folder: OpenFolder, temporaryName: String,
         descriptor: Int32, reserved: UInt64, allowance: UInt64?) {
        self.store = store
        self.route = route
        self.user = user
        self.folder = folder
        self.temporaryName = temporaryName
        self.descriptor = descriptor
        self.reserved = reserved
        self.allowance = allowance
    }

    deinit { if !ended { discard() } }

    func receive(_ bytes: UnsafeRawBufferPointer) -> HTTPResponse? {
        written += UInt64(bytes.count)
        if let allowance, written > allowance {
            return refuse(ArtifactRefusal(507, "quota exceeded: the upload of '\(route.space)\(route.path)' passed the \(allowance) bytes left to \(user)"))
        }
        do {
            try FileSystem.writeAll(descriptor, bytes)
        } catch {
            return refuse(ArtifactStore.refusal(for: error, route))
        }
        hasher.update(bytes)
        return nil
    }

    func finish() -> HTTPResponse {
        let sha256 = hasher.finalize()
        if let expectedSHA256, expectedSHA256 != sha256 {
            return refuse(ArtifactRefusal(422, "sha256 mismatch for '\(route.space)\(route.path)': received \(sha256), expected \(expectedSHA256); nothing was stored"))
        }
        if let expectedLength, expectedLength != written {
            return refuse(.badRequest("'\(route.space)\(route.path)': received \(written) of \(expectedLength) bytes"))
        }
        guard fsync(descriptor) == 0, let status = FileSystem.status(of: descriptor) else {
            return refuse(ArtifactStore.refusal(for: SystemError("fsync"), route))
        }
        let replaced: Bool
        do {
            replaced = try store.commit(self, sha256: sha256, status: status)
        } catch {
            return refuse(error)
        }
        close(descriptor)
        descriptor = -1
        folder.close()
        store.release(reserved, for: user)
        ended = true
        let message = "stored '\(route.space)\(route.path)': \(written) bytes, sha256 \(sha256)"
        onEnd?(replaced ? 200 : 201, message)
        let body = "{\"name\":\(jsonString(route.path)),\"size\":\(written),\"sha256\":\"\(sha256)\"}\n"
        return HTTPResponse(status: replaced ? 200 : 201,
                            headers: [("Content-Type", "application/json"), ("X-Checksum-Sha256", sha256)],
                            body: Array(body.utf8))
    }

    func abandon(reason: String) {
        guard !ended else { return }
        discard()
        onEnd?(0, "upload of '\(route.space)\(route.path)' abandoned after \(written) bytes (\(reason)); temp file removed")
    }

    private func refuse(_ refusal: ArtifactRefusal) -> HTTPResponse {
        discard()
        onEnd?(refusal.status, refusal.message)
        return refusalResponse(refusal)
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
