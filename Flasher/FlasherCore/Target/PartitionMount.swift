#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemSupport

/// A partition mounted for writing one file into it (`/dev/mmcblk0p1:/Image`):
/// the image goes to a temporary name beside the file, is verified there,
/// then renamed over it, so a failure never leaves half a kernel behind.
final class PartitionMount {
    let device: String
    let mountPoint: String
    let fileSystem: String
    private var mounted = true

    static let fileSystems = ["vfat", "ext4", "ext3", "ext2"]

    init(device: String, name: String) throws(FlasherError) {
        self.device = device
        mountPoint = "/run/provisioner/mnt-\(name)"
        do {
            try makeDirectories(mountPoint)
        } catch {
            throw FlasherError(.write, error.operation, code: error.code)
        }
        var lastError: Int32 = 0
        for type in Self.fileSystems {
            if mount(device, mountPoint, type, 0, nil) == 0 {
                fileSystem = type
                return
            }
            lastError = errno
        }
        throw FlasherError(.write, "mount \(device) (tried \(Self.fileSystems.joined(separator: ", ")))", code: lastError)
    }

    deinit { unmount() }

    /// Makes the folders `file` goes into (`/boot/extra/Image`: boot/extra).
    func makeFolders(for file: String) throws(FlasherError) {
        let final = paths(of: file).final
        guard let slash = final.lastIndex(of: "/"), final[..<slash].count > mountPoint.count else { return }
        do {
            try makeDirectories(String(final[..<slash]))
        } catch {
            throw FlasherError(.write, "\(error)")
        }
    }

    /// The temporary and the final path of `file` inside the partition.
    func paths(of file: String) -> (temporary: String, final: String) {
        let final = mountPoint + file
        return (final + ".provisioner-new", final)
    }

    /// Renames the verified temporary file over the final one and syncs.
    func commit(_ file: String) throws(FlasherError) {
        let (temporary, final) = paths(of: file)
        guard rename(temporary, final) == 0 else { throw FlasherError(.finish, "rename \(temporary) to \(final)", code: errno) }
        let directory = String(final[..<(final.lastIndex(of: "/") ?? final.endIndex)])
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    func unmount() {
        guard mounted else { return }
        mounted = false
        sync()
        _ = umount(mountPoint)
    }
}
