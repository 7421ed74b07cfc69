/// The job manifest the agent serves at `GET /api/v1/jobs/ID`:
///
///     {
///       "images": [
///         { "name": "rootfs", "url": "http://…/rootfs.img.zst", "sha256": "…", "file_sha256": "…", "size": 1073741824,
///           "compression": "zstd", "bmap": "http://…/rootfs.img.bmap", "target": "/dev/mmcblk0" },
///         { "name": "kernel", "url": "http://…/Image", "sha256": "…", "target": "/dev/mmcblk0p1:/Image" }
///       ],
///       "verify": true,
///       "after": "reboot",
///       "secret": "…"
///     }
///
/// `name`, `sha256` (of the image as written, decompressed), `file_sha256`
/// (of the file at `url` as downloaded), `size`, `compression` (none, gzip,
/// xz, zstd; else detected), `bmap`, `verify`, `after` and `secret` (the
/// job's credential, sent with every event; the agent serves the manifest
/// once) are optional.
///
/// `"v"` is the wire version (docs/json.md, "Compatibility"): absent or up
/// to `wireVersion` is read; a newer one is refused, because its members
/// may mean something else. Members this flasher does not know are skipped
/// and named in `FlashJob.ignoredMembers` (the console shows them): a newer
/// agent may add a member without breaking the flasher images boards boot,
/// and a member whose absence would make the job wrong comes with a new `v`.
public enum JobManifest {
    /// A manifest larger than this is refused.
    public static let maximumSize = 1 << 20
    /// The newest manifest version this flasher reads.
    public static let wireVersion: Int64 = 1

    public static func parse(_ bytes: [UInt8], jobURL: HTTPURL) throws(FlasherError) -> FlashJob {
        func refuse(_ why: String) -> FlasherError { FlasherError(.manifest, "job manifest from \(jobURL): \(why)") }
        let document: JSON
        do {
            document = try JSON(parsing: bytes)
        } catch {
            throw refuse(error.description)
        }
        guard case .object(let members) = document else { throw refuse("expected an object, found \(document.kind)") }
        if let value = document["v"] {
            guard let version = value.integerValue, version >= 1 else {
                throw refuse("\"v\" must be a wire version (1, 2, …), found \(value.serialized.prefix(40))")
            }
            guard version <= wireVersion else {
                throw refuse("written in wire version \(version), this flasher reads up to \(wireVersion): rebuild the flasher images "
                    + "with the agent (images/build-flasher)")
            }
        }
        var ignored = unknown(members, ["v", "images", "verify", "after", "secret"], in: "")
        guard let imagesValue = document["images"] else { throw refuse("no \"images\"") }
        guard let list = imagesValue.arrayValue else { throw refuse("\"images\" must be an array, found \(imagesValue.kind)") }
        guard !list.isEmpty else { throw refuse("\"images\" is empty: nothing to flash") }
        guard list.count <= 16 else { throw refuse("more than 16 images") }
        var images: [ImageSpec] = []
        for (index, entry) in list.enumerated() {
            let place = "images[\(index)]"
            guard case .object(let fields) = entry else { throw refuse("\(place) must be an object, found \(entry.kind)") }
            ignored += unknown(fields, ["name", "url", "sha256", "file_sha256", "size", "compression", "bmap", "target"], in: place + ".")
            func string(_ key: String, required: Bool) throws(FlasherError) -> String? {
                guard let value = entry[key] else {
                    if required { throw refuse("\(place) has no \"\(key)\"") }
                    return nil
                }
                guard let text = value.stringValue else { throw refuse("\(place).\(key) must be a string, found \(value.kind)") }
                return text
            }
            let name = try string("name", required: false) ?? (index == 0 ? "rootfs" : "image\(index)")
            guard name.utf8.count <= 64, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                throw refuse("\(place).name must be 1–64 letters, digits, '.', '_' or '-'")
            }
            var size: Int64?
            if let value = entry["size"] {
                guard let integer = value.integerValue, integer >= 0 else {
                    throw refuse("\(place).size must be a whole number of bytes, found \(value.serialized.prefix(40))")
                }
                size = integer
            }
            do {
                images.append(ImageSpec(
                    name: name,
                    url: try HTTPURL(parsing: try string("url", required: true)!),
                    sha256: try string("sha256", required: false).map { (hex: String) throws(FlasherError) in
                        try parseSHA256(hex, what: "\(place).sha256")
                    },
                    fileSHA256: try string("file_sha256", required: false).map { (hex: String) throws(FlasherError) in
                        try parseSHA256(hex, what: "\(place).file_sha256")
                    },
                    size: size,
                    compression: try string("compression", required: false).map { (text: String) throws(FlasherError) in
                        try Compression(named: text)
                    },
                    bmapURL: try string("bmap", required: false).map { (text: String) throws(FlasherError) in try HTTPURL(parsing: text) },
                    target: try TargetSpec(parsing: try string("target", required: true)!)))
            } catch {
                throw error.phase == .manifest ? error : refuse(error.what)
            }
        }
        var verify = true
        if let value = document["verify"] {
            guard let flag = value.boolValue else { throw refuse("\"verify\" must be true or false, found \(value.kind)") }
            verify = flag
        }
        var after = AfterAction.reboot
        if let value = document["after"] {
            guard let text = value.stringValue, let action = AfterAction(rawValue: text) else {
                throw refuse("\"after\" must be \"reboot\", \"poweroff\" or \"stay\"")
            }
            after = action
        }
        var secret: String?
        if let value = document["secret"] {
            // Sent back in a header: printable ASCII only, and short.
            guard let text = value.stringValue, (1...256).contains(text.utf8.count), text.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
                throw refuse("\"secret\" must be 1–256 printable ASCII characters")
            }
            secret = text
        }
        var job = FlashJob(images: images, verify: verify, after: after, eventsURL: jobURL.appendingPathComponent("events"))
        job.eventsSecret = secret
        job.ignoredMembers = ignored
        return job
    }

    /// The members not in `known`, as `place` + name (at most 60 characters of each name, 16 names).
    private static func unknown(_ members: [(String, JSON)], _ known: Set<String>, in place: String) -> [String] {
        members.filter { !known.contains($0.0) }.prefix(16).map { place + String($0.0.prefix(60)) }
    }
}
