#define _GNU_SOURCE
#include "CFlasherSystem.h"
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int CFlasherSystem_block_device_size(int fd, uint64_t *size)
{
    return ioctl(fd, BLKGETSIZE64, size);
}

int CFlasherSystem_discard(int fd, uint64_t offset, uint64_t length)
{
    uint64_t range[2] = { offset, length };
    return ioctl(fd, BLKDISCARD, range);
}

int CFlasherSystem_flush_buffers(int fd)
{
    return ioctl(fd, BLKFLSBUF, 0);
}

int CFlasherSystem_reread_partitions(int fd)
{
    return ioctl(fd, BLKRRPART, 0);
}

int CFlasherSystem_open_direct(const char *path)
{
    return open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
}

int CFlasherSystem_set_thread_nice(int nice)
{
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

int CFlasherSystem_start_writeback(int fd, int64_t offset, int64_t length)
{
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int CFlasherSystem_init_module(const void *image, unsigned long length, const char *parameters)
{
    return (int)syscall(SYS_init_module, image, length, parameters);
}

int CFlasherSystem_finit_module(int fd, const char *parameters)
{
    return (int)syscall(SYS_finit_module, fd, parameters, 0);
}

int CFlasherSystem_reboot(int power_off)
{
    return reboot(power_off ? RB_POWER_OFF : RB_AUTOBOOT);
}

// As /init, /proc is not mounted yet, and the static Swift runtime looks up
// its own path there (/proc/self) the first time it needs it, aborting if it
// cannot: mount it before any Swift code runs.
__attribute__((constructor(101))) static void CFlasherSystem_mount_proc_early(void)
{
    if (getpid() == 1) {
        mkdir("/proc", 0755);
        mount("proc", "/proc", "proc", 0, NULL);
    }
}
