import HTTPDaemon
import Logging

/// The HTTP side of the artifact store (DESIGN.md, "HTTP artifacts"):
///
/// * `GET`/`HEAD /u/USER/PATH` and `/shared/PATH`: the file with sendfile,
///   Range, ETag / If-None-Match, Last-Modified.
/// * `GET /u/USER/?format=json` (or any folder): the listing.
/// * `PUT /u/USER/PATH` with `Authorization: Bearer TOKEN` (USER's) and
///   optionally `X-Checksum-Sha256` or `?sha256=`: a verified, atomic upload.
/// * `DELETE /u/USER/PATH`, with the same token.
///
/// Every refusal is answered with its status and one line, and logged once.
public struct ArtifactServer: HTTPHandler {
    public static let allowedMethods = "GET, HEAD, PUT, DELETE"

    public let store: ArtifactStore
    public let tokens: TokenStore
    private let logger: Logger
    private let cache: SmallFileCache

    /// `cacheCapacity`: bytes of small files (up to 64 KiB each) kept ready to send.
    public init(store: ArtifactStore, tokens: TokenStore, logger: Logger, cacheCapacity: Int = 4 << 20) {
        self.store = store
        self.tokens = tokens
        self.logger = logger
        self.cache = SmallFileCache(capacity: cacheCapacity)
    }

    public func handle(_ request: HTTPRequest) -> HTTPAction {
        do {
            switch request.method {
            case "GET", "HEAD":
                let response = try read(request, try ArtifactRoute(target: request.target))
                logger.debug("http: \(request.method) \(request.target) from \(client(request)): \(response.status), \(response.contentLength) bytes")
                return .respond(response)
            case "PUT":
                return .receive(try beginUpload(request, try ArtifactRoute(target: request.target)))
            case "DELETE":
                let route = try ArtifactRoute(target: request.target)
                try authorise(request, route)
                try store.delete(route)
                logger.info("http: deleted '\(route.space)\(route.path)' for \(client(request))")
                return .respond(HTTPResponse(status: 204))
            default:
                throw ArtifactRefusal(405, "method \(request.method) is not allowed (\(Self.allowedMethods))")
            }
        } catch let refusal as ArtifactRefusal {
            log(refusal, request)
            var response = refusalResponse(refusal)
            if refusal.status == 405 { response.headers.append(("Allow", Self.allowedMethods)) }
            if refusal.status == 401 { response.headers.append(("WWW-Authenticate", "Bearer realm=\"provisioner\"")) }
            return .respond(response)
        } catch {
            let refusal = ArtifactRefusal(500, "\(error)")
            log(refusal, request)
            return .respond(refusalResponse(refusal))
        }
    }

    // MARK: GET and HEAD

    private func read(_ request: HTTPRequest, _ route: ArtifactRoute) throws -> HTTPResponse {
        if route.namesFolder { return try listing(request, route) }
        let rangeHeader = request.header("Range")
        if rangeHeader == nil, let entry = cache.lookup(store.path(of: route)) {
            return notModified(request, tag: entry.tag, modified: entry.modified)
                ?? HTTPResponse(status: 200, cached: entry.body)
        }
        let file = try store.openFile(route)
        if file.status.isDirectory { return try listing(request, route) }
        let status = file.status
        let tag = entityTag(inode: status.inode, size: status.size, modifiedNanoseconds: status.modifiedNanoseconds)
        let lastModified = HTTPDate.format(Int(status.modified))
        if let response = notModified(request, tag: tag, modified: status.modified) { return response }
        let headers = [("ETag", tag), ("Last-Modified", lastModified), ("Accept-Ranges", "bytes"),
                       ("Content-Type", ContentType.forName(file.name))]
        var range = ByteRangeRequest(header: rangeHeader, size: status.size)
        if let ifRange = request.header("If-Range"), ifRange != tag && ifRange != lastModified {
            range = .whole  // the client's copy is outdated: it gets the whole new file
        }
        switch range {
        case .whole:
            if status.size <= SmallFileCache.maxFileSize, let bytes = FileSystem.readAll(file.descriptor, count: Int(status.size)),
               let body = bytes.withUnsafeBytes({ HTTPCachedBody(bytes: $0, headers: headers) }) {
                cache.insert(SmallFileCache.Entry(identity: .init(status), body: body, tag: tag, modified: status.modified),
                             for: store.path(of: route))
                return HTTPResponse(status: 200, cached: body)
            }
            return HTTPResponse(status: 200, headers: headers,
                                file: HTTPFileRange(descriptor: file.take(), offset: 0, length: status.size))
        case .partial(let start, let end):
            return HTTPResponse(status: 206, headers: headers + [("Content-Range", "bytes \(start)-\(end)/\(status.size)")],
                                file: HTTPFileRange(descriptor: file.take(), offset: start, length: end - start + 1))
        case .unsatisfiable:
            let refusal = ArtifactRefusal(416, "range '\(request.header("Range") ?? "")' is outside '\(route.space)\(route.path)' (\(status.size) bytes)")
            logger.info("http: \(request.method) \(request.target) from \(client(request)): \(refusal)")
            var response = refusalResponse(refusal)
            response.headers.append(("Content-Range", "bytes */\(status.size)"))
            return response
        }
    }

