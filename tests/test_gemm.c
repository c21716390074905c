/* GEMM and strided-batched GEMM through CLBlast against a plain C reference,
 * on odd shapes, every transpose, with offsets, alpha and beta. */
#include "check.h"
#include "tuning.h"

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
static void check_case(moecl_ctx *ctx, size_t m, size_t n, size_t k, bool ta, bool tb,
                       size_t batch)
{
    const size_t off = 3;
    size_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
    size_t sa = m * k + 2, sb = k * n + 1, sc = m * n + 5; /* strides with gaps */
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
    CHECK(err < 1e-4f, "%s %zux%zux%zu tA=%d tB=%d batch %zu: max relative error %g",
          batch == 1 ? "gemm" : "batched gemm", m, n, k, ta, tb, batch, err);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a), free(b), free(c), free(want);
}

static void test_shapes(moecl_ctx *ctx)
{
    const size_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {127, 65, 33}, {64, 300, 27}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            check_case(ctx, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, 1);
            check_case(ctx, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, 3);
        }
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
    CHECK(strstr(moecl_last_error(), "CLBlastInsufficientMemory") != NULL,
          "message names CLBlast's code: %s", moecl_last_error());
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
    moecl_tuning bad = {.kernel = "NoSuchKernel", .count = 1, .names = {"MWG"}, .values = {64}};
    CHECK(moecl_tuning_apply(ctx, &bad) != MOECL_OK, "an unknown kernel is refused");
    CHECK(strstr(moecl_last_error(), "NoSuchKernel") != NULL, "%s", moecl_last_error());
}

int main(void)
{
    moecl_ctx *ctx = check_open_device(NULL);
    test_shapes(ctx);
    test_temp_buffer_reused(ctx);
    test_bad_arguments(ctx);
    test_tuned(ctx);
    moecl_ctx_destroy(ctx);
    return check_summary("test_gemm");
}
