/* GEMM and strided-batched GEMM, through every algorithm (CLBlast and each
 * parameter set of our packed kernels, forced in turn, then the measured
 * choice), against a plain C reference, on odd shapes, every transpose,
 * with offsets, padded leading dimensions, alpha and beta; and the cache
 * of measured choices. */
#include "check.h"
#include "internal.h"
#include "tuning.h"

#include <unistd.h>

static void host_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta,
                      float *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double sum = 0;
            for (size_t p = 0; p < k; p++) {
                float av = ta ? a[p * lda + i] : a[i * lda + p];
                float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                sum += (double)av * bv;
            }
            c[i * ldc + j] = (float)(alpha * sum + beta * c[i * ldc + j]);
        }
}

static cl_mem upload(moecl_ctx *ctx, const float *host, size_t n)
{
    cl_int err;
    cl_mem m = clCreateBuffer(moecl_ctx_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              n * sizeof(float), (void *)host, &err);
    return err == CL_SUCCESS ? m : NULL;
}

static float max_rel_error(const float *got, const float *want, size_t n)
{
    float worst = 0;
    for (size_t i = 0; i < n; i++) {
        float e = fabsf(got[i] - want[i]) / (1.0f + fabsf(want[i]));
        if (!(e <= worst)) worst = e; /* NaN counts as the worst */
    }
    return worst;
}

/* batch products of op(A) m x k and op(B) k x n, at a 3-element offset. */
static void check_case_ld(moecl_ctx *ctx, size_t m, size_t n, size_t k, bool ta, bool tb,
                          size_t batch, size_t gap)
{
    const size_t off = 3;
    size_t lda = (ta ? m : k) + gap, ldb = (tb ? k : n) + gap, ldc = n + gap;
    size_t sa = (ta ? k : m) * lda + 2, sb = (tb ? n : k) * ldb + 1, sc = m * ldc + 5; /* strides with gaps */
    size_t na = off + sa * batch, nb = off + sb * batch, nc = off + sc * batch;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c = malloc(nc * sizeof *c), *want = malloc(nc * sizeof *want);
    unsigned seed = (unsigned)(m * 131 + n * 17 + k + ta * 2 + tb);
    for (size_t i = 0; i < na; i++) a[i] = check_random(&seed);
    for (size_t i = 0; i < nb; i++) b[i] = check_random(&seed);
    for (size_t i = 0; i < nc; i++) want[i] = c[i] = check_random(&seed);
    const float alpha = 0.75f, beta = -0.5f;
    for (size_t i = 0; i < batch; i++)
        host_gemm(ta, tb, m, n, k, alpha, a + off + i * sa, lda, b + off + i * sb, ldb, beta,
                  want + off + i * sc, ldc);

    cl_mem da = upload(ctx, a, na), db = upload(ctx, b, nb), dc = upload(ctx, c, nc);
    CHECK(da && db && dc, "buffers for %zux%zux%zu", m, n, k);
    moecl_gemm_args args = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k,
                            .alpha = alpha, .beta = beta,
                            .a = da, .a_offset = off, .lda = lda,
                            .b = db, .b_offset = off, .ldb = ldb,
                            .c = dc, .c_offset = off, .ldc = ldc};
    moecl_status st = batch == 1 ? moecl_gemm(ctx, &args)
                                 : moecl_gemm_strided_batched(ctx, &args, sa, sb, sc, batch);
    CHECK(st == MOECL_OK, "%s", moecl_last_error());
    clEnqueueReadBuffer(moecl_ctx_queue(ctx), dc, CL_TRUE, 0, nc * sizeof(float), c, 0, NULL,
                        NULL);
    float err = max_rel_error(c, want, nc);
    CHECK(err < 1e-4f, "%s (%s) %zux%zux%zu tA=%d tB=%d batch %zu ld gap %zu: max relative error %g",
          batch == 1 ? "gemm" : "batched gemm", moecl_ctx_gemm(ctx), m, n, k, ta, tb, batch, gap, err);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a), free(b), free(c), free(want);
}

static void check_case(moecl_ctx *ctx, size_t m, size_t n, size_t k, bool ta, bool tb,
                       size_t batch)
{
    check_case_ld(ctx, m, n, k, ta, tb, batch, 0);
}

/* Every shape, transposition and batch under every algorithm, then under
 * the measured choice. */
