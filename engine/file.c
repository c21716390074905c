/* Whole-file reads and atomic whole-file writes. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A file the user named that is not there, or is not a file, is bad input
 * (exit code 2); a read that fails on a real file is a runtime failure. */
static moecl_status open_failure(const char *path, int err)
{
    if (err == EISDIR) return moecl_fail(MOECL_ERR_INVALID_ARG, "'%s' is a directory, not a file", path);
    if (err == ENOENT || err == ENOTDIR)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "cannot open '%s': %s", path, strerror(err));
    return moecl_fail(MOECL_ERR_IO, "cannot open '%s': %s", path, strerror(err));
}

void moecl_test_kill(const char *point)
{
    static int hits;
    const char *spec = getenv("MOECL_TEST_KILL");
    if (!spec || !*spec) return;
    const char *at = strrchr(spec, '@');
    size_t len = at ? (size_t)(at - spec) : strlen(spec);
    if (strlen(point) != len || strncmp(spec, point, len) != 0) return;
    if (++hits >= (at ? atoi(at + 1) : 1)) raise(SIGKILL);
}

moecl_status moecl_read_file(const char *path, char **data, size_t *size)
{
    *data = NULL;
    if (size) *size = 0;
    if (is_directory(path)) return open_failure(path, EISDIR);
    FILE *f = fopen(path, "rb");
    if (!f) return open_failure(path, errno);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *grown = realloc(buf, cap * 2 + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    if (failed) {
        free(buf);
        return moecl_fail(MOECL_ERR_IO, "error reading '%s'", path);
    }
    buf[len] = '\0';
    *data = buf;
    if (size) *size = len;
    return MOECL_OK;
}

void moecl_temp_name(const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s.tmp.%ld.%lx", path, (long)getpid(), (unsigned long)pthread_self());
}

moecl_status moecl_write_file_atomic(const char *path, const void *const *parts,
                                     const size_t *sizes, int count)
{
    if (is_directory(path))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "'%s' is a directory, not a file: name a file to write", path);
    char tmp[4200];
    moecl_temp_name(path, tmp, sizeof tmp);
    const char *base = strrchr(path, '/');
    char point[300];
    snprintf(point, sizeof point, "write:%s", base ? base + 1 : path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return moecl_fail(MOECL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    bool ok = true;
    for (int i = 0; i < count && ok; i++) {
        ok = sizes[i] == 0 || fwrite(parts[i], 1, sizes[i], f) == sizes[i];
        if (i == 0) { /* tests: killed with the file half written */
            fflush(f);
            moecl_test_kill(point);
        }
    }
    if (fflush(f) != 0) ok = false;
    if (ok && fsync(fileno(f)) != 0) ok = false;
    if (fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        int e = errno;
        remove(tmp);
        return moecl_fail(MOECL_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return MOECL_OK;
}
