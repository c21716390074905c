/* Device selection rules on a made-up list (no OpenCL needed), and the
 * symbolic names of OpenCL error codes. */
#include "check.h"

static moecl_device_info list[3];

static void setup(bool with_gpu)
{
    memset(list, 0, sizeof list);
    const char *names[] = {"basic-skylake CPU", "pthread-skylake CPU", "Radeon RX 7900"};
    for (int i = 0; i < 3; i++) {
        list[i].index = i;
        snprintf(list[i].name, sizeof list[i].name, "%s", names[i]);
    }
    list[2].is_gpu = with_gpu;
}

int main(void)
{
    int idx = -1;
    setup(true);
    CHECK(moecl_device_select(list, 3, NULL, &idx) == MOECL_OK && idx == 2, "default: first GPU");
    setup(false);
    CHECK(moecl_device_select(list, 3, "", &idx) == MOECL_OK && idx == 0, "no GPU: first device");
    CHECK(moecl_device_select(list, 3, "1", &idx) == MOECL_OK && idx == 1, "index 1");
    CHECK(moecl_device_select(list, 3, "PTHREAD", &idx) == MOECL_OK && idx == 1,
          "name substring, any case");
    CHECK(moecl_device_select(list, 3, "radeon", &idx) == MOECL_OK && idx == 2, "radeon");
    CHECK(moecl_device_select(list, 3, "9", &idx) == MOECL_ERR_NO_DEVICE, "9 does not exist");
    CHECK(strstr(moecl_last_error(), "0..2") != NULL, "says the range: %s", moecl_last_error());
    CHECK(moecl_device_select(list, 3, "-1", &idx) == MOECL_ERR_NO_DEVICE, "-1 does not exist");
    CHECK(moecl_device_select(list, 3, "geforce", &idx) == MOECL_ERR_NO_DEVICE, "no match");
    CHECK(strstr(moecl_last_error(), "geforce") != NULL, "names the query");
    CHECK(moecl_exit_code(MOECL_ERR_NO_DEVICE) == 2, "a bad device is a usage error");
    CHECK(moecl_exit_code(MOECL_ERR_OPENCL) == 1, "a runtime failure exits 1");
    CHECK(strcmp(moecl_cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES") == 0, "name");
    CHECK(strcmp(moecl_cl_error_name(-9999), "CL_UNKNOWN_ERROR") == 0, "unknown code");
    return check_summary("test_device_select");
}