static void test_shapes(moecl_ctx *ctx)
{
    const size_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {127, 65, 33}, {64, 300, 27}, {17, 33, 70}};
    for (int alg = 0; moecl_gemm_algorithm_name(ctx, alg); alg++) {
        const char *spec = moecl_gemm_algorithm_name(ctx, alg);
        CHECK(moecl_ctx_set_gemm(ctx, spec) == MOECL_OK, "%s", moecl_last_error());
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++) {
                check_case(ctx, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, 1);
                check_case(ctx, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, 3);
                check_case_ld(ctx, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, 2, 3);
            }
    }
    CHECK(moecl_ctx_set_gemm(ctx, "auto") == MOECL_OK, "%s", moecl_last_error());
    check_case(ctx, 127, 65, 33, true, false, 1);
    check_case(ctx, 127, 65, 33, false, true, 3);
    CHECK(moecl_ctx_set_gemm(ctx, "own") == MOECL_OK, "%s", moecl_last_error());
    check_case(ctx, 33, 129, 17, false, false, 1);
    CHECK(moecl_ctx_set_gemm(ctx, "no-such-path") == MOECL_ERR_INVALID_ARG, "unknown path refused");
    CHECK(strstr(moecl_last_error(), "no-such-path") && strstr(moecl_last_error(), "clblast"),
          "message names the path and the known ones: %s", moecl_last_error());
    CHECK(moecl_ctx_set_gemm(ctx, "clblast") == MOECL_OK, "%s", moecl_last_error());
}

static void test_temp_buffer_reused(moecl_ctx *ctx)
{
    /* The same shape again must not grow the temporary buffer. */
    check_case(ctx, 127, 65, 33, false, true, 1);
    size_t before = moecl_gemm_temp_bytes(ctx);
    check_case(ctx, 127, 65, 33, false, true, 1);
    check_case(ctx, 7, 13, 5, false, false, 1);
    CHECK(moecl_gemm_temp_bytes(ctx) == before, "temp buffer grew from %zu to %zu", before,
          moecl_gemm_temp_bytes(ctx));
}

static void test_bad_arguments(moecl_ctx *ctx)
{
    moecl_gemm_args args = {.m = 0, .n = 4, .k = 4};
    CHECK(moecl_gemm(ctx, &args) == MOECL_ERR_INVALID_ARG, "an empty dimension is refused");
    CHECK(strstr(moecl_last_error(), "M=0") != NULL, "message names the shape: %s",
          moecl_last_error());
    /* C too small for the product: CLBlast's check, reported by name. */
    float host[4] = {0};
    cl_mem small = upload(ctx, host, 4);
    moecl_gemm_args big = {.m = 8, .n = 8, .k = 8, .alpha = 1, .a = small, .lda = 8,
                           .b = small, .ldb = 8, .c = small, .ldc = 8};
    CHECK(moecl_gemm(ctx, &big) == MOECL_ERR_BLAS, "an undersized buffer is refused");
    CHECK(strstr(moecl_last_error(), "matrix A needs 64 floats, its buffer holds 4") != NULL,
          "message names the matrix and the sizes: %s", moecl_last_error());
    moecl_gemm_args short_ld = {.m = 2, .n = 2, .k = 3, .alpha = 1, .a = small, .lda = 2,
                                .b = small, .ldb = 2, .c = small, .ldc = 2};
    CHECK(moecl_gemm(ctx, &short_ld) == MOECL_ERR_BLAS, "a leading dimension shorter than a row is refused");
    clReleaseMemObject(small);
}

/* Parameters from CLBlast's tuner (moecl tune) compute the same products:
 * the tuner's best on the PoCL machine, and a deliberately different tile
 * set, on shapes large enough for CLBlast's tiled (indirect) kernel and on
 * odd ones. */
