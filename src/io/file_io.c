#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.h"
#include "tappa/tensor_io.h"

/* One read/write call moves at most this much, well below SSIZE_MAX everywhere. */
#define IO_CHUNK_MAX ((size_t)1 << 30)

tappa_status io_open_input(const char *path, int *fd, uint64_t *size, tappa_error *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return tappa_fail(err, TAPPA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    tappa_status st = TAPPA_OK;
    if (fstat(*fd, &sb) != 0)
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) /* sizes are only trustworthy for regular files */
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: not a regular file", path);
    if (st) {
        close(*fd);
        return st;
    }
    *size = (uint64_t)sb.st_size;
    return TAPPA_OK;
}

/* Callers have checked off + n against the file size, so a short read means
 * the file changed underneath us. */
tappa_status io_read_at(int fd, uint64_t off, void *buf, size_t n, const char *path,
                        tappa_error *err)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = pread(fd, p, n < IO_CHUNK_MAX ? n : IO_CHUNK_MAX, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return tappa_fail(err, TAPPA_ERR_IO, "%s: read failed at byte %llu: %s", path,
                              (unsigned long long)off, strerror(errno));
        if (got == 0)
            return tappa_fail(err, TAPPA_ERR_IO, "%s: file ended at byte %llu while reading "
                              "(did it change?)", path, (unsigned long long)off);
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return TAPPA_OK;
}


static tappa_status write_all(int fd, const io_piece *pc, const char *tmp, tappa_error *err)
{
    const unsigned char *p = pc->data;
    size_t n = pc->len;
    while (n) {
        ssize_t put = write(fd, p, n < IO_CHUNK_MAX ? n : IO_CHUNK_MAX);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) return tappa_fail(err, TAPPA_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        p += put;
        n -= (size_t)put;
    }
    return TAPPA_OK;
}

/* Write to a temporary file beside path and rename it into place, so readers
 * never see a partial file and a failure leaves the old file (if any) intact. */
tappa_status io_write_atomically(const char *path, const io_piece *pieces, size_t n,
                                 tappa_error *err)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t len = strlen(path);
    char *tmp = malloc(len + sizeof suffix);
    if (!tmp) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate a file name", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, suffix, sizeof suffix);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tappa_status st = tappa_fail(err, TAPPA_ERR_IO, "%s: cannot create a temporary file: %s",
                                     path, strerror(errno));
        free(tmp);
        return st;
    }
    tappa_status st = TAPPA_OK;
    for (size_t i = 0; i < n && !st; i++) st = write_all(fd, &pieces[i], tmp, err);
    /* mkstemp makes the file 0600; give it the mode a plain create usually gets. */
    if (!st && fchmod(fd, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH) != 0)
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: cannot set permissions: %s", tmp, strerror(errno));
    if (!st && fsync(fd) != 0)
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !st)
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                        strerror(errno));
    if (st) unlink(tmp);
    free(tmp);
    return st;
}


tappa_status tappa_file_write(const char *path, const void *data, size_t len, tappa_error *err)
{
    io_piece piece = { data, len };
    return io_write_atomically(path, &piece, 1, err);
}
