/* On-disk cache of compiled program binaries.
 *
 * A file per program, named by a SHA-256 of everything that decides the
 * binary (source, build options, device, driver, platform, cache format).
 * Layout: magic "MOECLPC\0", u32 format version, u32 zero, 64-byte hex key,
 * u64 payload size, 32-byte SHA-256 of the payload, payload. A file that
 * fails any check is treated as absent and rebuilt; files are written to a
 * temporary name and renamed so that a reader never sees half a file. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MAGIC[8] = {'M', 'O', 'E', 'C', 'L', 'P', 'C', 0};
#define HEADER_SIZE (8 + 4 + 4 + 64 + 8 + 32)

static void hash_field(moecl_sha256 *s, const char *text)
{
    /* Length-prefixed, so that fields cannot run into each other. */
    uint64_t n = strlen(text);
    moecl_sha256_update(s, &n, sizeof n);
    moecl_sha256_update(s, text, n);
}

void moecl_cache_key(const moecl_device_info *dev, const char *source, const char *options,
                     char hex[65])
{
    moecl_sha256 s;
    moecl_sha256_init(&s);
    char version[16];
    snprintf(version, sizeof version, "%d", MOECL_CACHE_FORMAT_VERSION);
    hash_field(&s, version);
    hash_field(&s, source);
    hash_field(&s, options ? options : "");
    hash_field(&s, dev->name);
    hash_field(&s, dev->driver_version);
    hash_field(&s, dev->platform_version);
    unsigned char digest[32];
    moecl_sha256_final(&s, digest);
    moecl_sha256_hex(digest, hex);
}

static bool make_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

void moecl_cache_dir_resolve(const char *requested, char *out, size_t size)
{
    out[0] = '\0';
    const char *env = getenv("MOECL_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (requested && *requested)
        snprintf(out, size, "%s", requested);
    else if (env && *env)
        snprintf(out, size, "%s", env);
    else if (xdg && *xdg)
        snprintf(out, size, "%s/moecl/kernels", xdg);
    else if (home && *home)
        snprintf(out, size, "%s/.cache/moecl/kernels", home);
    else
        return;
    if (!make_dirs(out) || access(out, W_OK) != 0) {
        fprintf(stderr, "moecl: warning: kernel cache directory '%s' is not writable (%s); "
                        "building kernels without a cache\n", out, strerror(errno));
        out[0] = '\0';
    }
}

void moecl_cache_path(const char *dir, const char *key, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.bin", dir, key);
}

static uint32_t read_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read_u64(const unsigned char *p)
{
    return (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32;
}

static void write_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void write_u64(unsigned char *p, uint64_t v)
{
    write_u32(p, (uint32_t)v);
    write_u32(p + 4, (uint32_t)(v >> 32));
}

bool moecl_cache_load(const char *dir, const char *key, unsigned char **binary, size_t *size,
                      bool *corrupt)
{
    *binary = NULL;
    *size = 0;
    *corrupt = false;
    char path[1200];
    moecl_cache_path(dir, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return false;

    unsigned char header[HEADER_SIZE];
    unsigned char *payload = NULL;
    bool ok = fread(header, 1, HEADER_SIZE, f) == HEADER_SIZE &&
              memcmp(header, MAGIC, 8) == 0 &&
              read_u32(header + 8) == MOECL_CACHE_FORMAT_VERSION &&
              memcmp(header + 16, key, 64) == 0;
    uint64_t n = ok ? read_u64(header + 80) : 0;
    /* the length must be what the file holds before anything is allocated
     * for it (a damaged header could claim gigabytes) */
    struct stat st;
    ok = ok && n > 0 && fstat(fileno(f), &st) == 0 && st.st_size >= HEADER_SIZE &&
         n == (uint64_t)st.st_size - HEADER_SIZE;
    if (ok) {
        payload = malloc((size_t)n + 1);
        int extra;
        ok = payload && fread(payload, 1, (size_t)n, f) == n && (extra = fgetc(f)) == EOF;
    }
    if (ok) {
        moecl_sha256 s;
        unsigned char digest[32];
        moecl_sha256_init(&s);
        moecl_sha256_update(&s, payload, (size_t)n);
        moecl_sha256_final(&s, digest);
        ok = memcmp(digest, header + 88, 32) == 0;
    }
    fclose(f);
    if (!ok) {
        free(payload);
        *corrupt = true;
        return false;
    }
    *binary = payload;
    *size = (size_t)n;
    return true;
}

void moecl_cache_store(const char *dir, const char *key, const unsigned char *binary,
                       size_t size)
{
    char path[1200], tmp[1300];
    moecl_cache_path(dir, key, path, sizeof path);
    moecl_temp_name(path, tmp, sizeof tmp);

    unsigned char header[HEADER_SIZE];
    memset(header, 0, sizeof header);
    memcpy(header, MAGIC, 8);
    write_u32(header + 8, MOECL_CACHE_FORMAT_VERSION);
    memcpy(header + 16, key, 64);
    write_u64(header + 80, size);
    moecl_sha256 s;
    moecl_sha256_init(&s);
    moecl_sha256_update(&s, binary, size);
    moecl_sha256_final(&s, header + 88);

    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(header, 1, HEADER_SIZE, f) == HEADER_SIZE &&
              fwrite(binary, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "moecl: warning: could not write kernel cache file '%s' (%s)\n", path,
                strerror(errno));
        remove(tmp);
    }
}
