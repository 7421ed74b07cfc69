/// What the kernel command line asks of the flasher.
///
///     provisioner.job=http://AGENT:8080/api/v1/jobs/ID        (a manifest, see JobManifest)
///     provisioner.rootfs=URL provisioner.rootfs.sha256=HEX provisioner.target=/dev/mmcblk0
///     provisioner.kernel=URL provisioner.kernel.target=/dev/mmcblk0p1:/Image
///     provisioner.IMAGE.{sha256,file_sha256,size,compression,bmap,target}   (IMAGE: rootfs, kernel, dtb)
///                                 (sha256: of the image as written; file_sha256: of the file downloaded)
///     provisioner.bmap=URL        (the rootfs's bmap)
///     provisioner.verify=0        provisioner.after=reboot|poweroff|stay
///     provisioner.events=URL      (where events go without a job URL)
///     provisioner.retries=N       (download retries without progress; default 8)
///     ip=CLIENT::GATEWAY:NETMASK[:HOST:DEVICE]   or ip=dhcp
///
/// Other kernel parameters are ignored; an unknown `provisioner.` key, a
/// repeated one, or a malformed value is an error that names it.
public struct FlasherArguments: Sendable {
    public enum Source: Sendable {
        /// Fetch the manifest; its events go to `URL/events`.
        case manifest(HTTPURL)
        case images(FlashJob)
    }

    public var source: Source
    public var network: NetworkSetup
    /// Overrides of the manifest's settings from the command line.
    public var verify: Bool?
    public var after: AfterAction?
    public var retries: Int

    static let imageNames = ["rootfs", "kernel", "dtb"]
    static let imageFields = ["", ".sha256", ".file_sha256", ".size", ".compression", ".bmap", ".target"]

    public init(commandLine: KernelCommandLine) throws(FlasherError) {
        var values: [String: String] = [:]
        var network: NetworkSetup?
        let known = Set(["provisioner.job", "provisioner.target", "provisioner.bmap", "provisioner.verify",
                         "provisioner.after", "provisioner.events", "provisioner.retries"]
                        + Self.imageNames.flatMap { name in Self.imageFields.map { "provisioner.\(name)\($0)" } })
        for parameter in commandLine.parameters {
            if parameter.key == "ip" {
                guard network == nil else { throw FlasherError(.configuration, "ip= is given more than once") }
                network = try NetworkSetup(parsing: parameter.value ?? "")
                continue
            }
            guard parameter.key.hasPrefix("provisioner.") else { continue }
            guard known.contains(parameter.key) else {
                throw FlasherError(.configuration, "unknown parameter '\(parameter.key.prefix(100))' (see provisioner-flasher --help)")
            }
            guard let value = parameter.value, !value.isEmpty else {
                throw FlasherError(.configuration, "\(parameter.key) needs a value (\(parameter.key)=…)")
            }
            guard values[parameter.key] == nil else {
                throw FlasherError(.configuration, "\(parameter.key) is given more than once")
            }
            values[parameter.key] = value
        }
        self.network = network ?? .none

        switch values["provisioner.verify"] {
        case nil: verify = nil
        case "0", "no", "false", "off": verify = false
        case "1", "yes", "true", "on": verify = true
        case let other?: throw FlasherError(.configuration, "provisioner.verify=\(other.prefix(40)): use 0 or 1")
        }
        if let text = values["provisioner.after"] {
            guard let action = AfterAction(rawValue: text) else {
                throw FlasherError(.configuration, "provisioner.after=\(text.prefix(40)): use reboot, poweroff or stay")
            }
            after = action
        }
        retries = 8
        if let text = values["provisioner.retries"] {
            guard let count = Int(text), (0...1000).contains(count) else {
                throw FlasherError(.configuration, "provisioner.retries=\(text.prefix(40)): a number from 0 to 1000")
            }
            retries = count
        }

        let imageKeys = values.keys.filter { key in Self.imageNames.contains { key.hasPrefix("provisioner.\($0)") } }
        if let job = values["provisioner.job"] {
            let extra = imageKeys + ["provisioner.target", "provisioner.bmap", "provisioner.events"].filter { values[$0] != nil }
            guard extra.isEmpty else {
                throw FlasherError(.configuration, "provisioner.job names the images; drop \(extra.sorted().joined(separator: ", "))")
            }
            source = .manifest(try HTTPURL(parsing: job))
            return
        }
        var images: [ImageSpec] = []
        for name in Self.imageNames {
            let prefix = "provisioner.\(name)"
            guard let url = values[prefix] else {
                let orphans = Self.imageFields.dropFirst().compactMap { values[prefix + $0] == nil ? nil : prefix + $0 }
                guard orphans.isEmpty else {
                    throw FlasherError(.configuration, "\(orphans.joined(separator: ", ")) without \(prefix)=URL")
                }
                continue
            }
            var targetText = values["\(prefix).target"]
            var bmapText = values["\(prefix).bmap"]
            if name == "rootfs" {
                if let alias = values["provisioner.target"] {
                    guard targetText == nil else { throw FlasherError(.configuration, "both provisioner.target and provisioner.rootfs.target") }
                    targetText = alias
                }
                if let alias = values["provisioner.bmap"] {
                    guard bmapText == nil else { throw FlasherError(.configuration, "both provisioner.bmap and provisioner.rootfs.bmap") }
                    bmapText = alias
                }
            }
            guard let targetText else {
                throw FlasherError(.configuration, "\(prefix)=URL needs a target (\(name == "rootfs" ? "provisioner.target" : prefix + ".target")=/dev/…)")
            }
            var size: Int64?
            if let text = values["\(prefix).size"] {
                guard let value = Int64(text), value >= 0 else {
                    throw FlasherError(.configuration, "\(prefix).size=\(text.prefix(40)): a size in bytes")
                }
                size = value
            }
            var compression: Compression?
            if let text = values["\(prefix).compression"] {
                compression = try Compression(named: text)
            }
            images.append(ImageSpec(
                name: name, url: try HTTPURL(parsing: url),
                sha256: try values["\(prefix).sha256"].map { (hex: String) throws(FlasherError) in try parseSHA256(hex, what: "\(prefix).sha256") },
                fileSHA256: try values["\(prefix).file_sha256"].map { (hex: String) throws(FlasherError) in
                    try parseSHA256(hex, what: "\(prefix).file_sha256")
                },
                size: size, compression: compression,
                bmapURL: try bmapText.map { (text: String) throws(FlasherError) in try HTTPURL(parsing: text) },
                target: try TargetSpec(parsing: targetText)))
        }
        if values["provisioner.target"] != nil && values["provisioner.rootfs"] == nil {
            throw FlasherError(.configuration, "provisioner.target without provisioner.rootfs=URL")
        }
        if values["provisioner.bmap"] != nil && values["provisioner.rootfs"] == nil {
            throw FlasherError(.configuration, "provisioner.bmap without provisioner.rootfs=URL")
        }
        guard !images.isEmpty else {
            throw FlasherError(.configuration, "no job: give provisioner.job=URL, or provisioner.rootfs=URL and provisioner.target=/dev/…")
        }
        let eventsURL = try values["provisioner.events"].map { (text: String) throws(FlasherError) in try HTTPURL(parsing: text) }
        source = .images(FlashJob(images: images, verify: verify ?? true, after: after ?? .reboot, eventsURL: eventsURL))
    }
}
