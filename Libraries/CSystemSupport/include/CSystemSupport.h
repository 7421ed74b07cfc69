// GNU extensions that Swift's Glibc module does not expose (it is imported
// without _GNU_SOURCE): batched datagram sends and thread names.
#ifndef CSYSTEMSUPPORT_H
#define CSYSTEMSUPPORT_H
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <pthread.h>

/// One datagram of a batch: `iov_count` buffers sent as one packet.
typedef struct {
    struct iovec *iov;
    size_t iov_count;
} CSystemSupport_datagram;

/// Sends `count` datagrams on a connected socket with one sendmmsg(2) call
/// where possible. Returns how many were sent, or -1 with errno set.
int CSystemSupport_send_datagrams(int fd, CSystemSupport_datagram *datagrams, unsigned int count);

/// pthread_setname_np(3): names the calling thread (15 bytes are kept).
void CSystemSupport_set_thread_name(const char *name);
#endif
