/* Whole-file reads and atomic whole-file writes. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

moecl_status moecl_read_file(const char *path, char **data, size_t *size)
{
    *data = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return moecl_fail(MOECL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
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

moecl_status moecl_write_file_atomic(const char *path, const void *const *parts,
                                     const size_t *sizes, int count)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return moecl_fail(MOECL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    bool ok = true;
    for (int i = 0; i < count && ok; i++)
        ok = sizes[i] == 0 || fwrite(parts[i], 1, sizes[i], f) == sizes[i];
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
