// Linux calls the flasher needs that Swift cannot make itself: ioctl requests
// built by function-like macros (_IOR, _IO), and syscall(2), which is variadic.
#ifndef CFLASHERSYSTEM_H
#define CFLASHERSYSTEM_H
#include <stdint.h>

/// The size in bytes of the block device open as `fd` (BLKGETSIZE64), or -1 with errno.
int CFlasherSystem_block_device_size(int fd, uint64_t *size);

/// Discards `length` bytes from `offset` (BLKDISCARD): afterwards they read
/// as zeros on devices that say so. Returns 0, or -1 with errno.
int CFlasherSystem_discard(int fd, uint64_t offset, uint64_t length);

/// Drops the block device's buffer cache (BLKFLSBUF), so a read-back reads the medium.
int CFlasherSystem_flush_buffers(int fd);

/// Rereads the partition table (BLKRRPART) after a whole disk was written.
int CFlasherSystem_reread_partitions(int fd);

/// `path` opened for reading and writing with O_DIRECT (which Swift's
/// Glibc module does not show); -1 and errno as open(2).
int CFlasherSystem_open_direct(const char *path);

/// Sets the calling thread's nice value (setpriority on its thread id);
/// -1 and errno on failure.
int CFlasherSystem_set_thread_nice(int nice);

/// Starts writeback of a written range without waiting for it
/// (sync_file_range with SYNC_FILE_RANGE_WRITE), so the device works while
/// the stream goes on and the final fsync has little left to do.
int CFlasherSystem_start_writeback(int fd, int64_t offset, int64_t length);

/// Loads a kernel module from a memory image (init_module(2)).
int CFlasherSystem_init_module(const void *image, unsigned long length, const char *parameters);

/// Loads a kernel module from an open file (finit_module(2)).
int CFlasherSystem_finit_module(int fd, const char *parameters);

/// reboot(2) with RB_AUTOBOOT (`power_off` 0) or RB_POWER_OFF (1), whose
/// header <sys/reboot.h> Swift's Glibc module does not include.
int CFlasherSystem_reboot(int power_off);
#endif
