/* A kernel source with a deliberate error: the build fails with a message
 * that names the program, the device and the options and holds the log. */
#include "check.h"

static const char BROKEN[] =
    "__kernel void broken(__global float *x)\n"
    "{\n"
    "    x[get_global_id(0)] = undeclared_variable_here * 2.0f;\n"
    "}\n";

int main(void)
{
    char dir[] = "/tmp/moecl-build-error-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    moecl_ctx *ctx = check_open_device(dir);
    cl_program p = NULL;
    moecl_program_report r;
    moecl_status st = moecl_program_build(ctx, "broken_test_source", BROKEN, "-DMARKER=42", &p, &r);
    const char *msg = moecl_last_error();
    CHECK(st == MOECL_ERR_BUILD, "status %s", moecl_strerror(st));
    CHECK(p == NULL, "no program handed out");
    CHECK(strstr(msg, "broken_test_source") != NULL, "names the program: %s", msg);
    CHECK(strstr(msg, moecl_ctx_device(ctx)->name) != NULL, "names the device: %s", msg);
    CHECK(strstr(msg, "-DMARKER=42") != NULL, "shows the build options: %s", msg);
    CHECK(strstr(msg, "build log") != NULL, "has a build log section: %s", msg);
    CHECK(strstr(msg, "undeclared_variable_here") != NULL, "the log quotes the error: %s", msg);
    CHECK(strstr(msg, "CL_BUILD_PROGRAM_FAILURE") != NULL, "symbolic code: %s", msg);
    printf("--- the message a user sees ---\n%s\n---\n", msg);

    /* A failed build leaves nothing in the cache, and a good one still works. */
    const char *good = "__kernel void fine(__global float *x) { x[0] = 1.0f; }";
    CHECK(moecl_program_build(ctx, "fine", good, "", &p, &r) == MOECL_OK, "%s", moecl_last_error());
    if (p) clReleaseProgram(p);
    moecl_ctx_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return check_summary("test_build_error");
}
