#define _GNU_SOURCE
#include "CSystemSupport.h"
#include <errno.h>
#include <string.h>

enum { BATCH_MAX = 64 };

int CSystemSupport_send_datagrams(int fd, CSystemSupport_datagram *datagrams, unsigned int count)
{
    struct mmsghdr headers[BATCH_MAX];
    unsigned int sent = 0;
    while (sent < count) {
        unsigned int batch = count - sent < BATCH_MAX ? count - sent : BATCH_MAX;
        memset(headers, 0, sizeof(struct mmsghdr) * batch);
        for (unsigned int i = 0; i < batch; i++) {
            headers[i].msg_hdr.msg_iov = datagrams[sent + i].iov;
            headers[i].msg_hdr.msg_iovlen = datagrams[sent + i].iov_count;
        }
        int n;
        do {
            n = sendmmsg(fd, headers, batch, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            return sent > 0 ? (int)sent : -1;
        }
        sent += (unsigned int)n;
        if ((unsigned int)n < batch) {
            break;
        }
    }
    return (int)sent;
}

void CSystemSupport_set_thread_name(const char *name)
{
    char short_name[16];
    strncpy(short_name, name, sizeof(short_name) - 1);
    short_name[sizeof(short_name) - 1] = '\0';
    pthread_setname_np(pthread_self(), short_name);
}

int CSystemSupport_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
