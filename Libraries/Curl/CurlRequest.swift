import CCurl
import Synchronization

/// libcurl's version, e.g. "7.88.1".
public let libcurlVersion: String = String(cString: curl_version_info(CURLVERSION_TENTH).pointee.version)

private let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

/// A response as libcurl delivered it.
public struct CurlResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// One blocking HTTP(S) request through libcurl's easy interface, with
/// certificate checks on. Run it on a thread of its own or a thread pool,
/// never on Swift's cooperative pool.
public struct CurlRequest: Sendable {
    public var url: String
    public var method = "GET"
    public var headers: [String] = []
    public var body: [UInt8]?
    /// Extra CA bundle (PEM), e.g. a test CA.
    public var caFile: String?
    public var timeoutSeconds = 30
    /// A larger answer is refused (the transfer stops there): a server
    /// gone wrong cannot make the caller hold gigabytes. Google's pages
    /// are well under a megabyte.
    public var maxResponseBytes = 16 << 20

    public init(url: String) { self.url = url }

    public func perform() throws(CurlError) -> CurlResponse {
        _ = globalInit
        guard let handle = curl_easy_init() else { throw CurlError("curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        return try perform(on: handle)
    }

    /// Sets every option of this request on `handle` (fresh, or reset) and runs it.
    func perform(on handle: UnsafeMutableRawPointer) throws(CurlError) -> CurlResponse {
        let sink = Sink(limit: maxResponseBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        CCurl_setopt_string(handle, CURLOPT_URL, url)
        CCurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        CCurl_setopt_long(handle, CURLOPT_TIMEOUT, timeoutSeconds)
        CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile { CCurl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
        CCurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        CCurl_setopt_write_callback(handle, curlWriteCallback)
        CCurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        errorBuffer.withUnsafeMutableBufferPointer { _ = CCurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, $0.baseAddress) }
        let code: CURLcode = withExtendedLifetime(sink) {
            if let body {
                return body.withUnsafeBufferPointer { bytes in
                    CCurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    CCurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                    return curl_easy_perform(handle)
                }
            }
            return curl_easy_perform(handle)
        }
        if sink.overflowed {
            throw CurlError("\(url): the answer is larger than \(maxResponseBytes >> 20) MiB; not read")
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CurlError("\(url): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)")
        }
        var status = 0
        CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return CurlResponse(status: status, body: sink.bytes)
    }
}

/// One easy handle reused for request after request, so libcurl keeps the
/// connection (and the TLS session) open between them: a sync that asks
/// every 30 s need not make a TCP and TLS handshake each time. Requests
/// through one connection run one at a time.
public final class CurlConnection: Sendable {
    private let handle: Mutex<UnsafeMutableRawPointer?>

    public init() {
        _ = globalInit
        handle = Mutex(curl_easy_init())
    }

    deinit {
        handle.withLock { if let handle = $0 { curl_easy_cleanup(handle) } }
    }

    public func perform(_ request: CurlRequest) throws(CurlError) -> CurlResponse {
        let outcome: Result<CurlResponse, CurlError> = handle.withLock { handle in
            guard let handle else { return .failure(CurlError("curl_easy_init failed")) }
            // Options go back to their defaults; open connections stay in the handle's cache.
            curl_easy_reset(handle)
            do throws(CurlError) { return .success(try request.perform(on: handle)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }
}

/// Collects the body as libcurl hands it over (on the calling thread), up
/// to `limit` bytes; past it the transfer is stopped.
final class Sink {
    var bytes: [UInt8] = []
    let limit: Int
    var overflowed = false

    init(limit: Int) { self.limit = limit }
}

let curlWriteCallback: curl_write_callback = { data, size, count, context in
    let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
    let (total, overflow) = size.multipliedReportingOverflow(by: count)
    guard !overflow, total <= sink.limit - sink.bytes.count else {
        sink.overflowed = true
        return 0  // anything but `total` makes libcurl stop with CURLE_WRITE_ERROR
    }
    if let data { sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: total)) }
    return total
}

public struct CurlError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