static void test_tuned(moecl_ctx *ctx)
{
    static const char *names[] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
                                  "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN"};
    static const size_t sets[2][16] = {{0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 2},
                                       {0, 1, 16, 2, 16, 16, 32, 8, 8, 64, 1, 1, 1, 0, 2, 4}};
    for (int s = 0; s < 2; s++) {
        moecl_tuning t = {.kernel = "Xgemm", .count = 16};
        for (int i = 0; i < 16; i++) {
            snprintf(t.names[i], sizeof t.names[i], "%s", names[i]);
            t.values[i] = sets[s][i];
        }
        CHECK(moecl_tuning_apply(ctx, &t) == MOECL_OK, "set %d: %s", s, moecl_last_error());
        check_case(ctx, 384, 512, 448, false, false, 1);
        check_case(ctx, 384, 512, 448, true, true, 1);
        check_case(ctx, 513, 385, 257, false, true, 1);
        check_case(ctx, 127, 65, 33, true, false, 1);
    }
    /* CLBlast itself prints "CLBlast: Run-time error: -2041" (its database
     * has no such kernel) for this one; moecl's message names the status. */
    moecl_tuning bad = {.kernel = "NoSuchKernel", .count = 1, .names = {"MWG"}, .values = {64}};
    CHECK(moecl_tuning_apply(ctx, &bad) != MOECL_OK, "an unknown kernel is refused");
    CHECK(strstr(moecl_last_error(), "NoSuchKernel") != NULL &&
              strstr(moecl_last_error(), "CLBlastDatabaseError (-2041)") != NULL,
          "%s", moecl_last_error());
    moecl_tuning partial = {.kernel = "Xgemm", .count = 1, .names = {"MWG"}, .values = {64}};
    CHECK(moecl_tuning_apply(ctx, &partial) != MOECL_OK, "a parameter set with one of 16 is refused");
    CHECK(strstr(moecl_last_error(), "CLBlastMissingOverrideParameter") != NULL, "%s",
          moecl_last_error());
}

