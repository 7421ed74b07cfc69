import SystemSupport

/// `web:` in coordinator.yaml and agent.yaml (DESIGN.md "Web"): where the
/// page listens, the URL browsers reach it at (default http://LISTEN, or
/// https:// with TLS; set it when the listener is 0.0.0.0 or behind a
/// proxy: sign-in links and the same-origin check use it), and the PEM
/// files of its TLS certificate and key (both or neither).
public struct WebSettings: Sendable {
    public var listen: SocketAddress
    public var publicURL: String
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(_ value: ConfigValue) throws(ConfigError) {
        let map = try value.mapping()
        let listenValue = try map.required("listen")
        do { listen = try SocketAddress(parsing: try listenValue.word()) } catch let error as ConfigError { throw error } catch {
            throw listenValue.error("\(error)")
        }
        let certificate = try map.optional("tls_cert")?.filePath(), key = try map.optional("tls_key")?.filePath()
        if (certificate == nil) != (key == nil), let given = map.optional("tls_cert") ?? map.optional("tls_key") {
            throw given.error("tls_cert and tls_key go together (PEM files of the certificate and its key)")
        }
        var publicURL = (certificate == nil ? "http://" : "https://") + "\(listen)"
        if let given = map.optional("public_url") {
            let text = try given.word()
            guard text.hasPrefix("http://") || text.hasPrefix("https://"), text.count <= 300, !text.contains("?"), !text.contains("#") else {
                throw given.error("must be http://HOST[:PORT] or https://… as browsers reach the page")
            }
            publicURL = text.hasSuffix("/") ? String(text.dropLast()) : text
        }
        try map.finish()
        self.publicURL = publicURL
        tlsCertificate = certificate
        tlsKey = key
    }
}
