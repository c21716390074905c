/* Device tensors: shapes, upload and download, fill, and refused misuse. */
#include "check.h"

int main(void)
{
    moecl_ctx *ctx = check_open_device(NULL);
    int shape[4] = {3, 5, 7, 9};
    moecl_tensor *t = NULL;
    CHECK(moecl_tensor_create(ctx, 4, shape, &t) == MOECL_OK, "%s", moecl_last_error());
    if (t) {
        CHECK(t->count == 945, "count %zu", t->count);
        char s[64];
        moecl_tensor_shape_string(t, s, sizeof s);
        CHECK(strcmp(s, "[3, 5, 7, 9]") == 0, "shape string %s", s);
        float *host = malloc(945 * sizeof *host), *back = malloc(945 * sizeof *back);
        for (int i = 0; i < 945; i++) host[i] = (float)i * 0.5f - 100.0f;
        CHECK(moecl_tensor_upload(t, host, 945) == MOECL_OK, "%s", moecl_last_error());
        CHECK(moecl_tensor_download(t, back, 945) == MOECL_OK, "%s", moecl_last_error());
        CHECK(memcmp(host, back, 945 * sizeof *host) == 0, "round trip is exact");
        CHECK(moecl_tensor_fill(t, -3.25f) == MOECL_OK, "%s", moecl_last_error());
        CHECK(moecl_tensor_download(t, back, 945) == MOECL_OK, "%s", moecl_last_error());
        int wrong = 0;
        for (int i = 0; i < 945; i++) wrong += back[i] != -3.25f;
        CHECK(wrong == 0, "%d elements not filled", wrong);
        CHECK(moecl_tensor_upload(t, host, 944) == MOECL_ERR_INVALID_ARG, "count mismatch refused");
        CHECK(strstr(moecl_last_error(), "[3, 5, 7, 9]") != NULL, "names the shape: %s",
              moecl_last_error());
        free(host);
        free(back);
    }
    moecl_tensor_destroy(t);

    moecl_tensor *bad = NULL;
    int zero[2] = {4, 0};
    CHECK(moecl_tensor_create(ctx, 2, zero, &bad) == MOECL_ERR_INVALID_ARG && !bad,
          "a zero dimension is refused");
    CHECK(moecl_tensor_create(ctx, 5, shape, &bad) == MOECL_ERR_INVALID_ARG, "5 dims refused");
    /* Larger than the device's largest allocation: a clear out-of-memory error. */
    int huge[4] = {1 << 15, 1 << 15, 1 << 10, 1};
    CHECK(moecl_tensor_create(ctx, 3, huge, &bad) == MOECL_ERR_OUT_OF_MEMORY,
          "an impossible allocation is refused: %s", moecl_last_error());
    CHECK(strstr(moecl_last_error(), moecl_ctx_device(ctx)->name) != NULL,
          "names the device: %s", moecl_last_error());
    CHECK(moecl_kernel(ctx, "no_such_kernel") == NULL, "unknown kernel name");
    moecl_ctx_destroy(ctx);
    return check_summary("test_tensor");
}
