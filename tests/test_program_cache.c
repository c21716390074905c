/* The on-disk program cache: a miss, then a hit with no rebuild, then a
 * corrupt, a truncated and a foreign file each rebuilt; keys that follow the
 * build options; nothing written with the cache off. */
#include "check.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static int cache_files(char paths[][512], int max)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (strstr(e->d_name, ".bin")) snprintf(paths[n++], 512, "%s/%s", dir, e->d_name);
    closedir(d);
    return n;
}

/* Opens a context and checks that every embedded program got `want`. */
static void expect_all(moecl_cache_result want, const char *cache_dir, const char *when)
{
    moecl_ctx *ctx = check_open_device(cache_dir);
    int n = 0;
    const moecl_program_report *r = moecl_ctx_reports(ctx, &n);
    CHECK(n > 0, "%s: embedded programs exist", when);
    for (int i = 0; i < n; i++)
        CHECK(r[i].cache == want, "%s: program %s: cache %s, expected %s", when, r[i].name,
              moecl_cache_result_name(r[i].cache), moecl_cache_result_name(want));
    /* A context from any path must still run its kernels. */
    moecl_tensor *t = NULL;
    int shape[1] = {37};
    CHECK(moecl_tensor_create(ctx, 1, shape, &t) == MOECL_OK, "%s", moecl_last_error());
    if (t) {
        float host[37];
        CHECK(moecl_tensor_fill(t, 2.5f) == MOECL_OK, "%s", moecl_last_error());
        CHECK(moecl_tensor_download(t, host, 37) == MOECL_OK, "%s", moecl_last_error());
        CHECK(host[0] == 2.5f && host[36] == 2.5f, "%s: fill kernel ran", when);
    }
    moecl_tensor_destroy(t);
    moecl_ctx_destroy(ctx);
}

static void rewrite(const char *path, const char *how)
{
    struct stat st;
    stat(path, &st);
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    if (strcmp(how, "flip") == 0) { /* one byte in the middle of the payload */
        fseek(f, st.st_size / 2, SEEK_SET);
        int c = fgetc(f);
        fseek(f, st.st_size / 2, SEEK_SET);
        fputc(c ^ 0x5a, f);
    }
    fclose(f);
    if (strcmp(how, "truncate") == 0) truncate(path, st.st_size / 3);
    if (strcmp(how, "foreign") == 0) {
        f = fopen(path, "wb");
        fputs("this is not a moecl cache file", f);
        fclose(f);
    }
}

static int expected_programs(void)
{
    moecl_ctx *ctx = check_open_device(NULL);
    int n = 0;
    moecl_ctx_reports(ctx, &n);
    moecl_ctx_destroy(ctx);
    return n;
}

static void test_cycle(void)
{
    expect_all(MOECL_CACHE_MISS, dir, "first run");
    char paths[16][512];
    int n = cache_files(paths, 16);
    CHECK(n == expected_programs(), "one cache file per program: %d", n);
    expect_all(MOECL_CACHE_HIT, dir, "second run");

    const char *damages[] = {"flip", "truncate", "foreign"};
    for (size_t d = 0; d < 3; d++) {
        for (int i = 0; i < n; i++) rewrite(paths[i], damages[d]);
        expect_all(MOECL_CACHE_REBUILT, dir, damages[d]);
        expect_all(MOECL_CACHE_HIT, dir, "after the rebuild");
    }
    /* No temporary files are left behind. */
    DIR *dd = opendir(dir);
    struct dirent *e;
    int tmp = 0;
    while (dd && (e = readdir(dd)))
        if (strstr(e->d_name, ".tmp")) tmp++;
    if (dd) closedir(dd);
    CHECK(tmp == 0, "%d temporary files left in the cache", tmp);
}

static void test_key_follows_options(void)
{
    moecl_ctx *ctx = check_open_device(dir);
    const char *src = "__kernel void k(__global float *x) { x[0] = 1.0f; }";
    cl_program p = NULL;
    moecl_program_report r;
    CHECK(moecl_program_build(ctx, "k", src, "", &p, &r) == MOECL_OK, "%s", moecl_last_error());
    CHECK(r.cache == MOECL_CACHE_MISS, "new source: %s", moecl_cache_result_name(r.cache));
    clReleaseProgram(p);
    CHECK(moecl_program_build(ctx, "k", src, "", &p, &r) == MOECL_OK, "%s", moecl_last_error());
    CHECK(r.cache == MOECL_CACHE_HIT, "same source: %s", moecl_cache_result_name(r.cache));
    clReleaseProgram(p);
    CHECK(moecl_program_build(ctx, "k", src, "-DFOO=1", &p, &r) == MOECL_OK, "%s",
          moecl_last_error());
    CHECK(r.cache == MOECL_CACHE_MISS, "other options: %s", moecl_cache_result_name(r.cache));
    clReleaseProgram(p);
    moecl_ctx_destroy(ctx);
}

static void test_cache_off(void)
{
    char before[16][512];
    int n = cache_files(before, 16);
    moecl_ctx *ctx = check_open_device(NULL);
    int count = 0;
    const moecl_program_report *r = moecl_ctx_reports(ctx, &count);
    for (int i = 0; i < count; i++)
        CHECK(r[i].cache == MOECL_CACHE_DISABLED, "cache off: %s",
              moecl_cache_result_name(r[i].cache));
    CHECK(moecl_ctx_cache_dir(ctx) == NULL, "no cache directory");
    moecl_ctx_destroy(ctx);
    char after[16][512];
    CHECK(cache_files(after, 16) == n, "nothing written with the cache off");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moecl-cache-test-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_cycle();
    test_key_follows_options();
    test_cache_off();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_program_cache");
}
