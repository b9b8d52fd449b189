/* chaoskit disk-fault shim (LD_PRELOAD): fail or slow down a process's writes and
 * fsyncs on files under one directory, as a failing or full disk would.
 *
 * Environment: CHAOSKIT_DISK_CONTROL, a control file (absent = no fault);
 * CHAOSKIT_DISK_PREFIX, the directory whose files are affected (the node's data
 * directory; other descriptors -- sockets, logs, pipes -- are never touched).
 * The control file holds lines "key=value": fsync_errno, write_errno (errno
 * numbers, 0 = none), fsync_delay_us, probability (0..1). It is re-read when it
 * changes, looked at no more than every 20 ms. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int fsync_errno, write_errno;
static long fsync_delay_us;
static double probability = 1.0;
static struct timespec last_look;
static struct stat last_st;
static int have_st;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned int seed;

static void parse(const char *buf) {
    int fe = 0, we = 0;
    long d = 0;
    double p = 1.0;
    const char *line = buf;
    while (line && *line) {
        sscanf(line, "fsync_errno=%d", &fe);
        sscanf(line, "write_errno=%d", &we);
        sscanf(line, "fsync_delay_us=%ld", &d);
        sscanf(line, "probability=%lf", &p);
        line = strchr(line, '\n');
        if (line) line++;
    }
    fsync_errno = fe;
    write_errno = we;
    fsync_delay_us = d;
    probability = p;
}

static void refresh(void) {
    const char *ctl = getenv("CHAOSKIT_DISK_CONTROL");
    if (!ctl) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    long ms = (now.tv_sec - last_look.tv_sec) * 1000L + (now.tv_nsec - last_look.tv_nsec) / 1000000L;
    if (have_st >= 0 && last_look.tv_sec && ms >= 0 && ms < 20) return;
    if (pthread_mutex_trylock(&mu) != 0) return;
    last_look = now;
    struct stat st;
    if (stat(ctl, &st) != 0) {
        fsync_errno = write_errno = 0;
        fsync_delay_us = 0;
        have_st = 0;
    } else if (!have_st || st.st_ino != last_st.st_ino || st.st_size != last_st.st_size ||
               st.st_mtim.tv_sec != last_st.st_mtim.tv_sec || st.st_mtim.tv_nsec != last_st.st_mtim.tv_nsec) {
        char buf[512] = {0};
        int fd = open(ctl, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n >= 0) {
                buf[n] = 0;
                parse(buf);
                last_st = st;
                have_st = 1;
            }
        }
    }
    pthread_mutex_unlock(&mu);
}

static int targeted(int fd) {
    const char *prefix = getenv("CHAOSKIT_DISK_PREFIX");
    if (!prefix || !*prefix) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    size_t len = strlen(prefix);
    return strncmp(path, prefix, len) == 0 && (path[len] == '/' || path[len] == 0);
}

static int roll(void) {
    if (probability >= 1.0) return 1;
    if (!seed) seed = (unsigned int)(getpid() ^ (uintptr_t)&seed);
    return (double)rand_r(&seed) / RAND_MAX < probability;
}

static int fail_write(int fd) {
    refresh();
    if (write_errno && targeted(fd) && roll()) {
        errno = write_errno;
        return 1;
    }
    return 0;
}

static int fail_fsync(int fd) {
    refresh();
    if ((fsync_errno || fsync_delay_us) && targeted(fd)) {
        if (fsync_delay_us) usleep((useconds_t)fsync_delay_us);
        if (fsync_errno && roll()) {
            errno = fsync_errno;
            return 1;
        }
    }
    return 0;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *buf, size_t n) {
    if (fail_write(fd)) return -1;
    return REAL(write)(fd, buf, n);
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    if (fail_write(fd)) return -1;
    return REAL(pwrite)(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    if (fail_write(fd)) return -1;
    return REAL(pwrite64)(fd, buf, n, off);
}
ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    if (fail_write(fd)) return -1;
    return REAL(writev)(fd, iov, cnt);
}
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    if (fail_write(fd)) return -1;
    return REAL(pwritev)(fd, iov, cnt, off);
}
int fsync(int fd) {
    if (fail_fsync(fd)) return -1;
    return REAL(fsync)(fd);
}
int fdatasync(int fd) {
    if (fail_fsync(fd)) return -1;
    return REAL(fdatasync)(fd);
}