    /// 304 when the client's copy is current (If-None-Match, else If-Modified-Since).
    private func notModified(_ request: HTTPRequest, tag: String, modified: Int64) -> HTTPResponse? {
        let current: Bool
        if let noneMatch = request.header("If-None-Match") {
            current = noneMatchHits(noneMatch, tag: tag)
        } else if let since = request.header("If-Modified-Since").flatMap(HTTPDate.parse) {
            current = modified <= since
        } else {
            return nil
        }
        guard current else { return nil }
        return HTTPResponse(status: 304, headers: [("ETag", tag), ("Last-Modified", HTTPDate.format(Int(modified)))])
    }

    private func listing(_ request: HTTPRequest, _ route: ArtifactRoute) throws -> HTTPResponse {
        let entries = try store.list(route)
        if route.query["format"] == "json" {
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json"), ("Cache-Control", "no-cache")],
                                body: Array(listingJSON(entries).utf8))
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-cache")],
                            body: Array(listingText(entries).utf8))
    }

    // MARK: PUT and DELETE

    private func beginUpload(_ request: HTTPRequest, _ route: ArtifactRoute) throws -> ArtifactUpload {
        let user = try authorise(request, route)
        var expectedSHA256: String?
        if let announced = request.header("X-Checksum-Sha256") ?? route.query["sha256"] {
            let value = announced.lowercased().trimmingSpaces()
            guard value.utf8.count == 64, value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                throw ArtifactRefusal.badRequest("the sha256 '\(announced)' is not 64 hex digits")
            }
            expectedSHA256 = String(value)
        }
        var expectedLength: UInt64?
        if let length = request.header("Content-Length") {
            guard let value = UInt64(length.trimmingSpaces()) else { throw ArtifactRefusal.badRequest("bad Content-Length '\(length)'") }
            expectedLength = value
        }
        let upload = try store.beginUpload(route, user: user, expectedLength: expectedLength)
        upload.expectedSHA256 = expectedSHA256
        upload.expectedLength = expectedLength
        let logger = self.logger
        let line = "http: PUT \(request.target) from \(client(request))"
        upload.onEnd = { status, message in
            switch status {
            case 200, 201: logger.info("\(line): \(message)")
            case 0: logger.warning("\(line): \(message)")
            default: logger.warning("\(line): refused: \(status) \(message)")
            }
        }
        return upload
    }

    /// The user whose space the route names, when the request carries that
    /// user's token; refuses otherwise (401 without a token, 403 with another).
    @discardableResult
    private func authorise(_ request: HTTPRequest, _ route: ArtifactRoute) throws(ArtifactRefusal) -> String {
        guard case .user(let user) = route.space else {
            throw .forbidden("the shared space is read-only over HTTP")
        }
        guard let authorization = request.header("Authorization") else {
            throw ArtifactRefusal(401, "\(request.method) needs 'Authorization: Bearer TOKEN' (the token of \(user))")
        }
        let parts = authorization.trimmingSpaces().split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw ArtifactRefusal(401, "the Authorization header must be 'Bearer TOKEN'")
        }
        guard tokens.verify(String(parts[1].trimmingSpaces()), for: user) else {
            throw .forbidden("the token is not \(user)'s")
        }
        return user
    }

    // MARK: Logs

    private func log(_ refusal: ArtifactRefusal, _ request: HTTPRequest) {
        let line = "http: refused \(request.method) \(printable(request.target)) from \(client(request)): \(refusal)"
        if refusal.status == 404 { logger.notice("\(line)") } else { logger.warning("\(line)") }
    }

    private func client(_ request: HTTPRequest) -> String {
        request.client.map { "\($0)" } ?? "?"
    }
}

/// A refusal as a response: the status and its one line as text.
func refusalResponse(_ refusal: ArtifactRefusal) -> HTTPResponse {
    HTTPResponse(status: refusal.status, headers: [("Content-Type", "text/plain; charset=utf-8")],
                 body: Array("\(refusal.message)\n".utf8))
}

/// A request target for a log line: at most 200 characters, no control bytes.
private func printable(_ target: String) -> String {
    let cut = target.count > 200 ? target.prefix(200) + "…" : target[...]
    return String(cut.map { $0.isASCII && ($0.asciiValue! < 0x20 || $0.asciiValue! == 0x7f) ? "?" : $0 })
}
