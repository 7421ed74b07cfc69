import SystemSupport

/// Does a job: fetches the manifest if there is one, reports the inventory,
/// then downloads, writes and verifies each image in turn, reporting
/// progress, and ends with one success or error event.
public struct FlashRunner: Sendable {
    public var options: PipelineOptions
    /// Where /proc and /sys are read for the inventory.
    public var inventoryRoot: String
    public var console: @Sendable (String) -> Void

    public init(options: PipelineOptions = PipelineOptions(), inventoryRoot: String = "/",
                console: @escaping @Sendable (String) -> Void = { writeLine($0) }) {
        self.options = options
        self.inventoryRoot = inventoryRoot
        self.console = console
    }

    /// Runs the job; returns what to do next, or the error (already reported).
    public func run(_ arguments: FlasherArguments) -> Result<AfterAction, FlasherError> {
        var options = self.options
        options.retries = arguments.retries
        let job: FlashJob
        let reporter: EventReporter
        switch arguments.source {
        case .images(let direct):
            job = direct
            reporter = EventReporter(eventsURL: job.eventsURL, console: console)
        case .manifest(let url):
            let failureReporter = EventReporter(eventsURL: url.appendingPathComponent("events"), console: console)
            do throws(FlasherError) {
                failureReporter.note("fetching the job from \(url)")
                let bytes = try HTTPClient.fetch(url, limit: JobManifest.maximumSize, retries: options.retries,
                                                 timeout: options.timeout, phase: .manifest)
                var parsed = try JobManifest.parse(bytes, jobURL: url)
                if let verify = arguments.verify { parsed.verify = verify }
                if let after = arguments.after { parsed.after = after }
                job = parsed
                reporter = EventReporter(eventsURL: job.eventsURL, secret: job.eventsSecret, console: console)
                if !job.ignoredMembers.isEmpty {
                    reporter.note("the manifest has members this flasher does not know, skipped: "
                        + job.ignoredMembers.joined(separator: ", ") + " (an agent newer than the flasher images?)")
                }
            } catch {
                failureReporter.failure(error)
                return .failure(error)
            }
        }
        reporter.inventory(Inventory(root: inventoryRoot))
        for image in job.images {
            do throws(FlasherError) {
                try flash(image, verify: job.verify, options: options, reporter: reporter)
            } catch {
                let named = error.about(image: image.name)
                reporter.failure(named)
                return .failure(named)
            }
        }
        reporter.success(after: job.after)
        return .success(job.after)
    }

    private func flash(_ image: ImageSpec, verify: Bool, options: PipelineOptions, reporter: EventReporter) throws(FlasherError) {
        let start = monotonicSeconds()
        reporter.started(image)
        var bmap: Bmap?
        if let bmapURL = image.bmapURL {
            let bytes = try HTTPClient.fetch(bmapURL, limit: Bmap.maximumSize, retries: options.retries,
                                             timeout: options.timeout, phase: .manifest)
            let parsed = try Bmap(parsing: bytes)
            if let size = image.size, size != parsed.imageSize {
                throw FlasherError(.manifest, "the job says \(size) bytes, the bmap \(parsed.imageSize)")
            }
            reporter.note("\(image.name): bmap maps \(formatBytes(parsed.mappedBlocksCount * parsed.blockSize)) of \(formatBytes(parsed.imageSize))")
            bmap = parsed
        }
        let expectedSize = image.size ?? bmap?.imageSize

        var partition: PartitionMount?
        var path = image.target.device
        if let file = image.target.file {
            let mount = try PartitionMount(device: image.target.device, name: image.name)
            partition = mount
            try mount.makeFolders(for: file)
            path = mount.paths(of: file).temporary
        }
        defer { partition?.unmount() }
        let target = try TargetDevice(path: path, imageSize: expectedSize, discard: bmap == nil)
        if target.kind == .blockDevice && bmap == nil {
            reporter.note("\(image.name): \(target.readsAsZero ? "discarded \(path): zero blocks are skipped" : "\(path) not discarded: every block is written")")
        }

        let progress = PipelineProgress()
        let ticker = try ProgressTicker(image: image.name, total: expectedSize, progress: progress, reporter: reporter)
        defer { ticker.stop() }
        let console = self.console
        let pipeline = FlashPipeline(image: image, bmap: bmap, options: options, progress: progress) { console("provisioner: " + $0) }
        let result = try pipeline.run(writingTo: target)

        if let expectedSize, result.size != expectedSize {
            throw FlasherError(.checksum, "the image is \(result.size) bytes, expected \(expectedSize) (truncated or wrong image)",
                               offset: result.size)
        }
        if let sha256 = image.sha256, result.sha256 != sha256 {
            throw FlasherError(.checksum, "SHA-256 of the image is \(result.sha256 ?? "unknown"), expected \(sha256)", offset: result.size)
        }
        try target.finish(size: result.size)
        if verify {
            ticker.enter(.verify)
            target.dropCache()
            if let bmap {
                progress.verifyTotal.store(bmap.mappedBlocksCount * bmap.blockSize, ordering: .relaxed)
                try ReadBack.verify(target, bmap: bmap, chunkSize: options.chunkSize, progress: progress)
            } else if let sha256 = result.sha256 {
                progress.verifyTotal.store(result.size, ordering: .relaxed)
                try ReadBack.verify(target, size: result.size, sha256: sha256, chunkSize: options.chunkSize, progress: progress)
            }
        }
        if let partition, let file = image.target.file {
            try partition.commit(file)
        } else {
            target.rereadPartitions()
        }
        ticker.stop()
        reporter.finished(image, result: result, written: progress.writtenToDevice.load(ordering: .relaxed),
                          seconds: monotonicSeconds() - start, verified: verify,
                          resumptions: progress.resumptions.load(ordering: .relaxed))
    }
}