static char *read_text(const char *path)
{
    char *data = NULL;
    size_t size = 0;
    return moecl_read_file(path, &data, &size) == MOECL_OK ? data : NULL;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

/* The measured choice for product g, "auto", saying "measured" when it
 * measures, with what it printed to stderr in `said`. */
static int choose_saying(moecl_ctx *ctx, const moecl_gemm_args *g, char *said, size_t size)
{
    ctx->gemm.progress = true;
    CHECK(moecl_ctx_set_gemm(ctx, "auto") == MOECL_OK, "%s", moecl_last_error());
    fflush(stderr);
    int saved = dup(2);
    FILE *log = tmpfile();
    dup2(fileno(log), 2);
    int alg = moecl_gemm_choose(ctx, g, 0, 0, 0, 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(log);
    size_t got = fread(said, 1, size - 1, log);
    said[got] = '\0';
    fclose(log);
    return alg;
}

/* The choice for the 7x13x5 product, and what it printed (for the warning
 * about a damaged file). */
static int choose_capturing(moecl_ctx *ctx, char *said, size_t size)
{
    float host[200] = {0};
    cl_mem buf = upload(ctx, host, 200);
    moecl_gemm_args g = {.m = 7, .n = 13, .k = 5, .alpha = 1, .a = buf, .lda = 5, .b = buf, .ldb = 13,
                         .c = buf, .ldc = 13};
    int alg = choose_saying(ctx, &g, said, size);
    clReleaseMemObject(buf);
    return alg;
}

/* The choice cache: a miss measures and writes the file, a hit takes the
 * file's times without measuring (a planted time decides), a damaged file
 * is ignored with a warning naming it, another driver's is not used. */
static void test_choice_cache(void)
{
    char dir[] = "/tmp/moecl-gemm-choices-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    moecl_ctx *ctx = check_open_device(dir);
    CHECK(moecl_ctx_set_gemm(ctx, "auto") == MOECL_OK, "%s", moecl_last_error());
    char path[1200], said[4096];
    moecl_choices_path(dir, moecl_ctx_device(ctx), path, sizeof path);
    CHECK(access(path, F_OK) != 0, "no choice file before the first product");
    int first = choose_capturing(ctx, said, sizeof said);
    CHECK(first >= 0, "a miss measures: %s", moecl_last_error());
    char *text = read_text(path);
    CHECK(text && strstr(text, "gemm NN 8 16 8 1 | ") && strstr(text, " clblast=") && strstr(text, " own6x16="),
          "the miss wrote every algorithm's time: %s", text ? text : "(no file)");
    moecl_ctx_destroy(ctx);

    /* A hit: plant times that make the slowest-looking variant win. */
    ctx = check_open_device(dir);
    moecl_device_info dev_copy = *moecl_ctx_device(ctx);
    const moecl_device_info *dev = &dev_copy;
    int last = 0;
    while (moecl_gemm_algorithm_name(ctx, last + 1)) last++;
    char planted[2048];
    /* the header (format, device and kernels line) as the miss wrote it */
    char header[1200] = "";
    const char *second = text ? strchr(text, '\n') : NULL;
    const char *end = second ? strchr(second + 1, '\n') : NULL;
    if (end) snprintf(header, sizeof header, "%.*s", (int)(end + 1 - text), text);
    int used = snprintf(planted, sizeof planted, "%sgemm NN 8 16 8 1 |", header);
    for (int a = 0; a <= last; a++)
        used += snprintf(planted + used, sizeof planted - used, " %s=%s", moecl_gemm_algorithm_name(ctx, a),
                         a == last ? "0.0001" : "50");
    snprintf(planted + used, sizeof planted - used, " own99x99=0.00001\n");
    write_text(path, planted);
    moecl_ctx_destroy(ctx);
    ctx = check_open_device(dir);
    CHECK(choose_capturing(ctx, said, sizeof said) == last, "a hit takes the kept times (chose %s)",
          moecl_gemm_algorithm_name(ctx, last));
    CHECK(strstr(said, "measured") == NULL && strstr(said, "warning") == NULL,
          "a hit measures nothing and warns of nothing: %s", said);
    moecl_ctx_destroy(ctx);

    /* CLBlast far behind (3x the best or more) on 4 shapes before: not timed
     * on the next, kept as "skip"; one shape where it was close: timed. */
    for (int close_one = 0; close_one <= 1; close_one++) {
        char behind[2048];
        int at = snprintf(behind, sizeof behind, "%s", header);
        for (int k = 0; k < 4; k++)
            at += snprintf(behind + at, sizeof behind - at, "gemm NN %d 3 3 1 | clblast=%s own6x16=1\n",
                           100 + k, close_one && k == 2 ? "2.5" : "30");
        write_text(path, behind);
        ctx = check_open_device(dir);
        int chose = choose_capturing(ctx, said, sizeof said);
        CHECK(chose >= 0, "%s", moecl_last_error());
        char *kept = read_text(path);
        const char *line = kept ? strstr(kept, "gemm NN 8 16 8 1 | ") : NULL;
        if (!close_one) {
            CHECK(strstr(said, "clblast not timed"), "CLBlast far behind before: not timed: %s", said);
            CHECK(line && strstr(line, " clblast=skip"), "kept as skip: %s", kept ? kept : "(no file)");
            CHECK(chose != 0, "a skipped CLBlast is not chosen");
        } else {
            CHECK(!strstr(said, "not timed"), "CLBlast close once: timed: %s", said);
            CHECK(line && strstr(line, " clblast=") && !strstr(line, "clblast=skip"),
                  "its time kept: %s", kept ? kept : "(no file)");
        }
        moecl_ctx_destroy(ctx);
        if (!close_one) { /* the kept skip is a hit: nothing measured again */
            ctx = check_open_device(dir);
            CHECK(choose_capturing(ctx, said, sizeof said) == chose && !strstr(said, "measured"),
                  "a kept skip measures nothing: %s", said);
            moecl_ctx_destroy(ctx);
        }
        free(kept);
    }

    /* Damaged: a line that does not parse. */
    char damaged[2400];
    snprintf(damaged, sizeof damaged, "%sgemm NN 7 13 five\n", header);
    write_text(path, damaged);
    ctx = check_open_device(dir);
    CHECK(choose_capturing(ctx, said, sizeof said) >= 0, "%s", moecl_last_error());
    CHECK(strstr(said, "warning") && strstr(said, path) && strstr(said, "does not parse"),
          "the warning names the file and the problem: %s", said);
    CHECK(strstr(said, "measured gemm NN 8 16 8 1"), "and the shape is measured again: %s", said);
    free(text);
    text = read_text(path);
    CHECK(text && strstr(text, "gemm NN 8 16 8 1 | ") && strstr(text, " clblast="), "the damaged file was rewritten: %s",
          text ? text : "(none)");
    moecl_ctx_destroy(ctx);

    /* Another driver: its own file name, and a file made under another
     * driver (the device line differs) is not used. */
    ctx = check_open_device(dir);
    moecl_device_info other = *moecl_ctx_device(ctx);
    snprintf(other.driver_version, sizeof other.driver_version, "%.100s-other", moecl_ctx_device(ctx)->driver_version);
    char other_path[1200];
    moecl_choices_path(dir, &other, other_path, sizeof other_path);
    CHECK(strcmp(other_path, path) != 0, "another driver, another file");
    char *swapped = strstr(planted, dev->driver_version);
    if (swapped) {
        char edited[2100];
        snprintf(edited, sizeof edited, "%.*s%s-other%s", (int)(swapped - planted), planted,
                 dev->driver_version, swapped + strlen(dev->driver_version));
        write_text(path, edited);
    }
    int chosen = choose_capturing(ctx, said, sizeof said);
    CHECK(strstr(said, "another device, driver") != NULL, "another driver's file is refused: %s", said);
    CHECK(chosen >= 0, "and the shape is measured again");
    moecl_ctx_destroy(ctx);
    free(text);
    unlink(path);
    rmdir(dir);
}

/* The 1024x1024x8 product's choice (C of 4 MiB, A and B of 32 KiB each, in
 * buffers moecl does not count), with stderr captured into `said`. */
static int choose_wide(moecl_ctx *ctx, float beta, char *said, size_t size)
{
    float *host = calloc((size_t)1024 * 1024, sizeof(float));
    CHECK(host != NULL, "host memory");
    cl_mem a = upload(ctx, host, 1024 * 8), b = upload(ctx, host, 8 * 1024), c = upload(ctx, host, 1024 * 1024);
    moecl_gemm_args g = {.m = 1024, .n = 1024, .k = 8, .alpha = 1, .beta = beta, .a = a, .lda = 8, .b = b,
                         .ldb = 1024, .c = c, .ldc = 1024};
    int alg = choose_saying(ctx, &g, said, size);
    clReleaseMemObject(a), clReleaseMemObject(b), clReleaseMemObject(c);
    free(host);
    return alg;
}

/* A way that does not fit beside the run's buffers (here: under a 1 MiB
 * limit, the timing's scratch C of 4 MiB) is not kept as "none": the next
 * run, with room, times it. With beta 0 the timing writes the real C and
 * needs no scratch: the ways are timed under the same limit. */
static void test_choice_no_room(void)
{
    char dir[] = "/tmp/moecl-gemm-room-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    char path[1200], said[8192];
    setenv("MOECL_DEVICE_MEMORY_MB", "1", 1);
    moecl_ctx *ctx = check_open_device(dir);
    moecl_choices_path(dir, moecl_ctx_device(ctx), path, sizeof path);
    CHECK(choose_wide(ctx, 1.0f, said, sizeof said) >= 0, "%s", moecl_last_error());
    CHECK(strstr(said, "no room"), "beta 1 under 1 MiB: the scratch C does not fit: %s", said);
    moecl_ctx_destroy(ctx);
    char *text = read_text(path);
    CHECK(!text || !strstr(text, "gemm NN 1024 1024 8 1 |"), "nothing kept of what did not fit: %s", text);
    free(text);
    unsetenv("MOECL_DEVICE_MEMORY_MB");
    ctx = check_open_device(dir);
    CHECK(choose_wide(ctx, 1.0f, said, sizeof said) >= 0, "%s", moecl_last_error());
    CHECK(strstr(said, "measured gemm NN 1024 1024 8 1") && !strstr(said, "no room"),
          "with room the next run times every way: %s", said);
    moecl_ctx_destroy(ctx);
    text = read_text(path);
    CHECK(text && strstr(text, "gemm NN 1024 1024 8 1 |") && strstr(text, " own6x16=") &&
              !strstr(text, "own6x16=none"), "and keeps their times: %s", text ? text : "(no file)");
    free(text);
    unlink(path);

    setenv("MOECL_DEVICE_MEMORY_MB", "1", 1);
    ctx = check_open_device(dir);
    CHECK(choose_wide(ctx, 0.0f, said, sizeof said) > 0, "beta 0 under 1 MiB: one of ours: %s", said);
    CHECK(strstr(said, "measured gemm NN 1024 1024 8 1") && strstr(said, "own6x16 ") &&
              !strstr(said, "own6x16 no room"), "timed on the real C: %s", said);
    moecl_ctx_destroy(ctx);
    unsetenv("MOECL_DEVICE_MEMORY_MB");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    moecl_ctx *ctx = check_open_device(NULL);
    test_shapes(ctx);
    test_temp_buffer_reused(ctx);
    test_bad_arguments(ctx);
    test_tuned(ctx);
    moecl_ctx_destroy(ctx);
    test_choice_cache();
    test_choice_no_room();
    return check_summary("test_gemm");
}
