/// A Content-Type by file name; artifacts are mostly binary images.
enum ContentType {
    private static let byExtension: [String: String] = [
        "txt": "text/plain; charset=utf-8", "log": "text/plain; charset=utf-8",
        "sha256": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
        "json": "application/json", "yaml": "application/yaml", "yml": "application/yaml",
        "html": "text/html; charset=utf-8", "xml": "application/xml", "sh": "text/x-shellscript",
        "gz": "application/gzip", "tgz": "application/gzip", "xz": "application/x-xz",
        "zst": "application/zstd", "bz2": "application/x-bzip2", "lz4": "application/x-lz4",
        "tar": "application/x-tar", "zip": "application/zip", "cpio": "application/x-cpio",
        "bmap": "application/xml", "iso": "application/x-iso9660-image",
    ]

    static func forName(_ name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        return byExtension[name[name.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }
}
